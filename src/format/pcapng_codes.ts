/**
 * Block types and option codes of PCAP-NG (draft-ietf-opsawg-pcapng) and of
 * the original Hone's additions (hone-pcapng.txt and its kernel code), plus
 * the codes hone adds. Writers and readers share these names.
 *
 * @module
 */

/** Section Header Block (spec §4.1). */
export const BT_SHB = 0x0a0d0d0a;
/** Interface Description Block (spec §4.2). */
export const BT_IDB = 0x00000001;
/** Obsolete Packet Block (spec appendix). */
export const BT_PB = 0x00000002;
/** Simple Packet Block (spec §4.4). */
export const BT_SPB = 0x00000003;
/** Interface Statistics Block (spec §4.6). */
export const BT_ISB = 0x00000005;
/** Enhanced Packet Block (spec §4.3). */
export const BT_EPB = 0x00000006;
/** Hone Process Event Block. */
export const BT_HONE_PROCESS = 0x00000101;
/** Hone Connection Event Block. */
export const BT_HONE_CONNECTION = 0x00000102;

/** Byte-order magic of a section header. */
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** End of options. */
export const OPT_ENDOFOPT = 0;
/** A UTF-8 comment, on any block. */
export const OPT_COMMENT = 1;

/** SHB: hardware description. */
export const SHB_HARDWARE = 2;
/** SHB: operating system. */
export const SHB_OS = 3;
/** SHB: application that wrote the section. */
export const SHB_USERAPPL = 4;
/** SHB: Hone host id (type byte then string, or type word 1 then GUID). */
export const SHB_HONE_HOSTID = 257;
/**
 * SHB, added by hone (local use, no value): the section may hold copy
 * blocks ({@linkcode BT_HONE_COPY}), so a reader keeps its latest packets
 * for them; other sections cost a reader nothing for copy blocks.
 */
export const SHB_HONE_COPIES = 0xf0e2;

/** IDB: interface name. */
export const IF_NAME = 2;
/** IDB: interface description. */
export const IF_DESCRIPTION = 3;
/** IDB: timestamp resolution. */
export const IF_TSRESOL = 9;
/** IDB: timestamp offset in seconds. */
export const IF_TSOFFSET = 14;

/** EPB: flags word (bits 0-1: direction, 1 = inbound, 2 = outbound). */
export const EPB_FLAGS = 2;
/** EPB: process id and thread id (two u32). */
export const EPB_PROCESSID_THREADID = 8;
/** EPB: Hone connection id (u32; u64 in the Google fork). */
export const EPB_HONE_CONN = 257;
/** EPB: Hone process id (u32). */
export const EPB_HONE_PID = 258;

/** Hone process block: event (absent = exec, 1 fork, 0xffffffff exit, 2 kernel thread). */
export const PEB_EVENT = 2;
/** Hone process block: executable path. */
export const PEB_PATH = 3;
/** Hone process block: argv, each argument NUL-terminated. */
export const PEB_ARGV = 4;
/**
 * EPB, added by hone (local use): how the pid was known (string). Away from
 * the local-use codes Apple's libpcap and Wireshark define (0x8001–0x800A).
 */
export const EPB_HONE_HOW = 0xf0e1;
/**
 * EPB: where hone before 0.2 wrote {@linkcode EPB_HONE_HOW}; Apple's code
 * for the process's index, still read as "how" when it holds one.
 */
export const EPB_HONE_HOW_LEGACY = 0x8001;
/** Apple's Process Information Block (local use; Wireshark ≥ 4.6 shows it). */
export const BT_APPLE_PIB = 0x80000001;
/** Apple's PIB: process name. */
export const PIB_NAME = 2;
/** Apple's PIB: process path. */
export const PIB_PATH = 3;
/** Apple's EPB option: index of the packet's process's PIB in the section. */
export const EPB_APPLE_PIB_INDEX = 0x8001;
/** Apple's EPB option: index of the effective process's PIB. */
export const EPB_APPLE_E_PIB_INDEX = 0x8003;
/**
 * hone's packet copy block (local use): the second copy of a packet seen
 * twice (loopback: sent, then received), written with `--loopback-once`
 * instead of a second EPB that Wireshark would call a retransmission.
 * Body: interface id, timestamp (high, low), the EPB ordinal in the
 * section of the first copy; then the EPB's options (257, 258, 2, 8,
 * 0xF0E1). tshark skips it.
 */
export const BT_HONE_COPY = 0x80000f01;
/** Custom block, copiable (pcapng spec). */
export const BT_CUSTOM = 0x00000bad;
/** Private Enterprise Number of Wireshark's custom blocks. */
export const PEN_WIRESHARK = 32622;
/** Wireshark's custom block entry: process information. */
export const WS_ENTRY_PROCESS = 3;
/** Wireshark process information: command line (NUL-separated argv). */
export const WS_PIB_CMDLINE = 4;
/** Wireshark process information: parent pid (u32). */
export const WS_PIB_PPID = 5;
/** Wireshark process information: uid (u32). */
export const WS_PIB_UID = 6;
/** Wireshark process information: user name. */
export const WS_PIB_USER = 7;
/** Wireshark process information: start time (u64 ns since the epoch). */
export const WS_PIB_START = 9;

/** Hone process block: parent process id. */
export const PEB_PPID = 5;
/** Hone process block: effective user id. */
export const PEB_EUID = 6;
/** Hone process block: effective group id. */
export const PEB_EGID = 7;
/** Hone process block: user name (string; a u32 euid in the Google fork). */
export const PEB_USER = 8;
/** Hone process block: group name (string; a u32 loginuid in the Google fork). */
export const PEB_GROUP = 9;
/** Hone process block, Google fork: exit code. */
export const PEB_GOOGLE_EXIT_CODE = 10;
/** Hone process block, added by hone (local use): kernel task name. */
export const PEB_HONE_COMM = 0x8001;
/** Hone process block, added by hone (local use): thread id. */
export const PEB_HONE_TID = 0x8002;
/** Hone process block, added by hone (local use): exit code (i32). */
export const PEB_HONE_EXIT_CODE = 0x8003;
/** Hone process block, added by hone (local use): cgroup v2 id (u64). */
export const PEB_HONE_CGROUP = 0x8004;
/** Hone process block, added by hone (local use): network namespace inode (u32). */
export const PEB_HONE_NETNS = 0x8005;

/** Hone connection block: event (absent or 0 = open, 0xffffffff = close). */
export const CEB_EVENT = 2;
/** Hone connection block, added by hone (local use): IP protocol (u32). */
export const CEB_HONE_PROTO = 0x8001;
/** Hone connection block, added by hone (local use): local endpoint (string). */
export const CEB_HONE_LOCAL = 0x8002;
/** Hone connection block, added by hone (local use): remote endpoint (string). */
export const CEB_HONE_REMOTE = 0x8003;

/** ISB: capture start time. */
export const ISB_STARTTIME = 2;
/** ISB: capture end time. */
export const ISB_ENDTIME = 3;
/** ISB: packets received. */
export const ISB_IFRECV = 4;
/** ISB: packets dropped by the interface. */
export const ISB_IFDROP = 5;
/** ISB: packets accepted by the filter. */
export const ISB_FILTERACCEPT = 6;
/** ISB: packets dropped by the operating system. */
export const ISB_OSDROP = 7;
/** ISB: packets delivered to the user. */
export const ISB_USRDELIV = 8;
/** ISB, Hone: process events received. */
export const ISB_HONE_PROC_RECV = 257;
/** ISB, Hone: process events dropped. */
export const ISB_HONE_PROC_DROP = 258;
/** ISB, Hone: process events dropped by the reader. */
export const ISB_HONE_PROC_RDROP = 259;
/** ISB, Hone: process events delivered. */
export const ISB_HONE_PROC_DELIV = 260;
/** ISB, Hone: connection events received. */
export const ISB_HONE_CONN_RECV = 261;
/** ISB, Hone: connection events dropped. */
export const ISB_HONE_CONN_DROP = 262;
/** ISB, Hone: connection events dropped by the reader. */
export const ISB_HONE_CONN_RDROP = 263;
/** ISB, Hone: connection events delivered. */
export const ISB_HONE_CONN_DELIV = 264;

/** Link type: raw IPv4/IPv6, packet starts at the IP header. */
export const LINKTYPE_RAW = 101;
