import assert from "node:assert/strict";
import type { ChunkEvent, HoneEvent, PacketEvent } from "../events/mod.ts";
import { expandRuns } from "../events/mod.ts";
import { decodeRecords, type HoneRecord } from "../records/decode.ts";
import {
  DIR_IN,
  DIR_OUT,
  PACKET,
  PKT_TASK,
  REC_PACKET,
  REC_SOCK_CREATE,
  SOCK_CREATE,
} from "../records/layout.ts";
import { SensorCorrelator } from "./sensor_correlator.ts";
import { CorrelatorStream } from "./correlator_stream.ts";

const base = { family: 2, type: 1, protocol: 6, netns: 1 };

function pkt(
  cookie: number,
  dir: number,
  extra: Partial<Extract<HoneRecord, { kind: "packet" }>> = {},
): HoneRecord {
  return {
    kind: "packet",
    tsNs: 5_000_000_123n,
    cookie,
    pid: 0,
    tid: 0,
    ifindex: 1,
    len: 40,
    caplen: 1,
    dir,
    protocol: 0x800,
    flags: 0,
    source: "cgroup_skb",
    taskContext: false,
    data: new Uint8Array([0x45]),
    ...extra,
  };
}

const use = {
  len: 0,
  bytesBefore: 0,
  callsBefore: 0,
  flags: 1,
  first: true,
  lost: false,
  tcpSeq: null,
};

const packets = (e: HoneEvent[]) =>
  e.filter((x): x is PacketEvent => x.type === "packet");

Deno.test("SensorCorrelator turns boot time into wall-clock time", () => {
  const c = new SensorCorrelator({ clockOffset: [1_700_000_000, 999_999_990] });
  c.push([{
    kind: "sock_create",
    tsNs: 5_000_000_123n,
    cookie: 1,
    pid: 7,
    tid: 7,
    ...base,
  }], 0);
  const e = c.drain(0)[0] as PacketEvent;
  assert.deepEqual([e!.sec, e!.nsec], [1_700_000_006, 113]);
});

Deno.test("SensorCorrelator names the sending thread of an outbound packet", () => {
  const c = new SensorCorrelator({ clockOffset: [0, 0] });
  c.push([
    { kind: "sock_create", tsNs: 1n, cookie: 1, pid: 7, tid: 7, ...base },
    pkt(1, 2, { pid: 7, tid: 9, taskContext: true }),
    pkt(1, 1),
  ], 0);
  const p = packets(c.drain(0));
  assert.deepEqual(p.map((x) => [x.dir, x.pid, x.tid, x.conn]), [[
    "out",
    7,
    9,
    1,
  ], ["in", 7, null, 1]]);
});

Deno.test("SensorCorrelator holds a packet until its socket's owner is known, in order", () => {
  const c = new SensorCorrelator({ clockOffset: [0, 0], holdMs: 100 });
  const data = new Uint8Array([0x45, 1, 2]);
  // An accepted socket: no create record; the owner comes with the first recv.
  c.push([pkt(5, 1, { data }), {
    kind: "sock_create",
    tsNs: 2n,
    cookie: 6,
    pid: 8,
    tid: 8,
    ...base,
  }], 0);
  assert.deepEqual(c.drain(10), []);
  data.fill(0); // the poll buffer is reused: held bytes must have been copied
  c.push(
    [{
      kind: "sock_use",
      tsNs: 3n,
      cookie: 5,
      pid: 9,
      tid: 10,
      dir: 1,
      ...use,
    }],
    20,
  );
  const out = c.drain(20);
  assert.deepEqual(out.map((e) => e.type), [
    "packet",
    "connection",
    "connection",
  ]);
  const p = out[0] as PacketEvent;
  assert.deepEqual([p.pid, p.data[0]], [9, 0x45]);
  // The accepted socket gets an open event at its first use.
  assert.deepEqual(out[2], {
    type: "connection",
    sec: 0,
    nsec: 3,
    event: "open",
    conn: 5,
    pid: 9,
    proto: null,
    local: null,
    remote: null,
  });
});

Deno.test("SensorCorrelator gives up on an unknown owner after the hold time", () => {
  const c = new SensorCorrelator({ clockOffset: [0, 0], holdMs: 100 });
  c.push([pkt(99, 2)], 0);
  assert.deepEqual(c.drain(50), []);
  const p = packets(c.drain(101));
  assert.deepEqual(p.map((x) => x.pid), [null]);
  assert.equal(c.counts.noProcess, 1);
});

Deno.test("SensorCorrelator keeps a socket's owner after its release for late packets", () => {
  const c = new SensorCorrelator({ clockOffset: [0, 0] });
  c.push([
    { kind: "snap_socket", tsNs: 1n, cookie: 3, pid: 11, fd: 4, ...base },
    { kind: "sock_release", tsNs: 2n, cookie: 3, pid: 11, tid: 11 },
    pkt(3, 1),
  ], 0);
  const out = c.drain(0);
  assert.deepEqual(out.map((e) => e.type === "connection" ? e.event : e.type), [
    "open",
    "close",
    "packet",
  ]);
  assert.equal(packets(out)[0]!.pid, 11);
});

Deno.test("SensorCorrelator reports process events with names and exit codes", () => {
  const c = new SensorCorrelator({
    clockOffset: [0, 0],
    userName: (u) => u === 0 ? "root" : null,
    groupName: (g) => g === 0 ? "root" : null,
  });
  c.push([
    {
      kind: "proc_fork",
      tsNs: 1n,
      pid: 20,
      tid: 20,
      ppid: 1,
      ptid: 1,
      flags: 0,
      thread: false,
      kthread: false,
      comm: "sh",
      netns: 1,
      cgroupId: 1,
    },
    {
      kind: "proc_fork",
      tsNs: 1n,
      pid: 20,
      tid: 21,
      ppid: 1,
      ptid: 20,
      flags: 1,
      thread: true,
      kthread: false,
      comm: "sh",
      netns: 1,
      cgroupId: 1,
    },
    {
      kind: "proc_exec",
      tsNs: 2n,
      pid: 20,
      tid: 20,
      oldTid: 20,
      ppid: 1,
      uid: 0,
      gid: 0,
      flags: 0,
      filename: "/bin/echo",
      exe: "/usr/bin/echo",
      netns: 1,
      cgroupId: 1,
      argv: ["echo", "hi"],
      argvBytes: new Uint8Array(0),
      truncated: false,
      comm: "echo",
    },
    {
      kind: "proc_exit",
      tsNs: 3n,
      pid: 20,
      tid: 21,
      exitCode: 0,
      flags: 0,
      groupDead: false,
      leader: false,
    },
    {
      kind: "proc_exit",
      tsNs: 4n,
      pid: 20,
      tid: 20,
      exitCode: 3 << 8,
      flags: 3,
      groupDead: true,
      leader: true,
    },
  ], 0);
  const out = c.drain(0).map((e) =>
    e.type === "process" ? [e.event, e.pid, e.user, e.argv, e.exitCode] : null
  );
  assert.deepEqual(out, [
    ["fork", 20, null, null, null],
    ["exec", 20, "root", ["echo", "hi"], null],
    ["exit", 20, "root", null, 3],
  ]);
});

function udpIn(n: number): Uint8Array {
  const p = new Uint8Array(32);
  p.set([0x45, 0, 0, 32, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
  p.set([0x30, 0x39, 0x13, 0x88, 0, 12, 0, 0, n], 20);
  return p;
}

Deno.test("SensorCorrelator gives each datagram of a socket shared after fork to its reader", () => {
  const c = new SensorCorrelator({ clockOffset: [0, 0], holdMs: 100 });
  const recv = (pid: number, callsBefore: number, first = false) => ({
    kind: "sock_use" as const,
    tsNs: 5n,
    cookie: 7,
    pid,
    tid: pid,
    dir: 1,
    ...use,
    callsBefore,
    first,
    flags: first ? 1 : 0,
  });
  c.push([
    {
      kind: "sock_create",
      tsNs: 1n,
      cookie: 7,
      pid: 10,
      tid: 10,
      ...base,
      type: 2,
      protocol: 17,
    },
    {
      kind: "proc_fork",
      tsNs: 2n,
      pid: 11,
      tid: 11,
      ppid: 10,
      ptid: 10,
      flags: 0,
      thread: false,
      kthread: false,
      comm: "p",
      netns: 1,
      cgroupId: 1,
    },
    pkt(7, 1, { data: udpIn(0) }),
    pkt(7, 1, { data: udpIn(1) }),
    pkt(7, 1, { data: udpIn(2) }),
    recv(10, 0, true),
    recv(11, 1),
  ], 0);
  // Each read call names the datagram it read; the third is not read yet.
  let out = packets(c.drain(10));
  assert.deepEqual(out.map((p) => [p.pid, p.how]), [[10, "reader"], [
    11,
    "reader",
  ]]);
  c.push([recv(10, 2)], 20);
  out = packets(c.drain(20));
  assert.deepEqual(out.map((p) => [p.pid, p.how]), [[10, "reader"]]);
  // The connection event knows its protocol and endpoints.
  c.push([{ kind: "sock_release", tsNs: 9n, cookie: 7, pid: 10, tid: 10 }], 30);
  const close = c.drain(30)[0] as Extract<HoneEvent, { type: "connection" }>;
  assert.deepEqual([close.proto, close.local, close.remote], [
    17,
    "127.0.0.1:5000",
    "127.0.0.1:12345",
  ]);
});

/** A sensor batch: a sock_create of cookie 2^32 + 5 by pid 7, its packets. */
function sensorBatch(tsNs: bigint[]): Uint8Array {
  const out = new Uint8Array(4096);
  const v = new DataView(out.buffer);
  let o = 0;
  const rec = (type: number, len: number, ts: bigint) => {
    v.setUint32(o, type, true);
    v.setUint32(o + 4, len, true);
    v.setBigUint64(o + 8, ts, true);
    v.setBigUint64(o + 16, 0x1_0000_0005n, true); // cookie
    v.setUint32(o + 24, 7, true); // pid
    v.setUint32(o + 28, 9, true); // tid
  };
  rec(REC_SOCK_CREATE, SOCK_CREATE.size, 1n);
  v.setUint32(o + SOCK_CREATE.family, 2, true);
  v.setUint32(o + SOCK_CREATE.type, 2, true);
  v.setUint32(o + SOCK_CREATE.protocol, 17, true);
  o += SOCK_CREATE.size;
  // A UDP datagram 10.0.0.1:1000 -> 10.0.0.2:53, 4 payload bytes.
  const ip = [
    0x45,
    0,
    0,
    32,
    0,
    0,
    0,
    0,
    64,
    17,
    0,
    0,
    10,
    0,
    0,
    1,
    10,
    0,
    0,
    2,
    0x03,
    0xe8,
    0,
    53,
    0,
    12,
    0,
    0,
    1,
    2,
    3,
    4,
  ];
  for (const [i, ts] of tsNs.entries()) {
    rec(REC_PACKET, PACKET.size + ip.length, ts);
    v.setUint32(o + PACKET.len, ip.length, true);
    v.setUint32(o + PACKET.caplen, ip.length, true);
    v.setUint32(o + PACKET.dir, i % 2 ? DIR_IN : DIR_OUT, true);
    v.setUint32(o + PACKET.protocol, 0x800, true);
    v.setUint32(o + PACKET.flags, i % 2 ? 0 : PKT_TASK, true);
    out.set(ip, o + PACKET.size);
    o += PACKET.size + ip.length;
  }
  return out.slice(0, o);
}

Deno.test("SensorCorrelator.pushBatch() reads a batch in place as push() does its decoded records", () => {
  // Time stamps around second boundaries, and past 2^53 ns of uptime.
  const ts = [
    999_999_999n,
    1_000_000_000n,
    86_400_123_456_789n,
    (1n << 53n) + 1n,
    (1n << 60n) + 999_999_999n,
    5n,
  ];
  const batch = sensorBatch(ts);
  const run = (f: (c: SensorCorrelator) => void) => {
    const c = new SensorCorrelator({
      clockOffset: [1_700_000_000, 999_999_990],
    });
    f(c);
    return c.drain(0, true);
  };
  // Every field the event model names, the bytes as a plain array.
  const plain = (e: HoneEvent) =>
    e.type !== "packet" ? e : {
      type: e.type,
      sec: e.sec,
      nsec: e.nsec,
      dir: e.dir,
      pid: e.pid,
      tid: e.tid,
      conn: e.conn,
      len: e.len,
      data: [...e.data],
      how: e.how,
      kept: e.kept,
    };
  const objects = run((c) => c.push(decodeRecords(batch), 0));
  const inPlace = run((c) => c.pushBatch(batch, 0));
  assert.deepEqual(inPlace.map(plain), objects.map(plain));
  assert.equal(packets(inPlace)[0]!.data[9], 17);
  const p = packets(inPlace);
  assert.deepEqual(p.map((x) => [x.dir, x.pid, x.tid, x.conn, x.len]), [
    ["out", 7, 9, 0x1_0000_0005, 32],
    ["in", 7, null, 0x1_0000_0005, 32],
    ["out", 7, 9, 0x1_0000_0005, 32],
    ["in", 7, null, 0x1_0000_0005, 32],
    ["out", 7, 9, 0x1_0000_0005, 32],
    ["in", 7, null, 0x1_0000_0005, 32],
  ]);
  assert.deepEqual(p.map((x) => [x.sec, x.nsec]), [
    [1_700_000_001, 999_999_989],
    [1_700_000_001, 999_999_990],
    [1_700_086_401, 123_456_779],
    [1_709_007_200, 254_740_983],
    [2_852_921_506, 606_846_965],
    [1_700_000_000, 999_999_995],
  ]);
  // A batch cut in its last record: the records before it were taken.
  const c = new SensorCorrelator({ clockOffset: [0, 0] });
  assert.throws(
    () => c.pushBatch(batch.subarray(0, batch.length - 8), 0),
    RangeError,
  );
  assert.equal(packets(c.drain(0, true)).length, ts.length - 1);
});

Deno.test("CorrelatorStream gives a batch back at once when no event out of it points into it", async () => {
  const noPackets = sensorBatch([]); // a socket, no packet
  const withPackets = sensorBatch([2n, 3n]);
  const given: ArrayBufferLike[] = [];
  const corr = new SensorCorrelator({ clockOffset: [0, 0] });
  const out = await Array.fromAsync(
    ReadableStream.from([noPackets, withPackets]).pipeThrough(
      new CorrelatorStream(corr, { releaseBatch: (b) => given.push(b) }),
    ),
  );
  assert.equal(out.flat().filter((e) => e.type === "packet").length, 2);
  // The packets' batch is given back by whoever encodes them.
  assert.deepEqual(given, [noPackets.buffer]);
});

Deno.test("SensorCorrelator with runs passes the packets it attributes at once as a PacketRun, the same packets as without", () => {
  const batch = sensorBatch([1n, 2n, 3n, 4n, 5n, 6n, 7n]);
  const run = (runs: boolean) => {
    const c = new SensorCorrelator({
      clockOffset: [1_700_000_000, 0],
      keepSummaries: false,
      runs,
    });
    c.pushBatch(batch, 0);
    return { c, out: c.drainChunk(0, true) };
  };
  const plain = (e: ChunkEvent) =>
    e.type !== "packet" ? e.type : [
      e.sec,
      e.nsec,
      e.dir,
      e.pid,
      e.tid,
      e.conn,
      e.len,
      [...e.data],
      e.how,
      e.kept,
    ];
  const objects = run(false);
  const runs = run(true);
  // The first packet reads its header (the socket's endpoints), so it is
  // an event of its own; the others are one run.
  assert.deepEqual(
    runs.out.map((e) => e.type === "packets" ? `run of ${e.length}` : e.type),
    ["connection", "packet", "run of 6"],
  );
  assert.deepEqual(
    expandRuns(runs.out).map(plain),
    objects.out.map(plain),
  );
  assert.deepEqual(runs.c.counts, objects.c.counts);
  // An event that follows packets ends their run (here a new socket of the
  // same cookie, whose first packet tells its endpoints again).
  const c = new SensorCorrelator({
    clockOffset: [0, 0],
    keepSummaries: false,
    runs: true,
  });
  c.pushBatch(batch, 0);
  c.pushBatch(sensorBatch([8n, 9n]), 1);
  assert.deepEqual(
    c.drainChunk(1, true).map((e) =>
      e.type === "packets" ? `run of ${e.length}` : e.type
    ),
    ["connection", "packet", "run of 6", "connection", "packet", "run of 1"],
  );
});

Deno.test("SensorCorrelator with runs counts the datagrams it passes in runs: a reader after fork gets the ones it read", () => {
  const cookie = 0x1_0000_0005;
  const recv = (pid: number, callsBefore: number) => ({
    kind: "sock_use" as const,
    tsNs: 20n,
    cookie,
    pid,
    tid: pid,
    dir: 1,
    ...use,
    callsBefore,
    first: false,
    flags: 0,
  });
  const fork: HoneRecord = {
    kind: "proc_fork",
    tsNs: 10n,
    pid: 8,
    tid: 8,
    ppid: 7,
    ptid: 7,
    flags: 0,
    thread: false,
    kthread: false,
    comm: "child",
    netns: 1,
    cgroupId: 1,
  };
  const pids = (runs: boolean) => {
    const c = new SensorCorrelator({
      clockOffset: [0, 0],
      keepSummaries: false,
      runs,
    });
    // Three datagrams in (and three out) before the fork, read by pid 7.
    c.pushBatch(sensorBatch([1n, 2n, 3n, 4n, 5n, 6n]), 0);
    c.push([recv(7, 0), fork], 0);
    // Two more after it: the child read the fourth and fifth.
    c.pushBatch(
      sensorBatch([30n, 31n, 32n, 33n]).subarray(SOCK_CREATE.size),
      0,
    );
    c.push([recv(8, 3)], 0);
    return expandRuns(c.drainChunk(1, true)).flatMap((e) =>
      e.type === "packet" && e.dir === "in" ? [e.pid] : []
    );
  };
  assert.deepEqual(pids(false), [7, 7, 7, 8, 8]);
  assert.deepEqual(pids(true), pids(false));
});
