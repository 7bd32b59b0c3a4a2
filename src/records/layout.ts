/**
 * TypeScript mirror of `ffi/hone.h`: record types, flags and the byte
 * offset of every field. All values are little-endian (x86-64 host
 * order). `layout_test.ts` checks the sizes against `hone_record_size()`
 * of the built shim.
 *
 * @module
 */

/** ABI version the layouts below describe (`HONE_ABI_VERSION`). */
export const HONE_ABI_VERSION = 4;

/** Record type: a packet (`struct hone_packet` + data). */
export const REC_PACKET = 1;
/** Record type: an inet socket was created (`struct hone_sock_create`). */
export const REC_SOCK_CREATE = 2;
/** Record type: an inet socket was closed (`struct hone_sock_release`). */
export const REC_SOCK_RELEASE = 3;
/** Record type: a socket's user changed (`struct hone_sock_use`). */
export const REC_SOCK_USE = 4;
/** Record type: a task was created (`struct hone_proc_fork`). */
export const REC_PROC_FORK = 5;
/** Record type: a task executed a program (`struct hone_proc_exec`). */
export const REC_PROC_EXEC = 6;
/** Record type: a task exited (`struct hone_proc_exit`). */
export const REC_PROC_EXIT = 7;
/** Record type: a socket fd found at start-up (`struct hone_snap_socket`). */
export const REC_SNAP_SOCKET = 8;

/** Largest number of packet bytes one packet record carries. */
export const SNAPLEN_MAX = 65536;
/** Cap on the filename of an exec record. */
export const FILENAME_MAX = 1024;
/** Cap on the argument bytes of an exec record. */
export const ARGV_MAX = 4096;
/** Cap on the resolved executable path of an exec record, NUL included. */
export const EXE_MAX = 1024;
/** Size of a `comm` field (task name, NUL-padded). */
export const COMM_LEN = 16;

/** `dir` value: received (packets) or recv (socket use). */
export const DIR_IN = 1;
/** `dir` value: sent (packets) or send (socket use). */
export const DIR_OUT = 2;

/** Packet flag: the packet came from netfilter, not cgroup_skb. */
export const PKT_NETFILTER = 1 << 0;
/**
 * Packet flag: sent inside its sender's call (ffi/hone.bpf.c, pkt_task()),
 * so pid/tid are the sender's.
 */
export const PKT_TASK = 1 << 1;
/** Packet flag: only the linear part of the packet could be read. */
export const PKT_LINEAR = 1 << 3;
/** Packet flag: the filter expression ran in the kernel and kept it. */
export const PKT_KEPT = 1 << 4;

/** Fork flag: the new task is a thread of an existing process. */
export const FORK_THREAD = 1 << 0;
/** Fork flag: the new task is a kernel thread. */
export const FORK_KTHREAD = 1 << 1;

/** Exec flag: argv was longer than {@linkcode ARGV_MAX} and was cut. */
export const EXEC_ARGV_TRUNC = 1 << 0;
/** Exec flag: the filename was cut at {@linkcode FILENAME_MAX}. */
export const EXEC_FILENAME_TRUNC = 1 << 1;
/** Exec flag: the argument area could not be read. */
export const EXEC_ARGV_FAULT = 1 << 2;
/** Exec flag: the resolved exe path lacks its leading components. */
export const EXEC_EXE_TRUNC = 1 << 3;

/** Socket use flag: the socket's counters started at this call. */
export const USE_FIRST = 1 << 0;
/** Socket use flag: an earlier record of this direction was lost. */
export const USE_LOST = 1 << 1;
/** Socket use flag: `tcp_seq` is valid (a TCP socket). */
export const USE_TCP_SEQ = 1 << 2;

/** Exit flag: the last thread exited, so the process ended. */
export const EXIT_GROUP_DEAD = 1 << 0;
/** Exit flag: the exiting task is the thread group leader. */
export const EXIT_LEADER = 1 << 1;

/** Option flag: also attach the netfilter hooks. */
export const OPT_NETFILTER = 1 << 0;
/** Option flag: skip the start-up socket snapshot. */
export const OPT_NO_SNAPSHOT = 1 << 1;

/** Stats flag: the netfilter hooks are attached. */
export const STAT_NETFILTER = 1 << 0;
/** Stats flag: netfilter was asked for but is unavailable. */
export const STAT_NF_FAILED = 1 << 1;
/** Stats flag: the filter expression runs in the kernel. */
export const STAT_CBPF = 1 << 2;

/** `hone_record_size()` argument for `struct hone_rec_hdr`. */
export const SIZEOF_REC_HDR = 0x100;
/** `hone_record_size()` argument for `struct hone_options`. */
export const SIZEOF_OPTIONS = 0x101;
/** `hone_record_size()` argument for `struct hone_stats`. */
export const SIZEOF_STATS = 0x102;

/** `struct hone_rec_hdr`: common to every record. */
export const HDR = {
  type: 0,
  len: 4,
  tsNs: 8,
  size: 16,
} as const;

/** `struct hone_packet`, followed by `caplen` bytes from the IP header. */
export const PACKET = {
  cookie: 16,
  pid: 24,
  tid: 28,
  ifindex: 32,
  len: 36,
  caplen: 40,
  dir: 44,
  protocol: 48,
  flags: 52,
  size: 56,
} as const;

/**
 * `struct hone_rec_hdr` and `struct hone_packet` as indexes of 32-bit
 * words from the record's start, for reading a batch in place (a record
 * starts 8-aligned; every field is one u32 or two, in host order, which
 * is the little-endian order above on the hosts hone is built for).
 */
export const PACKET_WORDS = {
  type: HDR.type >> 2,
  recLen: HDR.len >> 2,
  /** Low word of the time stamp; the high word follows. */
  tsNs: HDR.tsNs >> 2,
  /** Low word of the cookie; the high word follows. */
  cookie: PACKET.cookie >> 2,
  pid: PACKET.pid >> 2,
  tid: PACKET.tid >> 2,
  ifindex: PACKET.ifindex >> 2,
  len: PACKET.len >> 2,
  caplen: PACKET.caplen >> 2,
  dir: PACKET.dir >> 2,
  protocol: PACKET.protocol >> 2,
  flags: PACKET.flags >> 2,
} as const;

/** `struct hone_sock_create`. */
export const SOCK_CREATE = {
  cookie: 16,
  pid: 24,
  tid: 28,
  family: 32,
  type: 36,
  protocol: 40,
  netns: 44,
  size: 48,
} as const;

/** `struct hone_sock_release`. */
export const SOCK_RELEASE = {
  cookie: 16,
  pid: 24,
  tid: 28,
  size: 32,
} as const;

/** `struct hone_sock_use`. */
export const SOCK_USE = {
  cookie: 16,
  pid: 24,
  tid: 28,
  dir: 32,
  len: 36,
  bytesBefore: 40,
  callsBefore: 48,
  flags: 56,
  tcpSeq: 60,
  size: 64,
} as const;

/** `struct hone_proc_fork`. */
export const PROC_FORK = {
  pid: 16,
  tid: 20,
  ppid: 24,
  ptid: 28,
  flags: 32,
  netns: 36,
  cgroupId: 40,
  comm: 48,
  size: 64,
} as const;

/** `struct hone_proc_exec`, followed by the filename, argv, then exe. */
export const PROC_EXEC = {
  pid: 16,
  tid: 20,
  oldTid: 24,
  ppid: 28,
  uid: 32,
  gid: 36,
  flags: 40,
  filenameLen: 44,
  argvLen: 48,
  exeLen: 52,
  cgroupId: 56,
  netns: 64,
  comm: 72,
  size: 88,
} as const;

/** `struct hone_proc_exit`. */
export const PROC_EXIT = {
  pid: 16,
  tid: 20,
  exitCode: 24,
  flags: 28,
  size: 32,
} as const;

/** `struct hone_snap_socket`. */
export const SNAP_SOCKET = {
  cookie: 16,
  pid: 24,
  fd: 28,
  family: 32,
  type: 36,
  protocol: 40,
  netns: 44,
  size: 48,
} as const;

/** Size of `struct hone_options.cgroup_path`, NUL included. */
export const CGROUP_PATH_MAX = 512;

/** `struct hone_options`, the argument of `hone_start()`. */
export const OPTIONS = {
  abiVersion: 0,
  flags: 4,
  snaplen: 8,
  selfPid: 12,
  ringbufBytes: 16,
  wakeupBytes: 24,
  cgroupPath: 32,
  filter: 544,
  filterUid: 548,
  filterCgroup: 552,
  filterComm: 560,
  filterNpids: 576,
  filterPids: 580,
  cbpfLen: 836,
  cbpf: 840,
  size: 2888,
} as const;

/** Most instructions of a filter expression the kernel runs (`HONE_CBPF_MAX`). */
export const CBPF_MAX = 256;

/** `struct hone_cbpf_insn`: one classic BPF instruction (8 bytes). */
export interface CbpfInsn {
  /** Opcode (u16). */
  code: number;
  /** Jump offset if true (u8). */
  jt: number;
  /** Jump offset if false (u8). */
  jf: number;
  /** Constant (u32). */
  k: number;
}

/** `struct hone_options.filter`: tgid in the list. */
export const FILTER_PID = 1 << 0;
/** `struct hone_options.filter`: ... or forked from one in it. */
export const FILTER_CHILDREN = 1 << 1;
/** `struct hone_options.filter`: the task's comm. */
export const FILTER_COMM = 1 << 2;
/** `struct hone_options.filter`: the task's effective uid. */
export const FILTER_UID = 1 << 3;
/** `struct hone_options.filter`: the task's cgroup v2 id. */
export const FILTER_CGROUP = 1 << 4;
/** Most tgids `struct hone_options.filter_pids` holds. */
export const FILTER_PIDS_MAX = 64;

/** `struct hone_stats`, filled by `hone_stats()`. */
export const STATS = {
  packetsSeen: 0,
  packetsDropped: 8,
  nfPackets: 16,
  selfSkipped: 24,
  procSeen: 32,
  procDropped: 40,
  sockSeen: 48,
  sockDropped: 56,
  snapSockets: 64,
  ringbufBytes: 72,
  flags: 80,
  nfError: 84,
  snaplen: 88,
  size: 96,
} as const;

/** Fixed size of each record type, by type number. */
export const RECORD_SIZES: Readonly<Record<number, number>> = {
  [REC_PACKET]: PACKET.size,
  [REC_SOCK_CREATE]: SOCK_CREATE.size,
  [REC_SOCK_RELEASE]: SOCK_RELEASE.size,
  [REC_SOCK_USE]: SOCK_USE.size,
  [REC_PROC_FORK]: PROC_FORK.size,
  [REC_PROC_EXEC]: PROC_EXEC.size,
  [REC_PROC_EXIT]: PROC_EXIT.size,
  [REC_SNAP_SOCKET]: SNAP_SOCKET.size,
};
