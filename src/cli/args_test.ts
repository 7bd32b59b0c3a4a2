import assert from "node:assert/strict";
import { parseCommon, parseHostId, parseIntFlag } from "./args.ts";
import { UsageError } from "./errors.ts";

Deno.test("parseCommon gives tcpdump's defaults", () => {
  const { args } = parseCommon(["cap.pcapng"], {});
  assert.deepEqual(args, {
    write: null,
    format: "json",
    count: 0,
    snaplen: 0,
    data: false,
    verbose: false,
    help: false,
    positionals: ["cap.pcapng"],
  });
});

Deno.test("parseCommon takes short and long twins; -w means pcapng", () => {
  const { args } = parseCommon(
    ["-w", "out.pcapng", "--count", "5", "-s", "128", "-v", "x"],
    {},
  );
  assert.equal(args.write, "out.pcapng");
  assert.equal(args.format, "pcapng");
  assert.equal(args.count, 5);
  assert.equal(args.snaplen, 128);
  assert.equal(args.verbose, true);
  assert.equal(parseCommon(["-w", "-"], {}).args.write, "-");
  assert.equal(parseCommon(["-F", "text"], {}).args.format, "text");
  // -w writes the chosen format, pcapng unless told.
  assert.equal(parseCommon(["-F", "json", "-w", "o"], {}).args.format, "json");
});

Deno.test("parseCommon passes a subcommand's own flags through", () => {
  const { extra } = parseCommon(["-B", "8", "--no-netfilter"], {
    "buffer-size": { type: "string", short: "B" },
    "no-netfilter": { type: "boolean" },
  });
  assert.equal(extra["buffer-size"], "8");
  assert.equal(extra["no-netfilter"], true);
});

Deno.test("parseCommon reports a negative number as out of range", () => {
  for (const argv of [["-c", "-5"], ["--count", "-5"], ["--count=-5"]]) {
    assert.throws(() => parseCommon(argv, {}), {
      name: "UsageError",
      message:
        "invalid count '-5': must be an integer from 1 to 9007199254740991",
    });
  }
  // After "--" a dash is a positional, not a value.
  assert.deepEqual(parseCommon(["--", "-5"], {}).args.positionals, ["-5"]);
});

Deno.test("parseCommon rejects bad flags and values with one sentence", () => {
  const cases: [string[], string][] = [
    [["--bogus"], "unknown option '--bogus'"],
    [["-c"], "option '-c, --count' needs a value"],
    [["--data=1"], "option '--data' does not take an argument"],
    [["-F", "xml"], "invalid format 'xml': must be json, text or pcapng"],
    [["-w", ""], "invalid file name '' for -w: use '-' for stdout"],
    [
      ["-s", "65537"],
      "invalid snaplen '65537': must be an integer from 0 to 65536",
    ],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parseCommon(argv, {}), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.message, message, argv.join(" "));
      return true;
    });
  }
});

Deno.test("parseIntFlag accepts only plain decimal integers in range", () => {
  assert.equal(parseIntFlag("n", "0", 0, 10), 0);
  assert.equal(parseIntFlag("n", "10", 0, 10), 10);
  for (const s of ["", "1.5", "1e3", " 1", "0x10", "11", "-1"]) {
    assert.throws(() => parseIntFlag("n", s, 0, 10), UsageError, s);
  }
});

Deno.test("parseHostId takes the original's GUID forms, else text", () => {
  const g = parseHostId("{6BA7B810-9DAD-11D1-80B4-00C04FD430C8}");
  assert.equal(g.kind, "guid");
  assert.deepEqual(
    g.value,
    new Uint8Array([
      0x6b,
      0xa7,
      0xb8,
      0x10,
      0x9d,
      0xad,
      0x11,
      0xd1,
      0x80,
      0xb4,
      0x00,
      0xc0,
      0x4f,
      0xd4,
      0x30,
      0xc8,
    ]),
  );
  assert.deepEqual(parseHostId("6ba7b8109dad11d180b400c04fd430c8"), g);
  // A hyphen first, or 31 digits: text, as given.
  assert.deepEqual(parseHostId("-6ba7b8109dad11d180b400c04fd430c8"), {
    kind: "string",
    value: "-6ba7b8109dad11d180b400c04fd430c8",
  });
  assert.equal(parseHostId("web-1.example").kind, "string");
  assert.throws(() => parseHostId(""), UsageError);
  assert.throws(() => parseHostId("x".repeat(256)), UsageError);
});
