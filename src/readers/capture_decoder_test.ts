import assert from "node:assert/strict";
import type { HoneEvent, PacketEvent } from "../events/types.ts";
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
} from "../format/_spec_builder.ts";
import { CaptureDecoder } from "./capture_decoder.ts";

function decodeAll(bytes: Uint8Array, split?: number): HoneEvent[] {
  const d = new CaptureDecoder();
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

Deno.test("ConnPids forgets the oldest connection first, in constant time", () => {
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
  // Far more connections than the table holds: a Map evicted with
  // keys().next() took minutes here (V8 scans its deleted entries).
  const big = new ConnPids();
  const batch: HoneEvent[] = [];
  for (let i = 0; i < 600_000; i++) batch.push(open(i, 1 + (i & 1023)));
  const t = performance.now();
  big.apply(batch);
  assert.ok(performance.now() - t < 5000, "ConnPids is not linear");
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

function malformed(
  bytes: Uint8Array,
): { err: HoneFormatError; events: HoneEvent[] } {
  const d = new CaptureDecoder();
  const events: HoneEvent[] = [];
  try {
    d.push(bytes, events);
    d.finish(events);
  } catch (e) {
    assert.ok(e instanceof HoneFormatError, String(e));
    return { err: e, events };
  }
  throw new Error("no error");
}

Deno.test("CaptureDecoder reports malformed input with its byte offset", () => {
  const le = true;
  const head = concat(shb(le), idb(le, 101, 0));
  const good = epb(le, 1n, udp4(1, 2), 32);
  // A truncated block.
  let r = malformed(concat(head, good, good.slice(0, 30)));
  assert.equal(r.err.offset, head.length + good.length);
  assert.equal(r.events.filter((e) => e.type === "packet").length, 1);
  // A length that lies (the trailer disagrees).
  const lie = good.slice();
  new DataView(lie.buffer).setUint32(4, good.length - 4, true);
  r = malformed(concat(head, good, lie));
  assert.equal(r.err.offset, head.length + good.length);
  assert.match(r.err.message, /length/);
  // A length that is not a multiple of 4, and one below 12.
  for (const n of [13, 8]) {
    const bad = good.slice();
    new DataView(bad.buffer).setUint32(4, n, true);
    assert.equal(malformed(concat(head, bad)).err.offset, head.length);
  }
  // Options past the end of the block.
  const opts = new Bytes(le).u16(1).u16(200).u32(0);
  r = malformed(concat(head, epb(le, 1n, udp4(1, 2), 32, opts)));
  assert.match(r.err.message, /option 1/);
  // A captured length past the end of the block.
  const cap = good.slice();
  new DataView(cap.buffer).setUint32(20, 999, true);
  assert.match(malformed(concat(head, cap)).err.message, /captured length/);
  // A packet on an interface that does not exist.
  const ifc = good.slice();
  new DataView(ifc.buffer).setUint32(8, 3, true);
  assert.match(malformed(concat(head, ifc)).err.message, /interface 3/);
  // Not a capture, and empty input.
  assert.equal(
    malformed(new TextEncoder().encode("hello world")).err.offset,
    0,
  );
  assert.equal(malformed(new Uint8Array(0)).err.offset, 0);
  // A huge length fails at once instead of buffering.
  const huge = good.slice();
  new DataView(huge.buffer).setUint32(4, 0x7ffffff0, true);
  assert.match(malformed(concat(head, huge)).err.message, /limit/);
});
