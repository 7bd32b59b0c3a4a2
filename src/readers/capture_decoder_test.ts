import assert from "node:assert/strict";
import type { HoneEvent, PacketEvent } from "../events/types.ts";
import { ATTRIBUTIONS } from "../events/types.ts";
import { ConnPids } from "../correlate/conn_pids.ts";
import { HoneFormatError } from "../format/errors.ts";
import {
  block,
  Bytes,
  concat,
  epb,
  idb,
  shb,
  udp4,
} from "../../tests/testdata/spec_builder.ts";
import { CaptureDecoder, MAX_PACKET_BYTES } from "./capture_decoder.ts";
import { BatchedPacket } from "../events/batched_packet.ts";
import { PcapngWriter } from "../writers/pcapng/pcapng_writer.ts";

function decodeAll(
  bytes: Uint8Array,
  split?: number,
  batched = false,
): HoneEvent[] {
  const d = new CaptureDecoder({ batched });
  const out: HoneEvent[] = [];
  if (split === undefined) d.push(bytes, out);
  else {
    d.push(bytes.slice(0, split), out);
    d.push(bytes.slice(split), out);
  }
  d.finish(out);
  return out;
}

/** A section as the original HoneProject sensor wrote it, in either byte order. */
function honeProjectSection(le: boolean): Uint8Array {
  const B = () => new Bytes(le);
  const shbOpts = B().opt(257, [0, ...new TextEncoder().encode("host-a")])
    .opt(3, "Linux host-a 3.19.0 #1 SMP x86_64").opt(4, "Hone 15.07").end();
  const peb = block(
    le,
    0x101,
    B().u32(4242).u32(0).u32(1_000_000)
      .optU32(5, 1).optU32(6, 1000).optU32(7, 100)
      .opt(3, "/usr/bin/curl").opt(4, "curl\0-s\0http://x/\0")
      .opt(8, "alice").opt(9, "users").end().bytes(),
  );
  const fork = block(
    le,
    0x101,
    B().u32(4243).u32(0).u32(1_000_001)
      .optU32(2, 1).optU32(5, 4242).optU32(6, 1000).optU32(7, 100).end()
      .bytes(),
  );
  const kthd = block(
    le,
    0x101,
    B().u32(2).u32(0).u32(5)
      .optU32(2, 2).optU32(5, 0).optU32(6, 0).optU32(7, 0).opt(3, "[kthreadd]")
      .end().bytes(),
  );
  // CEB open: no options at all (28 bytes), as the original wrote it.
  const open = block(
    le,
    0x102,
    B().u32(0xc51e0880).u32(4242).u32(0).u32(1_000_002).bytes(),
  );
  const unknown = block(le, 0x0bad, B().u32(32473).u32(7).bytes());
  const pkt1 = epb(
    le,
    1_000_003n,
    udp4(5000, 53),
    32,
    B().optU32(257, 0xc51e0880).optU32(2, 2).opt(0x7777, [1, 2, 3]).end(),
  );
  const pkt2 = epb(
    le,
    1_000_004n,
    udp4(53, 5000),
    32,
    B().optU32(257, 0xc51e0880).optU32(258, 4242).optU32(2, 1).end(),
  );
  const close = block(
    le,
    0x102,
    B().u32(0xc51e0880).u32(4242).u32(0).u32(1_000_005)
      .optU32(2, 0xffffffff).end().bytes(),
  );
  const isb = block(
    le,
    5,
    B().u32(0).u32(0).u32(1_000_006)
      .opt(4, B().u64(10n).bytes()).opt(5, B().u64(1n).bytes()).opt(
        7,
        B().u64(2n).bytes(),
      )
      .opt(8, B().u64(7n).bytes()).opt(257, B().u64(3n).bytes()).opt(
        258,
        B().u64(4n).bytes(),
      )
      .opt(262, B().u64(5n).bytes()).end().bytes(),
  );
  return concat(
    shb(le, shbOpts),
    idb(le, 101, 96),
    peb,
    fork,
    kthd,
    open,
    unknown,
    pkt1,
    pkt2,
    close,
    isb,
  );
}

function checkHoneProject(ev: HoneEvent[]): void {
  const types = ev.map((e) => e.type);
  assert.deepEqual(types, [
    "section",
    "process",
    "process",
    "process",
    "connection",
    "packet",
    "packet",
    "connection",
    "stats",
  ]);
  const [sec, exec, fork, kthd, open, p1, p2, close, stats] = ev as unknown as [
    Extract<HoneEvent, { type: "section" }>,
    Extract<HoneEvent, { type: "process" }>,
    Extract<HoneEvent, { type: "process" }>,
    Extract<HoneEvent, { type: "process" }>,
    Extract<HoneEvent, { type: "connection" }>,
    PacketEvent,
    PacketEvent,
    Extract<HoneEvent, { type: "connection" }>,
    Extract<HoneEvent, { type: "stats" }>,
  ];
  assert.deepEqual(sec.hostId, { kind: "string", value: "host-a" });
  assert.equal(sec.userAppl, "Hone 15.07");
  assert.equal(sec.snaplen, 96);
  assert.deepEqual(
    [
      exec.event,
      exec.pid,
      exec.ppid,
      exec.uid,
      exec.gid,
      exec.exe,
      exec.user,
      exec.group,
      exec.sec,
      exec.nsec,
    ],
    ["exec", 4242, 1, 1000, 100, "/usr/bin/curl", "alice", "users", 1, 0],
  );
  assert.deepEqual(exec.argv, ["curl", "-s", "http://x/"]);
  assert.deepEqual([fork.event, fork.pid, fork.ppid, fork.nsec], [
    "fork",
    4243,
    4242,
    1000,
  ]);
  assert.deepEqual([kthd.event, kthd.comm, kthd.exe], [
    "kthread",
    "kthreadd",
    null,
  ]);
  assert.deepEqual([open.event, open.conn, open.pid], [
    "open",
    0xc51e0880,
    4242,
  ]);
  assert.deepEqual([p1.dir, p1.conn, p1.pid, p1.len, p1.data.length], [
    "out",
    0xc51e0880,
    null,
    32,
    32,
  ]);
  assert.deepEqual([p2.dir, p2.pid], ["in", 4242]);
  assert.deepEqual([close.event, close.conn], ["close", 0xc51e0880]);
  assert.deepEqual(stats.received, { process: 3, connection: 0, packet: 10 });
  assert.deepEqual(stats.dropped, { process: 4, connection: 5, packet: 3 });
  assert.deepEqual(stats.delivered, { process: 0, connection: 0, packet: 7 });
}

Deno.test("CaptureDecoder reads the original Hone's blocks in little-endian", () => {
  checkHoneProject(decodeAll(honeProjectSection(true)));
});

Deno.test("CaptureDecoder reads the original Hone's blocks in big-endian", () => {
  checkHoneProject(decodeAll(honeProjectSection(false)));
});

Deno.test("CaptureDecoder gives the same events wherever the input is split", () => {
  const bytes = honeProjectSection(false);
  const whole = JSON.stringify(
    decodeAll(bytes),
    (_k, v) => v instanceof Uint8Array ? [...v] : v,
  );
  for (let i = 0; i <= bytes.length; i++) {
    const split = JSON.stringify(
      decodeAll(bytes, i),
      (_k, v) => v instanceof Uint8Array ? [...v] : v,
    );
    assert.equal(split, whole, `split at ${i}`);
  }
});

/** A packet's fields and bytes, whatever kind of event holds them. */
function packetFields(e: HoneEvent): unknown {
  if (e.type !== "packet") return e;
  const { sec, nsec, dir, pid, tid, conn, len, how } = e;
  return [sec, nsec, dir, pid, tid, conn, len, how ?? null, [...e.data]];
}

Deno.test("CaptureDecoder's batched packets are the packets, wherever the input is split", async () => {
  const sample = await Deno.readFile(
    new URL("../../tests/testdata/sample.pcapng", import.meta.url),
  );
  for (const bytes of [honeProjectSection(true), sample]) {
    const plain = decodeAll(bytes);
    const want = JSON.stringify(plain.map(packetFields));
    // Split on a word: the packets keep their bytes in the input.
    const whole = decodeAll(bytes, undefined, true);
    const packets = whole.filter((e) => e.type === "packet");
    assert.ok(packets.length > 0);
    assert.ok(packets.every((e) => e instanceof BatchedPacket));
    for (let i = 0; i <= bytes.length; i++) {
      const got = decodeAll(bytes, i, true);
      assert.equal(
        JSON.stringify(got.map(packetFields)),
        want,
        `split at ${i}`,
      );
    }
    // The pcapng writer copies their bytes from the input, to the same file.
    const encode = (ev: HoneEvent[]) => {
      const w = new PcapngWriter();
      return [...w.encode(ev)];
    };
    assert.deepEqual(encode(whole), encode(plain));
  }
});

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

Deno.test("CaptureDecoder's batched packets outlive a chunk read into again, copy blocks too", () => {
  // Loopback pairs (sent, then received: the same bytes), the received
  // copies written as copy blocks that refer back to the sent ones.
  // Each received 40 packets after its sent one: chunks apart.
  const events: HoneEvent[] = [];
  const sent: Uint8Array[] = [];
  for (let j = 0; j < 3040; j++) {
    const p = { type: "packet" as const, sec: 1e9 + j, nsec: j, pid: 7 };
    if (j < 3000) {
      const data = udp4(1024 + j, 53, 8 + j % 40);
      new DataView(data.buffer).setUint32(28, j);
      sent.push(data);
      events.push({
        ...p,
        dir: "out",
        tid: 7,
        conn: 1,
        len: data.length,
        data,
      });
    }
    const d = sent[j - 40];
    if (d) {
      events.push({
        ...p,
        dir: "in",
        tid: 8,
        conn: 2,
        len: d.length,
        data: d.slice(),
      });
    }
  }
  // As `hone read` to pcapng: each chunk read into the same buffer, encoded,
  // and the buffer then overwritten, on a word (raw IP: BatchedPackets) and
  // off one (views); from a file with copy blocks and from one without,
  // into a writer that keeps sent copies across chunks and one that does
  // not.
  for (const copies of [true, false]) {
    const file = new PcapngWriter({ loopbackOnce: copies }).encode(events)
      .slice();
    for (const offset of [0, 1]) {
      for (const loopbackOnce of [false, true]) {
        const dec = new CaptureDecoder({ batched: true });
        const w = new PcapngWriter({ loopbackOnce });
        const buf = new Uint8Array(4096 + offset);
        const got: Uint8Array[] = [];
        for (let at = 0; at < file.length; at += 4096) {
          const part = file.subarray(at, Math.min(file.length, at + 4096));
          buf.set(part, offset);
          const out: HoneEvent[] = [];
          dec.push(buf.subarray(offset, offset + part.length), out);
          got.push(w.encode(out).slice());
          buf.fill(0xa5);
        }
        const all: HoneEvent[] = [];
        const d = new CaptureDecoder();
        d.push(file, all);
        d.finish(all);
        const want = new PcapngWriter({ loopbackOnce }).encode(all);
        assert.ok(
          sameBytes(concat(...got), want),
          `copies ${copies}, offset ${offset}, loopbackOnce ${loopbackOnce}`,
        );
      }
    }
  }
});

Deno.test("CaptureDecoder reads several sections of different byte orders", () => {
  const ev = decodeAll(
    concat(
      honeProjectSection(true),
      honeProjectSection(false),
      honeProjectSection(true),
    ),
  );
  assert.equal(ev.filter((e) => e.type === "section").length, 3);
  assert.equal(ev.filter((e) => e.type === "packet").length, 6);
});

Deno.test("ConnPids gives a packet without a pid its connection's owner", () => {
  const ev = decodeAll(honeProjectSection(true));
  new ConnPids().apply(ev);
  const pkts = ev.filter((e): e is PacketEvent => e.type === "packet");
  assert.deepEqual(pkts.map((p) => p.pid), [4242, 4242]);
});

Deno.test("ConnPids forgets the oldest connection first", () => {
  const open = (conn: number, pid: number): HoneEvent => ({
    type: "connection",
    sec: 0,
    nsec: 0,
    event: "open",
    conn,
    pid,
  });
  const pkt = (conn: number): PacketEvent => ({
    type: "packet",
    sec: 0,
    nsec: 0,
    dir: null,
    pid: null,
    tid: null,
    conn,
    len: 0,
    data: new Uint8Array(0),
  });
  const c = new ConnPids(3);
  // 2 is opened again, so 1 is the oldest when 4 and 5 arrive.
  c.apply([open(1, 10), open(2, 20), open(3, 30), open(2, 21), open(4, 40)]);
  let ps = [pkt(1), pkt(2), pkt(3), pkt(4)];
  c.apply(ps);
  assert.deepEqual(ps.map((p) => p.pid), [null, 21, 30, 40]);
  c.apply([open(5, 50)]);
  ps = [pkt(2), pkt(3), pkt(4), pkt(5)];
  c.apply(ps);
  assert.deepEqual(ps.map((p) => p.pid), [21, null, 40, 50]);
  // Far more connections than the table holds (its speed there, which was
  // quadratic, is measured by bench/read_scale_bench.sh, not here).
  const big = new ConnPids();
  const batch: HoneEvent[] = [];
  for (let i = 0; i < 600_000; i++) batch.push(open(i, 1 + (i & 1023)));
  big.apply(batch);
  const last = [pkt(599_999), pkt(0)];
  big.apply(last);
  assert.deepEqual(last.map((p) => p.pid), [1 + (599_999 & 1023), null]);
});

Deno.test("CaptureDecoder reads the Google fork's 64-bit connection ids and u32 euid", () => {
  for (const le of [true, false]) {
    const B = () => new Bytes(le);
    const ptr = 0xffff888012345678n;
    const peb = block(
      le,
      0x101,
      B().u32(77).u32(0).u32(9).optU32(6, 1000).optU32(7, 100)
        .optU32(8, 0).optU32(9, 1000).optU32(10, 3).end().bytes(),
    );
    const open = block(le, 0x102, B().u64(ptr).u32(77).u32(0).u32(10).bytes());
    const pkt = epb(
      le,
      11n,
      udp4(1, 2),
      32,
      B().opt(257, B().u64(ptr).bytes()).optU32(2, 2).end(),
    );
    const close = block(
      le,
      0x102,
      B().u64(ptr).u32(77).u32(0).u32(12).optU32(2, 0xffffffff).end().bytes(),
    );
    const ev = decodeAll(
      concat(shb(le), idb(le, 101, 0), peb, open, pkt, close),
    );
    new ConnPids().apply(ev);
    const [, proc, o, p, c] = ev as unknown as [
      never,
      Extract<HoneEvent, { type: "process" }>,
      Extract<HoneEvent, { type: "connection" }>,
      PacketEvent,
      Extract<HoneEvent, { type: "connection" }>,
    ];
    assert.deepEqual([proc.uid, proc.gid, proc.user, proc.exitCode], [
      0,
      100,
      null,
      3,
    ]);
    const id = 0x888012345678;
    assert.deepEqual([o.conn, o.pid, o.event], [id, 77, "open"]);
    assert.deepEqual([p.conn, p.pid], [id, 77]);
    assert.deepEqual([c.conn, c.event], [id, "close"]);
  }
});

Deno.test("CaptureDecoder reads a GUID host id and nanosecond interfaces", () => {
  const le = true;
  const guid = [
    0x40,
    0xfc,
    0x29,
    0x6b,
    0x47,
    0xca,
    0x67,
    0x10,
    0xb3,
    0x1d,
    0,
    0xdd,
    1,
    6,
    0x62,
    0xda,
  ];
  const opts = new Bytes(le).opt(257, [1, 0, 0, 0, ...guid]).end();
  const ev = decodeAll(
    concat(
      shb(le, opts),
      idb(le, 101, 0, 9),
      epb(le, 1_764_134_800_123_456_789n, udp4(1, 2), 32),
    ),
  );
  const s = ev[0] as Extract<HoneEvent, { type: "section" }>;
  assert.equal(s.hostId?.kind, "guid");
  const hex = [...(s.hostId!.value as Uint8Array)].map((b) =>
    b.toString(16).padStart(2, "0")
  ).join("");
  assert.equal(hex, "6b29fc40ca471067b31d00dd010662da");
  const p = ev[1] as PacketEvent;
  assert.deepEqual([p.sec, p.nsec], [1764134800, 123456789]);
});

Deno.test("CaptureDecoder strips link headers of Ethernet and Linux cooked captures", () => {
  const le = true;
  const eth = concat(
    new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0]),
    udp4(1, 2),
  );
  const arp = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 6, 0, 0]);
  const sll = concat(
    new Uint8Array([0, 4, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0]),
    udp4(3, 4),
  );
  const d = new CaptureDecoder();
  const out: HoneEvent[] = [];
  d.push(
    concat(
      shb(le),
      idb(le, 1, 0),
      idb(le, 113, 0),
      epb(le, 1n, eth, eth.length),
      epb(le, 2n, arp, arp.length),
      block(
        le,
        6,
        concat(
          new Bytes(le).u32(1).u32(0).u32(3).u32(sll.length).u32(sll.length)
            .padded(sll).bytes(),
        ),
      ),
    ),
    out,
  );
  d.finish(out);
  const pkts = out.filter((e): e is PacketEvent => e.type === "packet");
  assert.equal(pkts.length, 2);
  assert.equal(pkts[0]!.data[0], 0x45);
  assert.equal(pkts[0]!.len, 32);
  assert.deepEqual([pkts[1]!.dir, pkts[1]!.data[21]], ["out", 3]);
  assert.equal(d.notes.nonIp, 1);
});

Deno.test("CaptureDecoder reads classic pcap in both byte orders", () => {
  for (const le of [true, false]) {
    const p = udp4(7, 8);
    const file = concat(
      new Bytes(le).u32(0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0).u32(65535).u32(
        101,
      ).bytes(),
      new Bytes(le).u32(100).u32(250).u32(p.length).u32(p.length).bytes(),
      p,
    );
    const ev = decodeAll(file);
    const pkt = ev[1] as PacketEvent;
    assert.deepEqual([pkt.sec, pkt.nsec, pkt.data[21]], [100, 250_000, 7]);
  }
});

/** Decodes malformed input, whole or split at `split`; returns the error. */
function malformed(
  bytes: Uint8Array,
  split?: number,
): { err: HoneFormatError; events: HoneEvent[] } {
  const d = new CaptureDecoder();
  const events: HoneEvent[] = [];
  try {
    if (split === undefined) d.push(bytes, events);
    else {
      d.push(bytes.slice(0, split), events);
      d.push(bytes.slice(split), events);
    }
    d.finish(events);
  } catch (e) {
    assert.ok(e instanceof HoneFormatError, String(e));
    return { err: e, events };
  }
  throw new Error("no error");
}

/**
 * Checks that `bytes` fail with a message matching `what`, one line in the
 * documented form, at byte `offset`, wherever the input is split; returns
 * the events decoded before the fault.
 */
function fault(bytes: Uint8Array, what: RegExp, offset: number): HoneEvent[] {
  const { err, events } = malformed(bytes);
  assert.match(err.message, what);
  assert.match(err.message, /^Cannot [^\n]+: [^\n]+ at byte \d+$/);
  assert.ok(err.message.endsWith(` at byte ${offset}`), err.message);
  assert.equal(err.offset, offset);
  assert.doesNotMatch(err.message, /internal error/);
  const step = Math.max(1, Math.floor(bytes.length / 64));
  for (let i = 0; i <= bytes.length; i += step) {
    assert.equal(malformed(bytes, i).err.message, err.message, `split at ${i}`);
  }
  return events;
}

/** Sets a u32 at `at` of a copy of `b`. */
function patched(b: Uint8Array, at: number, x: number, le = true): Uint8Array {
  const c = b.slice();
  new DataView(c.buffer).setUint32(at, x, le);
  return c;
}

const HEAD = concat(shb(true), idb(true, 101, 0));
const GOOD = epb(true, 1n, udp4(1, 2), 32);
const AT = HEAD.length + GOOD.length; // where the faulty block starts

Deno.test("CaptureDecoder reports a truncated input with the offset of its block", () => {
  // Inside a block whose length is known, and inside a block's header.
  let ev = fault(
    concat(HEAD, GOOD, GOOD.slice(0, 30)),
    /^Cannot read block: the input ends after 30 of its 64 bytes/,
    AT,
  );
  assert.equal(ev.filter((e) => e.type === "packet").length, 1);
  ev = fault(
    concat(HEAD, GOOD, GOOD.slice(0, 10)),
    /^Cannot read block: the input ends 10 bytes into it/,
    AT,
  );
  assert.equal(ev.filter((e) => e.type === "packet").length, 1);
  // Before the magic, and in a pcap file header or record.
  fault(HEAD.slice(0, 3), /^Cannot read file header: the input ends/, 0);
  const pcap = pcapFile(true, udp4(1, 2));
  fault(pcap.slice(0, 20), /^Cannot read pcap file header: .* 20 of its 24/, 0);
  fault(
    pcap.slice(0, pcap.length - 1),
    /^Cannot read pcap record: the input ends after 47 of its 48 bytes/,
    24,
  );
  fault(new Uint8Array(0), /^Cannot read capture: the input is empty/, 0);
});

Deno.test("CaptureDecoder rejects bad block lengths before it buffers the block", () => {
  const bad = (len: number) => concat(HEAD, GOOD, patched(GOOD, 4, len));
  fault(bad(8), /type 0x6: length 8 is under the 12-byte minimum/, AT);
  fault(bad(13), /type 0x6: length 13 is not a multiple of 4/, AT);
  for (const huge of [0x7ffffff0, 0xfffffff0, 0xfffffffc]) {
    fault(
      bad(huge),
      new RegExp(`length ${huge} is over the \\d+-byte limit`),
      AT,
    );
  }
  // The trailing length disagrees.
  fault(
    concat(HEAD, patched(GOOD, GOOD.length - 4, 60)),
    /type 0x6: its trailing length 60 differs from its length 64/,
    HEAD.length,
  );
});

Deno.test("CaptureDecoder rejects blocks too short for their fixed fields", () => {
  const B = () => new Bytes(true);
  const cases: [Uint8Array, RegExp][] = [
    [
      block(true, 0x0a0d0d0a, B().u32(0x1a2b3c4d).bytes()),
      /section header: its block is 16 bytes, under the 28/,
    ],
    [
      block(true, 1, B().u32(101).bytes()),
      /interface description: .* under the 20/,
    ],
    [
      block(true, 6, B().u32(0).u32(0).u32(0).u32(0).bytes()),
      /enhanced packet: .* under the 32/,
    ],
    [block(true, 2, B().u32(0).bytes()), /Cannot read packet: .* under the 32/],
    [block(true, 3, new Uint8Array(0)), /simple packet: .* under the 16/],
    [block(true, 0x101, B().u32(1).bytes()), /process block: .* under the 24/],
    [
      block(true, 0x102, B().u32(1).u32(2).bytes()),
      /connection block: .* under the 28/,
    ],
    [
      block(true, 5, B().u32(0).bytes()),
      /interface statistics: .* under the 24/,
    ],
  ];
  for (const [b, what] of cases) {
    const head = b[0] === 0x0a ? concat(shb(true)) : HEAD;
    fault(concat(head, b), what, head.length);
  }
});

Deno.test("CaptureDecoder rejects bad section headers and interfaces at the faulty field", () => {
  // Byte-order magic, at its own offset.
  const s = patched(shb(true), 8, 0x11223344);
  fault(
    concat(HEAD, s),
    /byte-order magic 0x11223344 is neither/,
    HEAD.length + 8,
  );
  // Major version 2, at the version field.
  const v2 = shb(true);
  v2[12] = 2;
  fault(
    concat(HEAD, v2),
    /pcapng major version 2 is not supported/,
    HEAD.length + 12,
  );
  // A timestamp resolution of 10^-20 s, at the option's value.
  fault(
    concat(shb(true), idb(true, 101, 0, 20)),
    /timestamp resolution 0x14 is not supported/,
    28 + 16 + 4,
  );
});

Deno.test("CaptureDecoder rejects captured lengths past the block or the packet limit", () => {
  // 999; and lengths whose padding overflows 32 bits (they reached V8 as
  // "Invalid typed array length" and "Offset is outside the bounds").
  for (const cap of [999, 0x80000000, 0xfffffff0, 0xffffffff]) {
    fault(
      concat(HEAD, patched(GOOD, 20, cap)),
      new RegExp(
        `enhanced packet: captured length ${cap} is over the 32 bytes its block has`,
      ),
      HEAD.length + 20,
    );
  }
  const pb = block(
    true,
    2,
    new Bytes(true).u16(0).u16(0).u32(0).u32(1).u32(0x80000000).u32(32)
      .padded(udp4(1, 2)).bytes(),
  );
  fault(
    concat(HEAD, pb),
    /Cannot read packet: captured length 2147483648/,
    HEAD.length + 20,
  );
  // A packet of more than MAX_PACKET_BYTES, whole in its block.
  const n = MAX_PACKET_BYTES + 4;
  const big = new Uint8Array(32 + n);
  const v = new DataView(big.buffer);
  v.setUint32(0, 6, true);
  v.setUint32(4, big.length, true);
  v.setUint32(20, n, true);
  v.setUint32(24, n, true);
  v.setUint32(big.length - 4, big.length, true);
  big[28] = 0x45;
  fault(
    concat(HEAD, big),
    /captured length 262148 is over the 262144-byte limit/,
    HEAD.length + 20,
  );
});

Deno.test("CaptureDecoder rejects packets on undescribed interfaces at the interface field", () => {
  fault(
    concat(HEAD, GOOD, patched(GOOD, 8, 3)),
    /enhanced packet: it refers to interface 3, but the section describes 1/,
    AT + 8,
  );
  fault(
    concat(shb(true), GOOD),
    /it refers to interface 0, but the section describes 0/,
    28 + 8,
  );
});

Deno.test("CaptureDecoder rejects option lengths past the block at the option", () => {
  const B = () => new Bytes(true);
  const over = B().u16(1).u16(200).u32(0);
  // EPB, with its inline walk; SHB, IDB, process, connection, statistics.
  fault(
    concat(HEAD, epb(true, 1n, udp4(1, 2), 32, over)),
    /option 1: its length 200 is over the 4 bytes left in the block/,
    HEAD.length + 28 + 32,
  );
  fault(shb(true, over), /option 1: its length 200/, 24);
  fault(
    concat(
      shb(true),
      block(true, 1, B().u16(101).u16(0).u32(0).u16(9).u16(9).bytes()),
    ),
    /option 9: its length 9 is over the 0 bytes left/,
    28 + 16,
  );
  const peb = block(
    true,
    0x101,
    concat(B().u32(1).u32(0).u32(0).bytes(), over.bytes()),
  );
  fault(concat(HEAD, peb), /option 1: its length 200/, HEAD.length + 20);
  const isb = block(
    true,
    5,
    concat(B().u32(0).u32(0).u32(0).bytes(), over.bytes()),
  );
  fault(concat(HEAD, isb), /option 1: its length 200/, HEAD.length + 20);
  // A connection block whose options fit neither layout.
  const ceb = block(
    true,
    0x102,
    B().u32(1).u32(2).u32(0).u32(0).u16(1).u16(200).u16(1).u16(200).bytes(),
  );
  fault(
    concat(HEAD, ceb),
    /connection block: its options run past/,
    HEAD.length,
  );
});

/** A classic pcap file (raw IP, microseconds) with one record. */
function pcapFile(le: boolean, p: Uint8Array): Uint8Array {
  return concat(
    new Bytes(le).u32(0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0).u32(65535)
      .u32(101).bytes(),
    new Bytes(le).u32(100).u32(250).u32(p.length).u32(p.length).bytes(),
    p,
  );
}

Deno.test("CaptureDecoder rejects bad pcap headers and records at the faulty field", () => {
  const f = pcapFile(false, udp4(1, 2));
  const v = (x: number) => {
    const c = f.slice();
    new DataView(c.buffer).setUint16(4, x, false);
    return c;
  };
  fault(v(1), /pcap file header: version 1.4 is not supported/, 4);
  fault(v(3), /version 3.4/, 4);
  fault(
    patched(f, 28, 1_000_000, false),
    /fraction of a second 1000000 is over 999999/,
    28,
  );
  for (const cap of [MAX_PACKET_BYTES + 1, 0xffffffff]) {
    fault(
      patched(f, 32, cap, false),
      new RegExp(
        `pcap record: captured length ${cap} is over the 262144-byte limit`,
      ),
      32,
    );
  }
});

Deno.test("CaptureDecoder rejects input that is not a capture", () => {
  fault(
    new TextEncoder().encode("hello world"),
    /not a pcapng or pcap file \(its magic is 0x68656c6c\)/,
    0,
  );
});

Deno.test("CaptureDecoder turns an unforeseen error into one line at its block", () => {
  const d = new CaptureDecoder();
  const out = [] as HoneEvent[];
  let n = 0;
  out.push = (...e: HoneEvent[]) => {
    if (++n === 2) throw new TypeError("boom");
    return Array.prototype.push.apply(out, e);
  };
  let err: unknown = null;
  try {
    d.push(concat(HEAD, GOOD, GOOD), out);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof HoneFormatError, String(err));
  assert.equal(
    err.message,
    `Cannot decode the capture: internal error at byte ${HEAD.length}`,
  );
  assert.ok(err.cause instanceof TypeError);
});

Deno.test("CaptureDecoder joins a large block that arrives in many chunks", () => {
  // A 16 MiB unknown block, then a packet, in 16 KiB chunks: each chunk
  // used to copy the whole pending block (~8 TB·ops here, minutes; the
  // test would time out). bench/read_scale_bench.sh measures the speed.
  const n = 16 << 20;
  const big = new Uint8Array(n);
  const v = new DataView(big.buffer);
  v.setUint32(0, 0xbad, true);
  v.setUint32(4, n, true);
  v.setUint32(n - 4, n, true);
  const bytes = concat(HEAD, big, GOOD);
  const d = new CaptureDecoder();
  const out: HoneEvent[] = [];
  for (let i = 0; i < bytes.length; i += 16384) {
    d.push(bytes.subarray(i, i + 16384), out);
  }
  d.finish(out);
  assert.equal(d.notes.unknownBlocks, 1);
  assert.deepEqual(out.map((e) => e.type), ["section", "packet"]);
});

Deno.test("CaptureDecoder takes an attribution option only when it holds a known word", () => {
  const le = true;
  const B = () => new Bytes(le);
  const pkt = (opt: Bytes) => epb(le, 1n, udp4(1, 2), 32, opt.end());
  const hows = decodeAll(concat(
    shb(le),
    idb(le, 101, 0),
    pkt(B().opt(0xf0e1, "reader")),
    pkt(B().opt(0xf0e1, "sender\0\0")), // NULs added by some writers
    pkt(B().opt(0xf0e1, "readers")),
    pkt(B().opt(0xf0e1, "")),
    pkt(B().optU32(0x8001, 3)), // Apple's process index, the legacy code
    pkt(B().opt(0x8001, "creator")),
    pkt(B().opt(0xf0e1, [0xff, 0x65])),
  )).filter((e): e is PacketEvent => e.type === "packet").map((p) => p.how);
  assert.deepEqual(hows, [
    "reader",
    "sender",
    undefined,
    undefined,
    undefined,
    "creator",
    undefined,
  ]);
  // Every word there is, in either code.
  const all = decodeAll(concat(
    shb(le),
    idb(le, 101, 0),
    ...ATTRIBUTIONS.map((h) => pkt(B().opt(0xf0e1, h))),
    ...ATTRIBUTIONS.map((h) => pkt(B().opt(0x8001, h))),
  )).filter((e): e is PacketEvent => e.type === "packet").map((p) => p.how);
  assert.deepEqual(all, [...ATTRIBUTIONS, ...ATTRIBUTIONS]);
});
