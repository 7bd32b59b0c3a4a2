/**
 * Decoder for batches of sensor records (the bytes `hone_poll()` writes,
 * laid out in `ffi/hone.h`).
 *
 * One `DataView` is made per batch; packet data and argv come out as
 * `subarray` views of the batch, so they are only valid until the buffer
 * is reused (the next poll). Copy them to keep them.
 *
 * A malformed batch throws a `RangeError` naming the offset.
 *
 * @module
 */

import {
  ARGV_MAX,
  COMM_LEN,
  EXE_MAX,
  EXEC_ARGV_TRUNC,
  EXEC_EXE_TRUNC,
  EXEC_FILENAME_TRUNC,
  EXIT_GROUP_DEAD,
  EXIT_LEADER,
  FILENAME_MAX,
  FORK_KTHREAD,
  FORK_THREAD,
  HDR,
  PACKET,
  PACKET_WORDS,
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
  SNAP_SOCKET,
  SNAPLEN_MAX,
  SOCK_CREATE,
  SOCK_RELEASE,
  SOCK_USE,
  USE_FIRST,
  USE_LOST,
  USE_TCP_SEQ,
} from "./layout.ts";

/** Fields every record has. */
export interface RecordBase {
  /** CLOCK_BOOTTIME nanoseconds; add the clock offset for wall time. */
  tsNs: bigint;
}

/** A packet seen by cgroup_skb or netfilter. */
export interface PacketRecord extends RecordBase {
  /** Record kind. */
  kind: "packet";
  /** Socket cookie, 0 if no socket. */
  cookie: number;
  /** The sender's tgid when sent inside its call (`PKT_TASK`), else 0. */
  pid: number;
  /** The sender's tid when sent inside its call (`PKT_TASK`), else 0. */
  tid: number;
  /** Interface index, 0 if unknown. */
  ifindex: number;
  /** Packet length from the IP header. */
  len: number;
  /** Number of bytes in `data`. */
  caplen: number;
  /** 1 in (`DIR_IN`), 2 out (`DIR_OUT`). */
  dir: number;
  /** Ethertype: 0x0800 IPv4, 0x86dd IPv6. */
  protocol: number;
  /** `PKT_*` flags. */
  flags: number;
  /** Which hook reported it. */
  source: "cgroup_skb" | "netfilter";
  /** True when pid/tid name the task doing the I/O. */
  taskContext: boolean;
  /** The packet from its IP header (LINKTYPE_RAW), a view of the batch. */
  data: Uint8Array;
}

/** An inet socket was created. */
export interface SockCreateRecord extends RecordBase {
  /** Record kind. */
  kind: "sock_create";
  /** Socket cookie. */
  cookie: number;
  /** Creating tgid. */
  pid: number;
  /** Creating tid. */
  tid: number;
  /** AF_INET 2 or AF_INET6 10. */
  family: number;
  /** SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_RAW 3. */
  type: number;
  /** IPPROTO_* number. */
  protocol: number;
  /** Inode number of the socket's network namespace. */
  netns: number;
}

/** An inet socket was closed. */
export interface SockReleaseRecord extends RecordBase {
  /** Record kind. */
  kind: "sock_release";
  /** Socket cookie. */
  cookie: number;
  /** Tgid of the releasing task. */
  pid: number;
  /** Tid of the releasing task. */
  tid: number;
}

/**
 * A socket's user changed: its last user, or the last sender (or reader)
 * when `dir` is send (recv), was another thread. With the counters, this
 * sender (reader) sent (read) the bytes `[bytesBefore, next.bytesBefore)`
 * and datagrams `[callsBefore, next.callsBefore)` of the socket's send
 * (receive) stream, `next` being the next record of the same socket and
 * direction. `ffi/hone.h` has the exact rules.
 */
export interface SockUseRecord extends RecordBase {
  /** Record kind. */
  kind: "sock_use";
  /** Socket cookie. */
  cookie: number;
  /** Tgid of the user. */
  pid: number;
  /** Tid of the user. */
  tid: number;
  /** 2 send (`DIR_OUT`), 1 recv (`DIR_IN`). */
  dir: number;
  /** Bytes this call sent or read. */
  len: number;
  /** Bytes of this direction before this call, since hone saw the socket. */
  bytesBefore: number;
  /** Successful calls of this direction before this call. */
  callsBefore: number;
  /** `USE_*` flags. */
  flags: number;
  /** The counters started at this call (an accepted or forgotten socket). */
  first: boolean;
  /** An earlier record of this direction was lost: the user changed sooner. */
  lost: boolean;
  /** TCP: sequence number of this call's first byte, else null. */
  tcpSeq: number | null;
}

/** A task was created. */
export interface ProcForkRecord extends RecordBase {
  /** Record kind. */
  kind: "proc_fork";
  /** Child tgid. */
  pid: number;
  /** Child tid. */
  tid: number;
  /** Child's parent process (real_parent tgid). */
  ppid: number;
  /** Tid of the thread that called fork/clone. */
  ptid: number;
  /** `FORK_*` flags. */
  flags: number;
  /** Inode number of the child's network namespace. */
  netns: number;
  /** Cgroup v2 id of the child (its cgroup directory's inode number). */
  cgroupId: number;
  /** A thread of an existing process. */
  thread: boolean;
  /** A kernel thread. */
  kthread: boolean;
  /** Task name at fork time. */
  comm: string;
}

/** A task executed a new program. */
export interface ProcExecRecord extends RecordBase {
  /** Record kind. */
  kind: "proc_exec";
  /** Tgid. */
  pid: number;
  /** Tid. */
  tid: number;
  /** Tid that called execve. */
  oldTid: number;
  /** Real parent tgid. */
  ppid: number;
  /** Effective uid. */
  uid: number;
  /** Effective gid. */
  gid: number;
  /** `EXEC_*` flags. */
  flags: number;
  /** Inode number of the network namespace. */
  netns: number;
  /** Cgroup v2 id (the cgroup directory's inode number). */
  cgroupId: number;
  /** Filename given to execve, as given (maybe relative). */
  filename: string;
  /**
   * Resolved path of the executable file, as `/proc/PID/exe` shows it (the
   * interpreter of a `#!` script); "" if unknown.
   */
  exe: string;
  /** Arguments, decoded as UTF-8. */
  argv: string[];
  /** The raw argument area (NUL-terminated strings), a view of the batch. */
  argvBytes: Uint8Array;
  /** Argv, filename or exe was cut. */
  truncated: boolean;
  /** New task name. */
  comm: string;
}

/** A task exited. */
export interface ProcExitRecord extends RecordBase {
  /** Record kind. */
  kind: "proc_exit";
  /** Tgid. */
  pid: number;
  /** Tid. */
  tid: number;
  /** wait(2) status: code << 8 | signal. */
  exitCode: number;
  /** `EXIT_*` flags. */
  flags: number;
  /** The whole process ended. */
  groupDead: boolean;
  /** The task is the thread group leader. */
  leader: boolean;
}

/** A socket fd found by the start-up snapshot. */
export interface SnapSocketRecord extends RecordBase {
  /** Record kind. */
  kind: "snap_socket";
  /** Socket cookie. */
  cookie: number;
  /** Tgid holding the fd. */
  pid: number;
  /** File descriptor number. */
  fd: number;
  /** AF_INET 2 or AF_INET6 10. */
  family: number;
  /** SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_RAW 3. */
  type: number;
  /** IPPROTO_* number. */
  protocol: number;
  /** Inode number of the socket's network namespace. */
  netns: number;
}

/** A record of a type this decoder does not know (a newer sensor). */
export interface UnknownRecord extends RecordBase {
  /** Record kind. */
  kind: "unknown";
  /** The record type number. */
  type: number;
  /** The whole record, header included, a view of the batch. */
  bytes: Uint8Array;
}

/** Any decoded record. */
export type HoneRecord =
  | PacketRecord
  | SockCreateRecord
  | SockReleaseRecord
  | SockUseRecord
  | ProcForkRecord
  | ProcExecRecord
  | ProcExitRecord
  | SnapSocketRecord
  | UnknownRecord;

const UTF8 = new TextDecoder();

function u32(view: DataView, offset: number): number {
  return view.getUint32(offset, true);
}

/**
 * Reads a u64 that fits in 2^53 (socket cookies, cgroup ids, counters)
 * as a number.
 */
function u53(view: DataView, offset: number): number {
  return view.getUint32(offset, true) +
    view.getUint32(offset + 4, true) * 0x100000000;
}

function fail(offset: number, what: string): never {
  throw new RangeError(`Cannot decode the record at offset ${offset}: ${what}`);
}

function cString(bytes: Uint8Array, start: number, max: number): string {
  const end = bytes.indexOf(0, start);
  return UTF8.decode(
    bytes.subarray(start, end < 0 || end > start + max ? start + max : end),
  );
}

function splitArgv(argv: Uint8Array): string[] {
  const out: string[] = [];
  let start = 0;
  while (start < argv.length) {
    let end = argv.indexOf(0, start);
    if (end < 0) end = argv.length;
    out.push(UTF8.decode(argv.subarray(start, end)));
    start = end + 1;
  }
  return out;
}

/** The caplen of the packet record at `o` (length `len`), checked. */
function checkCaplen(o: number, caplen: number, len: number): number {
  if (caplen > SNAPLEN_MAX || PACKET.size + caplen > len) {
    fail(o, `packet data of ${caplen} bytes exceeds the record length ${len}`);
  }
  return caplen;
}

function decodePacket(
  view: DataView,
  bytes: Uint8Array,
  o: number,
  len: number,
  tsNs: bigint,
): PacketRecord {
  const caplen = checkCaplen(o, u32(view, o + PACKET.caplen), len);
  const flags = u32(view, o + PACKET.flags);
  const data = o + PACKET.size;
  return {
    kind: "packet",
    tsNs,
    cookie: u53(view, o + PACKET.cookie),
    pid: u32(view, o + PACKET.pid),
    tid: u32(view, o + PACKET.tid),
    ifindex: u32(view, o + PACKET.ifindex),
    len: u32(view, o + PACKET.len),
    caplen,
    dir: u32(view, o + PACKET.dir),
    protocol: u32(view, o + PACKET.protocol),
    flags,
    source: flags & PKT_NETFILTER ? "netfilter" : "cgroup_skb",
    taskContext: (flags & PKT_TASK) !== 0,
    data: bytes.subarray(data, data + caplen),
  };
}

function decodeExec(
  view: DataView,
  bytes: Uint8Array,
  o: number,
  len: number,
  tsNs: bigint,
): ProcExecRecord {
  const flen = u32(view, o + PROC_EXEC.filenameLen);
  const alen = u32(view, o + PROC_EXEC.argvLen);
  const elen = u32(view, o + PROC_EXEC.exeLen);
  const data = flen + alen + elen;
  if (
    flen >= FILENAME_MAX || alen > ARGV_MAX || elen >= EXE_MAX ||
    PROC_EXEC.size + data > len
  ) {
    fail(o, `exec data of ${data} bytes exceeds the length ${len}`);
  }
  const fStart = o + PROC_EXEC.size;
  const aStart = fStart + flen;
  const eStart = aStart + alen;
  const argvBytes = bytes.subarray(aStart, eStart);
  const flags = u32(view, o + PROC_EXEC.flags);
  return {
    kind: "proc_exec",
    tsNs,
    pid: u32(view, o + PROC_EXEC.pid),
    tid: u32(view, o + PROC_EXEC.tid),
    oldTid: u32(view, o + PROC_EXEC.oldTid),
    ppid: u32(view, o + PROC_EXEC.ppid),
    uid: u32(view, o + PROC_EXEC.uid),
    gid: u32(view, o + PROC_EXEC.gid),
    flags,
    netns: u32(view, o + PROC_EXEC.netns),
    cgroupId: u53(view, o + PROC_EXEC.cgroupId),
    filename: UTF8.decode(bytes.subarray(fStart, aStart)),
    exe: UTF8.decode(bytes.subarray(eStart, eStart + elen)),
    argv: splitArgv(argvBytes),
    argvBytes,
    truncated:
      (flags & (EXEC_ARGV_TRUNC | EXEC_FILENAME_TRUNC | EXEC_EXE_TRUNC)) !==
        0,
    comm: cString(bytes, o + PROC_EXEC.comm, COMM_LEN),
  };
}

function decodeFixed(
  view: DataView,
  bytes: Uint8Array,
  o: number,
  type: number,
  tsNs: bigint,
): HoneRecord | undefined {
  switch (type) {
    case REC_SOCK_CREATE:
      return {
        kind: "sock_create",
        tsNs,
        cookie: u53(view, o + SOCK_CREATE.cookie),
        pid: u32(view, o + SOCK_CREATE.pid),
        tid: u32(view, o + SOCK_CREATE.tid),
        family: u32(view, o + SOCK_CREATE.family),
        type: u32(view, o + SOCK_CREATE.type),
        protocol: u32(view, o + SOCK_CREATE.protocol),
        netns: u32(view, o + SOCK_CREATE.netns),
      };
    case REC_SOCK_RELEASE:
      return {
        kind: "sock_release",
        tsNs,
        cookie: u53(view, o + SOCK_RELEASE.cookie),
        pid: u32(view, o + SOCK_RELEASE.pid),
        tid: u32(view, o + SOCK_RELEASE.tid),
      };
    case REC_SOCK_USE: {
      const flags = u32(view, o + SOCK_USE.flags);
      return {
        kind: "sock_use",
        tsNs,
        cookie: u53(view, o + SOCK_USE.cookie),
        pid: u32(view, o + SOCK_USE.pid),
        tid: u32(view, o + SOCK_USE.tid),
        dir: u32(view, o + SOCK_USE.dir),
        len: u32(view, o + SOCK_USE.len),
        bytesBefore: u53(view, o + SOCK_USE.bytesBefore),
        callsBefore: u53(view, o + SOCK_USE.callsBefore),
        flags,
        first: (flags & USE_FIRST) !== 0,
        lost: (flags & USE_LOST) !== 0,
        tcpSeq: flags & USE_TCP_SEQ ? u32(view, o + SOCK_USE.tcpSeq) : null,
      };
    }
    case REC_PROC_FORK: {
      const flags = u32(view, o + PROC_FORK.flags);
      return {
        kind: "proc_fork",
        tsNs,
        pid: u32(view, o + PROC_FORK.pid),
        tid: u32(view, o + PROC_FORK.tid),
        ppid: u32(view, o + PROC_FORK.ppid),
        ptid: u32(view, o + PROC_FORK.ptid),
        flags,
        netns: u32(view, o + PROC_FORK.netns),
        cgroupId: u53(view, o + PROC_FORK.cgroupId),
        thread: (flags & FORK_THREAD) !== 0,
        kthread: (flags & FORK_KTHREAD) !== 0,
        comm: cString(bytes, o + PROC_FORK.comm, COMM_LEN),
      };
    }
    case REC_PROC_EXIT: {
      const flags = u32(view, o + PROC_EXIT.flags);
      return {
        kind: "proc_exit",
        tsNs,
        pid: u32(view, o + PROC_EXIT.pid),
        tid: u32(view, o + PROC_EXIT.tid),
        exitCode: u32(view, o + PROC_EXIT.exitCode),
        flags,
        groupDead: (flags & EXIT_GROUP_DEAD) !== 0,
        leader: (flags & EXIT_LEADER) !== 0,
      };
    }
    case REC_SNAP_SOCKET:
      return {
        kind: "snap_socket",
        tsNs,
        cookie: u53(view, o + SNAP_SOCKET.cookie),
        pid: u32(view, o + SNAP_SOCKET.pid),
        fd: u32(view, o + SNAP_SOCKET.fd),
        family: u32(view, o + SNAP_SOCKET.family),
        type: u32(view, o + SNAP_SOCKET.type),
        protocol: u32(view, o + SNAP_SOCKET.protocol),
        netns: u32(view, o + SNAP_SOCKET.netns),
      };
  }
  return undefined;
}

/**
 * Checks the record header at `offset` and returns the record length.
 *
 * @param view A view of the whole batch.
 * @param offset Where the record starts.
 * @returns The record length in bytes (a multiple of 8, at least 16).
 * @throws {RangeError} If the header or length does not fit the batch.
 */
export function recordLength(view: DataView, offset: number): number {
  const left = view.byteLength - offset;
  if (left < HDR.size) fail(offset, `need ${HDR.size} bytes, have ${left}`);
  const type = u32(view, offset + HDR.type);
  const len = u32(view, offset + HDR.len);
  if (len < HDR.size || len % 8 !== 0) fail(offset, `bad length ${len}`);
  if (len > left) fail(offset, `need ${len} bytes, have ${left}`);
  const fixed = RECORD_SIZES[type];
  if (fixed !== undefined && len < fixed) {
    fail(offset, `type ${type} needs ${fixed} bytes, length is ${len}`);
  }
  return len;
}

/**
 * Decodes the record at `offset` of a batch.
 *
 * @param view A view of the whole batch (`bytes`).
 * @param bytes The batch.
 * @param offset Where the record starts.
 * @returns The decoded record.
 * @throws {RangeError} If the record is malformed.
 */
export function decodeRecordAt(
  view: DataView,
  bytes: Uint8Array,
  offset: number,
): HoneRecord {
  const len = recordLength(view, offset);
  const type = u32(view, offset + HDR.type);
  const tsNs = view.getBigUint64(offset + HDR.tsNs, true);
  if (type === REC_PACKET) return decodePacket(view, bytes, offset, len, tsNs);
  if (type === REC_PROC_EXEC) return decodeExec(view, bytes, offset, len, tsNs);
  return decodeFixed(view, bytes, offset, type, tsNs) ?? {
    kind: "unknown",
    tsNs,
    type,
    bytes: bytes.subarray(offset, offset + len),
  };
}

/**
 * A batch as 32-bit words, for reading packet records in place with
 * {@linkcode PACKET_WORDS}: a view of the batch when it starts 4-aligned
 * (every poll's batch does), else of a copy.
 *
 * @param batch Bytes returned by one poll.
 * @returns The words; `words.buffer` holds the batch's bytes at
 * `words.byteOffset`.
 */
export function batchWords(batch: Uint8Array): Uint32Array {
  if (batch.byteOffset % 4 === 0) {
    return new Uint32Array(
      batch.buffer,
      batch.byteOffset,
      batch.byteLength >> 2,
    );
  }
  return new Uint32Array(batch.slice().buffer, 0, batch.byteLength >> 2);
}

/**
 * Checks the packet record at `offset` whose length {@linkcode recordLength}
 * returned, and returns its caplen: its data are the caplen bytes at
 * `offset + PACKET.size`.
 *
 * @param words The batch as words ({@linkcode batchWords}).
 * @param offset Where the record starts (8-aligned).
 * @param len The record's length.
 * @returns The number of packet bytes.
 * @throws {RangeError} If the data do not fit the record.
 */
export function packetCaplen(
  words: Uint32Array,
  offset: number,
  len: number,
): number {
  return checkCaplen(offset, words[(offset >> 2) + PACKET_WORDS.caplen]!, len);
}

function batchView(batch: Uint8Array): DataView {
  return new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
}

/**
 * Calls `visitor` for each record of a batch, in order.
 *
 * @example Count the packets of a batch
 * ```ts
 * import { forEachRecord } from "./decode.ts";
 * let packets = 0;
 * forEachRecord(new Uint8Array(0), (r) => {
 *   if (r.kind === "packet") packets++;
 * });
 * ```
 *
 * @param batch Bytes returned by one poll.
 * @param visitor Called with each decoded record.
 * @returns The number of records.
 * @throws {RangeError} If a record is malformed; records before it were
 * visited.
 */
export function forEachRecord(
  batch: Uint8Array,
  visitor: (record: HoneRecord) => void,
): number {
  const view = batchView(batch);
  let count = 0;
  for (let off = 0; off < batch.length; count++) {
    visitor(decodeRecordAt(view, batch, off));
    off += u32(view, off + HDR.len);
  }
  return count;
}

/**
 * Yields each record of a batch, in order.
 *
 * @example Print exec records
 * ```ts
 * import { decodeRecords } from "./decode.ts";
 * for (const r of decodeRecords(new Uint8Array(0))) {
 *   if (r.kind === "proc_exec") console.log(r.pid, r.argv);
 * }
 * ```
 *
 * @param batch Bytes returned by one poll.
 * @returns A generator of decoded records.
 * @throws {RangeError} If a record is malformed.
 */
export function* decodeRecords(batch: Uint8Array): Generator<HoneRecord> {
  const view = batchView(batch);
  for (let off = 0; off < batch.length;) {
    const record = decodeRecordAt(view, batch, off);
    off += u32(view, off + HDR.len);
    yield record;
  }
}
