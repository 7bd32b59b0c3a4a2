// The real CLI, spawned: flags, exit codes, output files, malformed input.
import assert from "node:assert/strict";
import type { PacketEvent } from "../src/events/mod.ts";
import { PcapngWriter } from "../src/writers/pcapng/pcapng_writer.ts";
import { sampleEvents } from "./testdata/sample_events.ts";
import { udp4 } from "./testdata/spec_builder.ts";
import { hone, jsonLines, run } from "./_helpers.ts";

const sample = new PcapngWriter().encode(sampleEvents()).slice();

async function sampleFile(bytes = sample): Promise<string> {
  const f = await Deno.makeTempFile({ suffix: ".pcapng" });
  await Deno.writeFile(f, bytes);
  return f;
}

function oneLine(stderr: string): string {
  const lines = stderr.split("\n").filter((l) =>
    l && !l.startsWith("Running as user")
  );
  assert.equal(lines.length, 1, `expected one stderr line, got:\n${stderr}`);
  return lines[0]!;
}

Deno.test("hone --help and --version print to stdout and exit 0", async () => {
  const h = await hone(["--help"]);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /Usage:/);
  assert.match(h.stdout, /hone read/);
  const v = await hone(["--version"]);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^hone \d+\.\d+\.\d+/);
  const rh = await hone(["read", "--help"]);
  assert.equal(rh.code, 0);
  assert.match(rh.stdout, /--format/);
});

/**
 * Every usage error and every file error, with its exit code and its one
 * line on stderr, in the README's format: `hone: <subject>: <what failed>`.
 * `@FILE` stands for a valid capture, `@DIR` for a directory.
 */
const ERRORS: [string[], number, string][] = [
  [
    ["--bogus"],
    2,
    "hone: unknown option '--bogus': a command (record or read) comes first (see 'hone --help')",
  ],
  [
    ["-v"],
    2,
    "hone: unknown option '-v': a command (record or read) comes first (see 'hone --help')",
  ],
  [["frobnicate"], 2, "hone: unknown command 'frobnicate' (see 'hone --help')"],
  [
    ["--version", "extra"],
    2,
    "hone: unexpected argument 'extra' after --version (see 'hone --help')",
  ],
  [
    ["--help", "extra"],
    2,
    "hone: unexpected argument 'extra' after --help (see 'hone --help')",
  ],
  [
    ["read"],
    2,
    "hone: read: missing FILE: use '-' for stdin (see 'hone read --help')",
  ],
  [
    ["read", "a", "b"],
    2,
    "hone: read: can't parse filter expression: syntax error (see 'hone read --help')",
  ],
  [
    ["read", "--bogus", "x"],
    2,
    "hone: read: unknown option '--bogus' (see 'hone read --help')",
  ],
  [
    ["read", "-c"],
    2,
    "hone: read: option '-c, --count' needs a value (see 'hone read --help')",
  ],
  [
    ["read", "--data=1", "x"],
    2,
    "hone: read: option '--data' does not take an argument (see 'hone read --help')",
  ],
  [
    ["read", "-c", "0", "x"],
    2,
    "hone: read: invalid count '0': must be an integer from 1 to 9007199254740991 (see 'hone read --help')",
  ],
  [
    ["read", "-c", "-5", "x"],
    2,
    "hone: read: invalid count '-5': must be an integer from 1 to 9007199254740991 (see 'hone read --help')",
  ],
  [
    ["read", "-c", "abc", "x"],
    2,
    "hone: read: invalid count 'abc': must be an integer from 1 to 9007199254740991 (see 'hone read --help')",
  ],
  [
    ["read", "-s", "-5", "x"],
    2,
    "hone: read: invalid snaplen '-5': must be an integer from 0 to 65536 (see 'hone read --help')",
  ],
  [
    ["read", "--format", "xml", "x"],
    2,
    "hone: read: invalid format 'xml': must be json, text or pcapng (see 'hone read --help')",
  ],
  [
    ["read", "-w", "", "x"],
    2,
    "hone: read: invalid file name '' for -w: use '-' for stdout (see 'hone read --help')",
  ],
  [
    ["record", "foo"],
    2,
    "hone: record: can't parse filter expression: syntax error (see 'hone record --help')",
  ],
  [
    ["record", "-B", "3"],
    2,
    "hone: record: invalid buffer-size '3': must be a power of two (see 'hone record --help')",
  ],
  [
    ["record", "-B", "-1"],
    2,
    "hone: record: invalid buffer-size '-1': must be an integer from 1 to 4096 (see 'hone record --help')",
  ],
  [
    ["record", "--sensor", "bpf"],
    2,
    "hone: record: invalid sensor 'bpf': must be auto, ebpf or kmod (see 'hone record --help')",
  ],
  [
    ["record", "--sensor", "kmod", "-B", "4"],
    2,
    "hone: record: --buffer-size is an option of the eBPF sensor, not of --sensor kmod (see 'hone record --help')",
  ],
  [
    ["record", "--sensor", "kmod", "-w", "@DIR/k.pcapng"],
    1,
    "hone: record: cannot open /dev/hone: No such file or directory (the honeevent module is not loaded: insmod dist/kmod/@KREL/honeevent.ko, or DKMS: see kmod/README.md)",
  ],
  [
    ["record", "-C", "1"],
    2,
    "hone: record: -C needs -w FILE (a file, not stdout) (see 'hone record --help')",
  ],
  [
    ["record", "-W", "3", "-w", "x.pcapng"],
    2,
    "hone: record: -W needs -C or -G (see 'hone record --help')",
  ],
  [
    ["record", "-G", "0", "-w", "x.pcapng"],
    2,
    "hone: record: invalid rotate-seconds '0': must be an integer from 1 to 2147483647 (see 'hone record --help')",
  ],
  [
    ["record", "--hostid", ""],
    2,
    "hone: record: invalid hostid '': must be a GUID or 1 to 255 bytes of text (see 'hone record --help')",
  ],
  [
    ["record", "udp", "prt", "53"],
    2,
    "hone: record: can't parse filter expression: syntax error (see 'hone record --help')",
  ],
  [
    ["read", "@FILE", "tcp", "and"],
    2,
    "hone: read: can't parse filter expression: syntax error (see 'hone read --help')",
  ],
  [
    ["read", "/nonexistent/x.pcapng"],
    1,
    "hone: read /nonexistent/x.pcapng: No such file or directory",
  ],
  [["read", "@DIR"], 1, "hone: read @DIR: Is a directory"],
  [["read", "@FILE", "-w", "@DIR"], 1, "hone: write @DIR: Is a directory"],
  [
    ["read", "@FILE", "-w", "@FILE"],
    1,
    "hone: write @FILE: refusing to overwrite the input file",
  ],
  [
    ["read", "@FILE", "-w", "/nonexistent/o.pcapng"],
    1,
    "hone: write /nonexistent/o.pcapng: No such file or directory",
  ],
];

Deno.test("hone errors: one line each, in one format, with the documented exit code", async () => {
  const dir = await Deno.makeTempDir();
  const file = await sampleFile();
  try {
    for (const [template, code, line] of ERRORS) {
      const fill = (a: string) =>
        a.replace("@DIR", dir).replace("@FILE", file).replace(
          "@KREL",
          Deno.osRelease(),
        );
      const args = template.map(fill);
      const r = await hone(args);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(oneLine(r.stderr), fill(line), args.join(" "));
      assert.equal(r.stdout, "", args.join(" "));
    }
    assert.equal((await hone([])).code, 2);
    // The input survived the refusal.
    assert.deepEqual(await Deno.readFile(file), sample);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(file);
  }
});

Deno.test("hone read prints one JSON object per event, in the documented schema", async () => {
  const f = await sampleFile();
  const r = await hone(["read", f]);
  assert.equal(r.code, 0, r.stderr);
  const ev = jsonLines(r.stdout);
  const keys = (t: string) =>
    ev.filter((e) => e.type === t).map((e) => Object.keys(e).sort().join(","));
  assert.deepEqual(
    new Set(keys("packet")),
    new Set([
      "caplen,comm,conn,dir,dport,dst,how,ipv,len,pid,proto,sport,src,tid,ts,type",
    ]),
  );
  assert.deepEqual(
    new Set(keys("process")),
    new Set([
      "argv,cgroup,comm,event,exe,exit_code,gid,group,netns,pid,ppid,tid,ts,type,uid,user",
    ]),
  );
  assert.deepEqual(
    new Set(keys("connection")),
    new Set(["conn,event,local,pid,proto,remote,ts,type"]),
  );
  assert.deepEqual(
    new Set(keys("stats")),
    new Set(["delivered,dropped,received,ts,type"]),
  );
  const p = ev.find((e) => e.type === "packet")!;
  assert.deepEqual(
    [
      p.dir,
      p.pid,
      p.tid,
      p.conn,
      p.len,
      p.caplen,
      p.proto,
      p.src,
      p.dst,
      p.sport,
      p.dport,
      p.comm,
    ],
    [
      "out",
      4242,
      4244,
      77,
      32,
      32,
      "udp",
      "127.0.0.1",
      "127.0.0.1",
      5000,
      53,
      "curl",
    ],
  );
  assert.match(r.stdout, /"ts":1764134800\.000000006,/);
  const exec = ev.find((e) => e.event === "exec")!;
  assert.deepEqual(exec.argv, ["curl", "-s", "http://127.0.0.1/"]);
  // Packet bytes only on request.
  assert.equal(p.data, undefined);
  const d = jsonLines((await hone(["read", "--data", f])).stdout).find((e) =>
    e.type === "packet"
  )!;
  assert.match(d.data as string, /^4500/);
  await Deno.remove(f);
});

Deno.test("hone read -c stops after N packets, and reads stdin", async () => {
  const r = await hone(["read", "-c", "2", "-"], sample);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    jsonLines(r.stdout).filter((e) => e.type === "packet").length,
    2,
  );
});

Deno.test("hone read --format text prints the original's /dev/honet lines", async () => {
  const f = await sampleFile();
  const r = await hone(["read", "-F", "text", f]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.match(
    lines[0]!,
    /^1764134800\.000000001 HEAD 0\.000000000 \{6b29fc40-ca47-1067-b31d-00dd010662da\}$/,
  );
  assert.ok(lines.includes("1764134800.000000001 KTHD 2 0 0 0 [kthreadd]"));
  assert.ok(
    lines.includes(
      '1764134800.000000002 EXEC 4242 1 1000 100 "/usr/bin/curl" curl -s http://127.0.0.1/ ',
    ),
  );
  assert.ok(
    lines.includes("1764134800.000000004 SOCK O 4242 1 1000 100 0000004d"),
  );
  assert.ok(
    lines.includes(
      "1764134800.000000006 PAKT O 0000004d 4242 UDPv4 127.0.0.1:5000 -> 127.0.0.1:53 32",
    ),
  );
  assert.equal(lines.at(-1), "1764134800.000000001 TAIL");
  await Deno.remove(f);
});

Deno.test("hone read -w creates a 0600 pcapng that reads back the same", async () => {
  const dir = await Deno.makeTempDir();
  const f = await sampleFile();
  // Even an existing world-readable file ends up 0600.
  await Deno.writeTextFile(`${dir}/out.pcapng`, "old", { mode: 0o644 });
  const w = await hone(["read", f, "-w", `${dir}/out.pcapng`]);
  assert.equal(w.code, 0, w.stderr);
  assert.equal((await Deno.stat(`${dir}/out.pcapng`)).mode! & 0o777, 0o600);
  const a = await hone(["read", f]);
  const b = await hone(["read", `${dir}/out.pcapng`]);
  assert.equal(b.stdout, a.stdout);
  // -w - writes pcapng to stdout.
  const s = await hone(["read", f, "-w", "-"]);
  assert.deepEqual(
    s.out.subarray(0, 4),
    new Uint8Array([0x0a, 0x0d, 0x0d, 0x0a]),
  );
  await Deno.remove(dir, { recursive: true });
  await Deno.remove(f);
});

Deno.test("hone read of malformed input: one line with the offset, exit 1, records before kept", async () => {
  // Cut the sample inside its last block (the ISB).
  const cut = await sampleFile(sample.subarray(0, sample.length - 10));
  const r = await hone(["read", cut]);
  assert.equal(r.code, 1);
  assert.match(
    oneLine(r.stderr),
    /^hone: read .*: Cannot read block: .* at byte \d+$/,
  );
  assert.equal(
    jsonLines(r.stdout).filter((e) => e.type === "packet").length,
    3,
  );
  // The same cut, rewritten: the output is still a valid capture.
  const out = await Deno.makeTempFile();
  const w = await hone(["read", cut, "-w", out]);
  assert.equal(w.code, 1);
  const t = await run("tshark", ["-r", out]);
  assert.equal(t.code, 0, t.stderr);
  assert.equal(t.stdout.trim().split("\n").length, 3);
  // Not a capture at all; a missing file.
  const junk = await sampleFile(
    new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"),
  );
  const j = await hone(["read", junk]);
  assert.equal(j.code, 1);
  assert.match(oneLine(j.stderr), /not a pcapng or pcap file.* at byte 0$/);
  const m = await hone(["read", "/nonexistent/x.pcapng"]);
  assert.equal(m.code, 1);
  assert.match(oneLine(m.stderr), /No such file or directory/);
  for (const f of [cut, out, junk]) await Deno.remove(f);
});

Deno.test("hone read on a full disk: one line, exit 1, the file so far stays valid", async () => {
  const d = await hone(["read", "-", "-w", "/dev/full"], sample);
  assert.equal(d.code, 1);
  assert.match(oneLine(d.stderr), /No space left on device/);
  // A small tmpfs fills up in the middle of a larger capture.
  const dir = await Deno.makeTempDir();
  const mnt = await run("mount", [
    "-t",
    "tmpfs",
    "-o",
    "size=256k",
    "tmpfs",
    dir,
  ]);
  assert.equal(mnt.code, 0, `mount tmpfs: ${mnt.stderr}`);
  try {
    const many = new PcapngWriter();
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 400; i++) {
      parts.push(many.encode(sampleEvents().slice(1)).slice());
    }
    const big = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) big.set(p, at), at += p.length;
    const r = await hone(["read", "-", "-w", `${dir}/cap.pcapng`], big);
    assert.equal(r.code, 1);
    assert.match(oneLine(r.stderr), /No space left on device/);
    const t = await run("tshark", ["-r", `${dir}/cap.pcapng`]);
    assert.equal(t.code, 0, t.stderr);
  } finally {
    await run("umount", [dir]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hone read -w of a file many times its read buffers gives every packet's bytes, copy blocks too", async () => {
  // 40 000 loopback pairs (sent, then received: the same bytes) of ~230
  // bytes of pcapng each: about 40 of the 256 KiB chunks hone read reads
  // into its 16 buffers again and again; each payload is its own.
  const w = new PcapngWriter();
  const parts = [w.encode(sampleEvents()).slice()];
  for (let i = 0; i < 40000; i += 1000) {
    const batch: PacketEvent[] = [];
    for (let j = i; j < i + 1000; j++) {
      const data = udp4(1024 + j % 50000, 53, 32 + j % 61);
      new DataView(data.buffer).setUint32(28, j);
      const p = {
        type: "packet" as const,
        sec: 1_700_000_000 + Math.floor(j / 1000),
        nsec: j % 1000 * 1000,
        pid: 100 + j % 7,
        tid: 100 + j % 7,
        conn: 1 + j % 13,
        len: data.length,
      };
      batch.push({ ...p, dir: "out", data });
      batch.push({ ...p, dir: "in", pid: 200, tid: 201, data: data.slice() });
    }
    parts.push(w.encode(batch).slice());
  }
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/big.pcapng`, concatBytes(parts));
    // The received copies as copy blocks (the writer keeps each sent one),
    // then read back into packets (the decoder keeps their referents).
    const lo = await hone([
      "read",
      "--loopback-once",
      `${dir}/big.pcapng`,
      "-w",
      `${dir}/lo.pcapng`,
    ]);
    assert.equal(lo.code, 0, lo.stderr);
    const back = await hone([
      "read",
      `${dir}/lo.pcapng`,
      "-w",
      `${dir}/back.pcapng`,
    ]);
    assert.equal(back.code, 0, back.stderr);
    const size = async (f: string) => (await Deno.stat(`${dir}/${f}`)).size;
    assert.ok(await size("lo.pcapng") < await size("big.pcapng") * 0.7);
    // JSON lines read through views, with each packet's bytes.
    const want = await hone(["read", "--data", `${dir}/big.pcapng`]);
    const got = await hone(["read", "--data", `${dir}/back.pcapng`]);
    assert.equal(want.code, 0, want.stderr);
    const packets = (out: string) =>
      jsonLines(out).filter((l) => l.type === "packet").length;
    assert.equal(
      packets(want.stdout),
      80000 + sampleEvents().filter((e) => e.type === "packet").length,
    );
    assert.ok(got.stdout === want.stdout, "the packets read back differ");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.length;
  return out;
}

Deno.test("hone read -v adds the stack trace after the error line", async () => {
  const f = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(f, "garbage, not a capture");
    const quiet = await hone(["read", f]);
    assert.equal(quiet.code, 1);
    const line = oneLine(quiet.stderr);
    assert.match(line, /^hone: read .*: .* at byte 0$/);
    const loud = await hone(["read", "-v", f]);
    assert.equal(loud.code, 1);
    const lines = loud.stderr.trimEnd().split("\n");
    assert.equal(lines[0], line);
    assert.match(lines[1]!, /^HoneFormatError: /);
    assert.ok(lines.slice(2).every((l) => /^\s+at /.test(l)), loud.stderr);
  } finally {
    await Deno.remove(f);
  }
});

Deno.test("hone read --pid/--children/--comm/--uid keeps the events of those processes", async () => {
  const f = await sampleFile();
  try {
    const kept = async (...args: string[]) => {
      const r = await hone(["read", f, ...args]);
      assert.equal(r.code, 0, r.stderr);
      return jsonLines(r.stdout).filter((e) => e.type !== "stats").map((e) =>
        `${e.type}:${e.pid}`
      );
    };
    assert.deepEqual(await kept("--pid", "4242"), [
      "process:4242",
      "connection:4242",
      "packet:4242",
      "connection:4242",
    ]);
    // The fork in the file makes 4243 a child of 4242.
    const family = await kept("--pid", "4242", "--children");
    assert.ok(family.includes("packet:4243") && family.includes("packet:4242"));
    assert.deepEqual(await kept("--comm", "kthreadd"), ["process:2"]);
    assert.deepEqual(await kept("--uid", "1000"), family);
    // With an expression: both must hold.
    assert.deepEqual(
      (await kept("--pid", "4243", "udp")).filter((e) =>
        e.startsWith("packet")
      ),
      ["packet:4243"],
    );
  } finally {
    await Deno.remove(f);
  }
});
