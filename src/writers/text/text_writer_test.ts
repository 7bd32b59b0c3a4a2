import assert from "node:assert/strict";
import { processEvent } from "../../events/types.ts";
import { sampleEvents } from "../../../tests/testdata/sample_events.ts";
import { protoPart, TextWriter } from "./text_writer.ts";

/** `hone read -F text` of tests/testdata/sample.pcapng (sampleEvents()). */
const GOLDEN = [
  "1764134800.000000001 HEAD 0.000000000 {6b29fc40-ca47-1067-b31d-00dd010662da}",
  "1764134800.000000001 KTHD 2 0 0 0 [kthreadd]",
  '1764134800.000000002 EXEC 4242 1 1000 100 "/usr/bin/curl" curl -s http://127.0.0.1/ ',
  "1764134800.000000003 FORK 4243 4242 1000 100",
  "1764134800.000000004 SOCK O 4242 1 1000 100 0000004d",
  "1764134800.000000005 SOCK O 4243 4242 1000 100 56789abc",
  "1764134800.000000006 PAKT O 0000004d 4242 UDPv4 127.0.0.1:5000 -> 127.0.0.1:53 32",
  "1764134800.000000007 PAKT I 56789abc 4243 UDPv4 127.0.0.1:53 -> 127.0.0.1:5000 32",
  "1764134800.000000008 PAKT ? 00000000 0 UDPv4 127.0.0.1:1 -> 127.0.0.1:2 1500",
  "1764134800.000000009 SOCK C 4242 1 1000 100 0000004d",
  "1764134800.000000010 SOCK C 4243 4242 1000 100 56789abc",
  "1764134800.000000011 EXIT 4243 4242 0 0",
  "1764134800.000000001 TAIL",
];

Deno.test("TextWriter writes the original's /dev/honet lines", () => {
  const w = new TextWriter();
  const out = w.encode(sampleEvents()) + w.finish();
  assert.deepEqual(out.split("\n").slice(0, -1), GOLDEN);
});

Deno.test("TextWriter keeps a forged line inside its EXEC line", () => {
  const w = new TextWriter();
  const out = w.encode([processEvent({
    sec: 1,
    nsec: 0,
    event: "exec",
    pid: 7,
    ppid: 1,
    argv: ["echo", "x\n1.000000000 PAKT I 00000000 1 TCPv4 6.6.6.6:1"],
    exe: '/tmp/a "b"',
  })]) + w.finish();
  const lines = out.split("\n").slice(0, -1);
  assert.equal(lines.length, 3);
  assert.equal(
    lines[1],
    '1.000000000 EXEC 7 1 0 0 "/tmp/a\\x20\\x22b\\x22" echo ' +
      "x\\x0a1.000000000\\x20PAKT\\x20I\\x2000000000\\x201\\x20TCPv4\\x206.6.6.6:1 ",
  );
});

Deno.test("TextWriter escapes a kernel thread's comm", () => {
  const out = new TextWriter().encode([processEvent({
    sec: 1,
    nsec: 0,
    event: "kthread",
    pid: 9,
    comm: "k\x1b[2J",
  })]);
  assert.match(out, / \[k\\x1b\[2J\]\n$/);
});

Deno.test("protoPart reads ports right after the fixed header, as the original did", () => {
  const v4 = new Uint8Array(28);
  v4.set([0x45, 0, 0, 28, 0, 0, 0, 0x10, 64, 17], 0); // a later fragment
  v4.set([127, 0, 0, 1, 127, 0, 0, 2, 0, 7, 0, 9], 12);
  assert.equal(protoPart(v4), "UDPv4 127.0.0.1:7 -> 127.0.0.2:9");
  assert.equal(protoPart(v4.subarray(0, 23)), "UDPv4 ? -> ?");
  assert.equal(protoPart(v4.subarray(0, 19)), "? ? -> ?");
  const v6 = new Uint8Array(48 + 4);
  v6[0] = 0x60;
  v6[6] = 0; // hop-by-hop, then UDP: the original printed the header number
  v6[40] = 17;
  assert.equal(
    protoPart(v6),
    "0 0000:0000:0000:0000:0000:0000:0000:0000 -> 0000:0000:0000:0000:0000:0000:0000:0000",
  );
  assert.equal(protoPart(new Uint8Array([0x52])), "?.5 ? -> ?");
});
