import assert from "node:assert/strict";
import type { HoneEvent, PacketEvent } from "../../events/types.ts";
import { processEvent } from "../../events/types.ts";
import { BatchedPacket } from "../../events/batched_packet.ts";
import {
  expandRuns,
  HOW_FLAGS,
  PacketRun,
  RUN_IN,
  RUN_NONE,
  RUN_OUT,
} from "../../events/packet_run.ts";
import { sampleEvents } from "../../../tests/testdata/sample_events.ts";
import { CaptureDecoder } from "../../readers/capture_decoder.ts";
import { PcapngWriter } from "./pcapng_writer.ts";

function roundTrip(events: HoneEvent[], w = new PcapngWriter()): HoneEvent[] {
  const bytes = w.encode(events).slice();
  const d = new CaptureDecoder();
  const out: HoneEvent[] = [];
  d.push(bytes, out);
  d.finish(out);
  return out;
}

const plain = (e: HoneEvent[]) =>
  JSON.parse(
    JSON.stringify(e, (_k, v) => v instanceof Uint8Array ? [...v] : v),
  );

Deno.test("PcapngWriter round-trips every block and option through the reader", () => {
  const events = sampleEvents();
  const back = roundTrip(events);
  const want = plain(events);
  // The reader reports what the file says: hone as the writing application,
  // the first interface's snaplen.
  want[0].userAppl = "hone 0.1.0";
  // Kernel threads carry their name as the path "[comm]", and the comm option.
  assert.deepEqual(plain(back), want);
});

Deno.test("PcapngWriter applies the snaplen and keeps the original length", () => {
  const back = roundTrip(
    sampleEvents(),
    new PcapngWriter({ snaplen: 30, followSections: false }),
  );
  const pkts = back.filter((e): e is PacketEvent => e.type === "packet");
  assert.deepEqual(pkts.map((p) => [p.data.length, p.len]), [
    [30, 32],
    [30, 32],
    [30, 1500],
  ]);
  const sec = back[0] as Extract<HoneEvent, { type: "section" }>;
  assert.equal(sec.snaplen, 30);
});

Deno.test("PcapngWriter writes a short process comment on each packet", () => {
  const bytes = new PcapngWriter().encode(sampleEvents());
  const text = new TextDecoder().decode(bytes);
  assert.ok(text.includes("pid=4242 comm=curl exe=/usr/bin/curl"));
  // The forked child inherits its parent's image for the comment.
  assert.ok(text.includes("pid=4243 comm=curl exe=/usr/bin/curl"));
});

Deno.test("PcapngWriter writes a valid empty capture", () => {
  const back = roundTrip([]);
  assert.deepEqual(back.map((e) => e.type), ["section"]);
});

Deno.test("PcapngWriter starts a new section for each section in the input", () => {
  const ev = sampleEvents();
  const back = roundTrip([...ev, ...ev]);
  assert.equal(back.filter((e) => e.type === "section").length, 2);
});

Deno.test("PcapngWriter cuts an argv longer than an option can hold", () => {
  const long = "x".repeat(70000);
  const back = roundTrip([
    processEvent({ sec: 1, nsec: 0, event: "exec", pid: 1, argv: [long, "y"] }),
  ]);
  const p = back[1] as Extract<HoneEvent, { type: "process" }>;
  assert.equal(p.argv![0]!.length, 65532);
});

/** Where `needle` starts in `hay`, or -1. */
function indexOfBytes(hay: Uint8Array, needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (hay[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

Deno.test("PcapngWriter writes Apple's process block and EPB indexes as published", () => {
  const w = new PcapngWriter();
  const packet: PacketEvent = {
    type: "packet",
    sec: 1,
    nsec: 0,
    dir: "out",
    pid: 4242,
    tid: 4242,
    conn: null,
    len: 4,
    data: new Uint8Array([0x45, 0, 0, 4]),
    how: null,
  };
  const bytes = w.encode([
    processEvent({ sec: 1, nsec: 0, event: "exec", pid: 4242, comm: "curl" }),
    packet,
    { ...packet, sec: 2 },
  ]).slice();
  // The byte example of ../shared/reference/anchors.md §3.2 (from Apple's
  // libpcap pcap-ng.h and Wireshark's file-pcapng-darwin.c).
  const pib = [
    0x01,
    0x00,
    0x00,
    0x80,
    0x1c,
    0x00,
    0x00,
    0x00,
    0x92,
    0x10,
    0x00,
    0x00,
    0x02,
    0x00,
    0x04,
    0x00,
    0x63,
    0x75,
    0x72,
    0x6c,
    0x00,
    0x00,
    0x00,
    0x00,
    0x1c,
    0x00,
    0x00,
    0x00,
  ];
  const at = indexOfBytes(bytes, pib);
  assert.ok(at > 0, "the process block");
  assert.equal(indexOfBytes(bytes.subarray(at + 1), pib), -1, "once");
  const opts = [
    0x01,
    0x80,
    0x04,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x03,
    0x80,
    0x04,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
  ];
  const first = indexOfBytes(bytes, opts);
  assert.ok(first > at, "each packet points at block 0, after it");
  assert.ok(indexOfBytes(bytes.subarray(first + 1), opts) > 0, "both packets");
  // hone's own "how" no longer uses Apple's code.
  assert.equal(indexOfBytes(bytes, [0x01, 0x80, 0x06, 0x00]), -1);
});

Deno.test("PcapngWriter writes Wireshark 4.7's process block only when asked, as published", () => {
  const events: HoneEvent[] = [
    processEvent({
      sec: 1,
      nsec: 5,
      event: "exec",
      pid: 4242,
      ppid: 1,
      uid: 1000,
      user: "alice",
      comm: "curl",
      exe: "/usr/bin/curl",
      argv: ["curl", "-s"],
    }),
    {
      type: "packet",
      sec: 2,
      nsec: 0,
      dir: "out",
      pid: 4242,
      tid: 4242,
      conn: null,
      len: 4,
      data: new Uint8Array([0x45, 0, 0, 4]),
      how: null,
    },
  ];
  const plainBytes = new PcapngWriter().encode(events).slice();
  assert.equal(
    indexOfBytes(plainBytes, [0xad, 0x0b, 0, 0]),
    -1,
    "not by default",
  );
  const bytes = new PcapngWriter({ wiresharkProcessBlocks: true })
    .encode(events).slice();
  // The body, built from the definition (little-endian, options padded to 4).
  const le32 = (
    x: number,
  ) => [x & 255, (x >> 8) & 255, (x >> 16) & 255, x >>> 24];
  const opt = (code: number, v: number[]) => [
    code & 255,
    code >> 8,
    v.length & 255,
    v.length >> 8,
    ...v,
    ...new Array((4 - (v.length % 4)) % 4).fill(0),
  ];
  const str = (s: string) => [...new TextEncoder().encode(s)];
  const ns = 1_000_000_005n;
  const u64 = [...new Uint8Array(new BigUint64Array([ns]).buffer)];
  const body = [
    ...le32(4242),
    ...opt(2, str("curl")),
    ...opt(3, str("/usr/bin/curl")),
    ...opt(4, str("curl\0-s")),
    ...opt(5, le32(1)),
    ...opt(6, le32(1000)),
    ...opt(7, str("alice")),
    ...opt(9, u64),
    0,
    0,
    0,
    0,
  ];
  const total = 8 + 4 + 8 + body.length + 4;
  const block = [
    ...le32(0xbad),
    ...le32(total),
    ...le32(32622),
    ...le32(3),
    ...le32(body.length),
    ...body,
    ...le32(total),
  ];
  const at = indexOfBytes(bytes, block);
  assert.ok(at > 0, "the custom block, whole");
  // Before the packet that needs it, after the section header.
  assert.ok(at < indexOfBytes(bytes, [0x06, 0, 0, 0]), "before the EPB");
});

/** A 40-byte loopback packet sent by pid 7, its bytes all 0x45. */
const LOOP_SENT: PacketEvent = {
  type: "packet",
  sec: 5,
  nsec: 1,
  dir: "out",
  pid: 7,
  tid: 8,
  conn: 9,
  len: 40,
  data: new Uint8Array(40).fill(0x45),
};

Deno.test("PcapngWriter loopbackOnce: a received copy becomes a copy block, read back as the same packet", () => {
  const base: PacketEvent = { ...LOOP_SENT, how: "sender" };
  const events: HoneEvent[] = [
    base,
    { ...base, nsec: 2, dir: "in", pid: 10, tid: null, how: "reader" },
    { ...base, nsec: 3, data: new Uint8Array(40).fill(0x46) },
  ];
  const w = new PcapngWriter({ loopbackOnce: true, followSections: false });
  const bytes = w.encode(events).slice();
  // Two EPBs, one copy block.
  assert.equal(indexOfBytes(bytes, [0x01, 0x0f, 0x00, 0x80]) > 0, true);
  const back = roundTrip(events, new PcapngWriter({ loopbackOnce: true }))
    .filter((e) => e.type === "packet");
  assert.deepEqual(plain(back), plain(events));
});

Deno.test("PcapngWriter loopbackOnce: the section says it has copy blocks; without that a reader keeps packets only after the first", () => {
  const base = LOOP_SENT;
  const events: HoneEvent[] = [
    base,
    { ...base, nsec: 2, dir: "in", pid: 10 },
    { ...base, nsec: 3, data: new Uint8Array(40).fill(0x46) },
    {
      ...base,
      nsec: 4,
      dir: "in",
      pid: 11,
      data: new Uint8Array(40).fill(0x46),
    },
  ];
  const bytes = new PcapngWriter({ loopbackOnce: true, followSections: false })
    .encode(events).slice();
  // The SHB's option 0xF0E2, empty; a copy-less writer has none.
  const flag = [0xe2, 0xf0, 0, 0];
  const at = indexOfBytes(bytes, flag);
  assert.ok(at > 0 && at < bytes.length / 4, "SHB_HONE_COPIES");
  assert.equal(indexOfBytes(new PcapngWriter().encode(events), flag), -1);
  // Renamed to another local code: the reader cannot know the first copy
  // block's packet, but keeps packets from then on.
  bytes[at] = 0xe3;
  const d = new CaptureDecoder();
  const out: HoneEvent[] = [];
  d.push(bytes, out);
  d.finish(out);
  const pkts = out.filter((e): e is PacketEvent => e.type === "packet");
  assert.deepEqual(pkts.map((p) => [p.nsec, p.pid, p.data[0]]), [
    [1, 7, 0x45],
    [3, 7, 0x46],
    [4, 11, 0x46],
  ]);
});

Deno.test("PcapngWriter writes a packet still in its sensor batch as the same packet given as bytes", () => {
  // Packets of 1 to 9 bytes at 8-aligned offsets of a batch whose other
  // bytes are 0xee, so that a byte copied past the packet would show.
  const batch = new Uint8Array(256).fill(0xee);
  const words = new Uint32Array(batch.buffer);
  const pairs: [BatchedPacket, PacketEvent][] = [];
  for (let n = 1; n <= 9; n++) {
    const at = n * 24;
    for (let i = 0; i < n; i++) batch[at + i] = 0x40 + i;
    const b = new BatchedPacket(1, 2, "in", 3, 100, words, at, n, false);
    b.pid = 4;
    b.how = "reader";
    pairs.push([b, { ...b, data: batch.slice(at, at + n) }]);
  }
  for (const snaplen of [0, 5]) {
    const bytes = (events: PacketEvent[]) =>
      new PcapngWriter({ snaplen }).encode(events).slice();
    assert.deepEqual(
      bytes(pairs.map(([b]) => b)),
      bytes(pairs.map(([, p]) => p)),
    );
  }
  // Bytes given to it later (a copy) are what it writes from then on.
  const [b] = pairs[8]!;
  b.data = new Uint8Array([0x45, 7, 7, 7, 7, 7, 7, 7, 7]);
  assert.equal(b.batchWords, null);
  const back = roundTrip([b]).filter((e) => e.type === "packet");
  assert.deepEqual([...(back[0] as PacketEvent).data], [
    0x45,
    ...Array(8).fill(7),
  ]);
});

Deno.test("detach keeps each batch's bytes until recycled, then reuses the buffer", () => {
  const w = new PcapngWriter();
  const events = sampleEvents();
  const a = w.encode(events);
  const aCopy = a.slice();
  w.detach();
  const b = w.encode(events);
  assert.notEqual(b.buffer, a.buffer);
  assert.deepEqual(a, aCopy, "the detached bytes are not written over");
  // Given back (twice: the second is ignored), it is written into once.
  w.recycle(a);
  w.recycle(a);
  w.recycle(b); // the buffer in use: ignored
  w.detach();
  const c = w.encode(events);
  assert.equal(c.buffer, a.buffer);
  w.detach();
  const d = w.encode(events);
  assert.notEqual(d.buffer, a.buffer);
  assert.notEqual(d.buffer, b.buffer);
  // Output as without any of it.
  const plain = new PcapngWriter();
  plain.encode(events);
  const again = plain.encode(events);
  assert.deepEqual(d, again);
});

Deno.test("PcapngWriter writes a run of packets as it writes each of its packets", () => {
  const batch = new Uint32Array(64).map((_, i) => 0x45000000 + i);
  const r = new PacketRun(batch, new Uint32Array(64), 2, 5);
  for (let i = 0; i < 5; i++) {
    r.push(
      1_700_000_000 + i,
      999_999_000 + i,
      i === 3 ? 9 : 60,
      8 * i,
      i === 3 ? 9 : 12,
      i === 0 ? 0 : 7 + i,
      i === 1 ? 1 : 0,
      (i % 2 ? RUN_IN : RUN_OUT) | (i === 4 ? 0 : HOW_FLAGS.sender),
      i === 2 ? RUN_NONE : 40 + (i % 2),
      i % 2 ? RUN_NONE : 50,
    );
  }
  const proc = processEvent({ sec: 1, nsec: 0, event: "exec", pid: 40 });
  proc.comm = "curl";
  for (const snaplen of [0, 10]) {
    const a = new PcapngWriter({ snaplen }).encode([proc, r]).slice();
    const b = new PcapngWriter({ snaplen }).encode([proc, ...expandRuns([r])]);
    assert.deepEqual(a, b);
  }
});
