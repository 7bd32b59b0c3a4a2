import assert from "node:assert/strict";
import {
  decodeRecords,
  forEachRecord,
  type HoneRecord,
  recordLength,
} from "./decode.ts";
import {
  DIR_IN,
  DIR_OUT,
  EXEC_ARGV_TRUNC,
  EXEC_EXE_TRUNC,
  EXIT_GROUP_DEAD,
  EXIT_LEADER,
  FORK_THREAD,
  HDR,
  HONE_ABI_VERSION,
  OPTIONS,
  PACKET,
  PKT_NETFILTER,
  PKT_TASK,
  PROC_EXEC,
  PROC_EXIT,
  PROC_FORK,
  REC_PACKET,
  REC_PROC_EXEC,
  REC_PROC_EXIT,
  REC_PROC_FORK,
  REC_SNAP_SOCKET,
  REC_SOCK_CREATE,
  REC_SOCK_RELEASE,
  REC_SOCK_USE,
  RECORD_SIZES,
  SIZEOF_OPTIONS,
  SIZEOF_REC_HDR,
  SIZEOF_STATS,
  SNAP_SOCKET,
  SOCK_CREATE,
  SOCK_USE,
  STATS,
  USE_FIRST,
  USE_LOST,
  USE_TCP_SEQ,
} from "./layout.ts";

const SHIM = Deno.env.get("HONE_SHIM") ||
  new URL("../../build/ffi/libhone.so", import.meta.url).pathname;

function shimBuilt(): boolean {
  try {
    return Deno.statSync(SHIM).isFile;
  } catch {
    return false;
  }
}

const BUILT = shimBuilt();

Deno.test({
  name: BUILT
    ? "layout matches hone_record_size() of the built shim"
    : "layout matches hone_record_size() (skipped: no build/ffi/libhone.so)",
  ignore: !BUILT,
  fn() {
    const lib = Deno.dlopen(SHIM, {
      hone_abi_version: { parameters: [], result: "u32" },
      hone_record_size: { parameters: ["u32"], result: "u32" },
    });
    try {
      const size = lib.symbols.hone_record_size;
      assert.equal(lib.symbols.hone_abi_version(), HONE_ABI_VERSION);
      for (const [type, bytes] of Object.entries(RECORD_SIZES)) {
        assert.equal(size(Number(type)), bytes, `record type ${type}`);
      }
      assert.equal(size(SIZEOF_REC_HDR), HDR.size);
      assert.equal(size(SIZEOF_OPTIONS), OPTIONS.size);
      assert.equal(size(SIZEOF_STATS), STATS.size);
      assert.equal(size(0), 0);
      assert.equal(size(999), 0);
    } finally {
      lib.close();
    }
  },
});

/** Builds records into one batch, the way the sensor lays them out. */
class BatchBuilder {
  #bytes = new Uint8Array(4096);
  #view = new DataView(this.#bytes.buffer);
  #len = 0;

  /** Appends a record with `fixed` header bytes plus `tail`. */
  add(
    type: number,
    fixed: number,
    fill: (v: DataView, o: number) => void,
    tail = new Uint8Array(0),
  ): this {
    const o = this.#len;
    const len = (fixed + tail.length + 7) & ~7;
    this.#view.setUint32(o + HDR.type, type, true);
    this.#view.setUint32(o + HDR.len, len, true);
    this.#view.setBigUint64(o + HDR.tsNs, 1_000_000_000_123n + BigInt(o), true);
    fill(this.#view, o);
    this.#bytes.set(tail, o + fixed);
    this.#len += len;
    return this;
  }

  get bytes(): Uint8Array {
    return this.#bytes.subarray(0, this.#len);
  }
}

const enc = new TextEncoder();

function sampleBatch(): Uint8Array {
  const packet = new Uint8Array([0x45, 0, 0, 20, 1, 2, 3, 4, 5, 6, 7]);
  const exec = enc.encode("/bin/echo\0");
  const argv = enc.encode("/bin/echo\0hi there\0");
  const exe = enc.encode("/usr/bin/echo");
  return new BatchBuilder()
    .add(REC_PACKET, PACKET.size, (v, o) => {
      v.setBigUint64(o + PACKET.cookie, 0x1_0000_0005n, true);
      v.setUint32(o + PACKET.pid, 42, true);
      v.setUint32(o + PACKET.tid, 43, true);
      v.setUint32(o + PACKET.ifindex, 1, true);
      v.setUint32(o + PACKET.len, 1500, true);
      v.setUint32(o + PACKET.caplen, packet.length, true);
      v.setUint32(o + PACKET.dir, DIR_OUT, true);
      v.setUint32(o + PACKET.protocol, 0x0800, true);
      v.setUint32(o + PACKET.flags, PKT_TASK, true);
    }, packet)
    .add(REC_SOCK_CREATE, SOCK_CREATE.size, (v, o) => {
      v.setBigUint64(o + SOCK_CREATE.cookie, 7n, true);
      v.setUint32(o + SOCK_CREATE.pid, 42, true);
      v.setUint32(o + SOCK_CREATE.tid, 44, true);
      v.setUint32(o + SOCK_CREATE.family, 10, true);
      v.setUint32(o + SOCK_CREATE.type, 2, true);
      v.setUint32(o + SOCK_CREATE.protocol, 17, true);
      v.setUint32(o + SOCK_CREATE.netns, 4026531840, true);
    })
    .add(REC_SOCK_RELEASE, 32, (v, o) => {
      v.setBigUint64(o + 16, 7n, true);
      v.setUint32(o + 24, 42, true);
    })
    .add(REC_SOCK_USE, SOCK_USE.size, (v, o) => {
      v.setBigUint64(o + SOCK_USE.cookie, 8n, true);
      v.setUint32(o + SOCK_USE.pid, 50, true);
      v.setUint32(o + SOCK_USE.tid, 51, true);
      v.setUint32(o + SOCK_USE.dir, DIR_IN, true);
      v.setUint32(o + SOCK_USE.len, 1400, true);
      v.setBigUint64(o + SOCK_USE.bytesBefore, 0x2_0000_0003n, true);
      v.setBigUint64(o + SOCK_USE.callsBefore, 12n, true);
      v.setUint32(o + SOCK_USE.flags, USE_FIRST | USE_TCP_SEQ, true);
      v.setUint32(o + SOCK_USE.tcpSeq, 0xfffffff0, true);
    })
    .add(REC_SOCK_USE, SOCK_USE.size, (v, o) => {
      v.setBigUint64(o + SOCK_USE.cookie, 8n, true);
      v.setUint32(o + SOCK_USE.dir, DIR_OUT, true);
      v.setUint32(o + SOCK_USE.flags, USE_LOST, true);
      v.setUint32(o + SOCK_USE.tcpSeq, 5, true);
    })
    .add(REC_PROC_FORK, PROC_FORK.size, (v, o) => {
      v.setUint32(o + PROC_FORK.pid, 60, true);
      v.setUint32(o + PROC_FORK.tid, 61, true);
      v.setUint32(o + PROC_FORK.ppid, 1, true);
      v.setUint32(o + PROC_FORK.ptid, 60, true);
      v.setUint32(o + PROC_FORK.flags, FORK_THREAD, true);
      v.setUint32(o + PROC_FORK.netns, 4026531841, true);
      v.setBigUint64(o + PROC_FORK.cgroupId, 0x1_0000_0123n, true);
      new Uint8Array(v.buffer).set(enc.encode("bash\0"), o + PROC_FORK.comm);
    })
    .add(REC_PROC_EXEC, PROC_EXEC.size, (v, o) => {
      v.setUint32(o + PROC_EXEC.pid, 70, true);
      v.setUint32(o + PROC_EXEC.tid, 70, true);
      v.setUint32(o + PROC_EXEC.oldTid, 70, true);
      v.setUint32(o + PROC_EXEC.ppid, 60, true);
      v.setUint32(o + PROC_EXEC.uid, 1000, true);
      v.setUint32(o + PROC_EXEC.gid, 100, true);
      v.setUint32(o + PROC_EXEC.flags, EXEC_ARGV_TRUNC, true);
      v.setUint32(o + PROC_EXEC.filenameLen, exec.length - 1, true);
      v.setUint32(o + PROC_EXEC.argvLen, argv.length, true);
      v.setUint32(o + PROC_EXEC.exeLen, exe.length, true);
      v.setBigUint64(o + PROC_EXEC.cgroupId, 77n, true);
      v.setUint32(o + PROC_EXEC.netns, 4026531842, true);
      new Uint8Array(v.buffer).set(
        enc.encode("echo\0\0\0\0\0\0\0\0\0\0\0\0"),
        o + PROC_EXEC.comm,
      );
    }, new Uint8Array([...exec.subarray(0, -1), ...argv, ...exe]))
    .add(REC_PROC_EXIT, PROC_EXIT.size, (v, o) => {
      v.setUint32(o + PROC_EXIT.pid, 70, true);
      v.setUint32(o + PROC_EXIT.tid, 70, true);
      v.setUint32(o + PROC_EXIT.exitCode, 9, true);
      v.setUint32(o + PROC_EXIT.flags, EXIT_GROUP_DEAD | EXIT_LEADER, true);
    })
    .add(REC_SNAP_SOCKET, SNAP_SOCKET.size, (v, o) => {
      v.setBigUint64(o + SNAP_SOCKET.cookie, 9n, true);
      v.setUint32(o + SNAP_SOCKET.pid, 80, true);
      v.setUint32(o + SNAP_SOCKET.fd, 3, true);
      v.setUint32(o + SNAP_SOCKET.family, 2, true);
      v.setUint32(o + SNAP_SOCKET.type, 1, true);
      v.setUint32(o + SNAP_SOCKET.protocol, 6, true);
      v.setUint32(o + SNAP_SOCKET.netns, 4026531843, true);
    })
    .add(99, 24, (v, o) => v.setUint32(o + 16, 0xabcd, true))
    .bytes;
}

Deno.test("decodeRecords() decodes every record type of a batch", () => {
  const batch = sampleBatch();
  const records = [...decodeRecords(batch)];
  assert.deepEqual(records.map((r) => r.kind), [
    "packet",
    "sock_create",
    "sock_release",
    "sock_use",
    "sock_use",
    "proc_fork",
    "proc_exec",
    "proc_exit",
    "snap_socket",
    "unknown",
  ]);
  const [pkt, create, , use, use2, fork, exec, exit, snap, unknown] = records;
  assert(pkt?.kind === "packet");
  assert.equal(pkt.tsNs, 1_000_000_000_123n);
  assert.equal(pkt.cookie, 0x1_0000_0005);
  assert.equal(pkt.pid, 42);
  assert.equal(pkt.tid, 43);
  assert.equal(pkt.len, 1500);
  assert.equal(pkt.dir, DIR_OUT);
  assert.equal(pkt.source, "cgroup_skb");
  assert.equal(pkt.taskContext, true);
  assert.deepEqual([...pkt.data], [0x45, 0, 0, 20, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(pkt.data.buffer, batch.buffer, "data is a view, not a copy");
  assert(create?.kind === "sock_create");
  assert.deepEqual(
    [create.cookie, create.pid, create.tid, create.family, create.type],
    [7, 42, 44, 10, 2],
  );
  assert.equal(create.protocol, 17);
  assert.equal(create.netns, 4026531840);
  assert(use?.kind === "sock_use");
  assert.deepEqual([use.cookie, use.pid, use.tid, use.dir], [8, 50, 51, 1]);
  assert.deepEqual(
    [use.len, use.bytesBefore, use.callsBefore, use.tcpSeq],
    [1400, 0x2_0000_0003, 12, 0xfffffff0],
  );
  assert.deepEqual([use.first, use.lost], [true, false]);
  assert(use2?.kind === "sock_use");
  assert.deepEqual([use2.dir, use2.first, use2.lost], [DIR_OUT, false, true]);
  assert.equal(use2.tcpSeq, null, "tcpSeq only with USE_TCP_SEQ");
  assert(fork?.kind === "proc_fork");
  assert.deepEqual([fork.pid, fork.tid, fork.ppid, fork.ptid], [60, 61, 1, 60]);
  assert.equal(fork.thread, true);
  assert.equal(fork.kthread, false);
  assert.equal(fork.comm, "bash");
  assert.deepEqual([fork.netns, fork.cgroupId], [4026531841, 0x1_0000_0123]);
  assert(exec?.kind === "proc_exec");
  assert.equal(exec.filename, "/bin/echo");
  assert.deepEqual(exec.argv, ["/bin/echo", "hi there"]);
  assert.equal(exec.exe, "/usr/bin/echo");
  assert.deepEqual([exec.cgroupId, exec.netns], [77, 4026531842]);
  assert.equal(exec.truncated, true);
  assert.equal(exec.comm, "echo");
  assert.deepEqual([exec.uid, exec.gid, exec.ppid], [1000, 100, 60]);
  assert(exit?.kind === "proc_exit");
  assert.equal(exit.exitCode, 9);
  assert.equal(exit.groupDead, true);
  assert.equal(exit.leader, true);
  assert(snap?.kind === "snap_socket");
  assert.deepEqual([snap.cookie, snap.pid, snap.fd, snap.type], [9, 80, 3, 1]);
  assert.equal(snap.netns, 4026531843);
  assert(unknown?.kind === "unknown");
  assert.equal(unknown.type, 99);
  assert.equal(unknown.bytes.length, 24);
});

Deno.test("forEachRecord() visits records in order and counts them", () => {
  const kinds: string[] = [];
  const n = forEachRecord(sampleBatch(), (r) => kinds.push(r.kind));
  assert.equal(n, 10);
  assert.equal(kinds.length, 10);
  assert.equal(forEachRecord(new Uint8Array(0), () => {}), 0);
});

Deno.test("forEachRecord() reads a batch at a non-zero byte offset", () => {
  const batch = sampleBatch();
  const shifted = new Uint8Array(batch.length + 8);
  shifted.set(batch, 8);
  const records: HoneRecord[] = [];
  forEachRecord(shifted.subarray(8), (r) => records.push(r));
  assert.equal(records.length, 10);
  assert(records[0]?.kind === "packet");
  assert.equal(records[0].cookie, 0x1_0000_0005);
});

Deno.test("decodeRecords() throws RangeError with the offset when cut", () => {
  const batch = sampleBatch();
  const first = recordLength(new DataView(batch.buffer), 0);
  for (const cut of [1, 8, 15, 16, first - 1, first + 4, batch.length - 1]) {
    assert.throws(
      () => [...decodeRecords(batch.subarray(0, cut))],
      (e) =>
        e instanceof RangeError &&
        /^Cannot decode the record at offset \d+: /.test(e.message),
      `cut at ${cut}`,
    );
  }
});

Deno.test("decodeRecords() rejects bad lengths and oversized data", () => {
  const bad = (mutate: (v: DataView) => void, pattern: RegExp) => {
    const batch = sampleBatch().slice();
    mutate(new DataView(batch.buffer));
    assert.throws(() => [...decodeRecords(batch)], pattern);
  };
  bad((v) => v.setUint32(HDR.len, 12, true), /offset 0: bad length 12/);
  bad((v) => v.setUint32(HDR.len, 68, true), /offset 0: bad length 68/);
  bad((v) => v.setUint32(HDR.len, 48, true), /type 1 needs 56 bytes/);
  bad(
    (v) => v.setUint32(PACKET.caplen, 100, true),
    /packet data of 100 bytes exceeds the record length 72/,
  );
  bad((v) => v.setUint32(HDR.len, 1 << 20, true), /need 1048576 bytes/);
});

Deno.test("decodeRecords() rejects exec data past the record", () => {
  const batch = sampleBatch().slice();
  const view = new DataView(batch.buffer);
  let off = 0;
  while (view.getUint32(off + HDR.type, true) !== REC_PROC_EXEC) {
    off += view.getUint32(off + HDR.len, true);
  }
  view.setUint32(off + PROC_EXEC.exeLen, 64, true);
  assert.throws(
    () => [...decodeRecords(batch)],
    new RegExp(`offset ${off}: exec data of \\d+ bytes exceeds the length`),
  );
  view.setUint32(off + PROC_EXEC.exeLen, 0, true);
  view.setUint32(off + PROC_EXEC.flags, EXEC_EXE_TRUNC, true);
  const exec = [...decodeRecords(batch)].find((r) => r.kind === "proc_exec");
  assert(exec?.kind === "proc_exec");
  assert.deepEqual([exec.exe, exec.truncated], ["", true]);
});

Deno.test("layout offsets are in order and inside each record", () => {
  const tables = [PACKET, SOCK_CREATE, SOCK_USE, PROC_FORK, PROC_EXEC];
  for (const table of [...tables, PROC_EXIT, SNAP_SOCKET, OPTIONS, STATS]) {
    const offsets = Object.entries(table).filter(([k]) => k !== "size")
      .map(([, v]) => v);
    assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b));
    assert(Math.max(...offsets) < table.size);
    assert.equal(table.size % 8, 0);
  }
  assert.equal(PKT_NETFILTER, 1);
});
