/**
 * hone's event model: what every sensor and every capture reader produces,
 * and what every writer consumes.
 *
 * Times are wall-clock, split into whole seconds since the Unix epoch
 * (`sec`) and nanoseconds within that second (`nsec`), so that no
 * nanosecond is lost and no `bigint` is made per event.
 *
 * @module
 */

import type { IpSummary } from "../format/mod.ts";

/** Kinds of process event, as the original Hone named them. */
export type ProcessEventKind = "fork" | "exec" | "exit" | "kthread";

/** Packet direction relative to this host; `null` when the capture does not say. */
export type Direction = "in" | "out" | null;

/** A process was created, replaced its image, exited, or is a kernel thread. */
export interface ProcessEvent {
  /** Discriminant. */
  type: "process";
  /** Seconds since the Unix epoch. */
  sec: number;
  /** Nanoseconds within `sec` (0 to 999 999 999). */
  nsec: number;
  /** What happened. */
  event: ProcessEventKind;
  /** Process id (thread-group id). */
  pid: number;
  /** Thread id, when known. */
  tid: number | null;
  /** Parent process id, when known. */
  ppid: number | null;
  /** Effective user id, when known. */
  uid: number | null;
  /** Effective group id, when known. */
  gid: number | null;
  /** User name, when known. */
  user: string | null;
  /** Group name, when known. */
  group: string | null;
  /** Path of the executable, when known. */
  exe: string | null;
  /** Full argument vector, when known. */
  argv: string[] | null;
  /** Kernel task name (up to 15 bytes), when known. */
  comm: string | null;
  /** Exit code for `exit` events, when known. */
  exitCode: number | null;
  /** cgroup v2 id of the process, when known. */
  cgroup?: number | null;
  /** Network namespace (inode number), when known. */
  netns?: number | null;
}

/** A socket was opened or closed. */
export interface ConnectionEvent {
  /** Discriminant. */
  type: "connection";
  /** Seconds since the Unix epoch. */
  sec: number;
  /** Nanoseconds within `sec`. */
  nsec: number;
  /** What happened. */
  event: "open" | "close";
  /** Connection id (a socket cookie, or the original Hone's socket id). */
  conn: number;
  /** Process id of the socket's owner, when known. */
  pid: number | null;
  /** IP protocol number (6 TCP, 17 UDP, 1 ICMP, ...), when known. */
  proto?: number | null;
  /** Local endpoint, `addr:port` (`[v6]:port`), once known. */
  local?: string | null;
  /** Remote endpoint, `addr:port` (`[v6]:port`), once known. */
  remote?: string | null;
}

/**
 * How a packet's process was known:
 * - `sender`: the thread that sent it, seen in the send itself;
 * - `reader`: the process that read its bytes;
 * - `user`: the socket's most recent user (sender or reader);
 * - `creator`: the process that created the socket;
 * - `snapshot`: a holder of the socket when the capture started;
 * - `connection`: the connection's open event (when reading a file).
 */
export type Attribution = typeof ATTRIBUTIONS[number];

/** Every value of {@linkcode Attribution}, as written in files and JSON. */
export const ATTRIBUTIONS = [
  "sender",
  "reader",
  "user",
  "creator",
  "snapshot",
  "connection",
] as const;

/** One packet, its bytes starting at the IP header. */
export interface PacketEvent {
  /** Discriminant. */
  type: "packet";
  /** Seconds since the Unix epoch. */
  sec: number;
  /** Nanoseconds within `sec`. */
  nsec: number;
  /** Direction, when known. */
  dir: Direction;
  /** Process id the packet belongs to, when known. */
  pid: number | null;
  /** Thread id that sent or read it, when known. */
  tid: number | null;
  /** Connection id, when known. */
  conn: number | null;
  /** Length of the packet on the wire, from the IP header on. */
  len: number;
  /** Captured bytes from the IP header on; `data.length` is the captured length. */
  data: Uint8Array;
  /** How `pid` was known, when it is. */
  how?: Attribution | null;
  /**
   * The IP/transport header summary of `data`, parsed once by the first
   * stage that needs it (`packetSummary` in src/format/ip.ts) and read by
   * every later one. Whoever changes `data` other than by copying it must
   * drop it.
   */
  ip?: IpSummary | null;
  /**
   * True when the sensor ran the filter expression on the whole packet
   * (in the kernel) and kept it: later stages need not run it again on
   * the captured bytes.
   */
  kept?: boolean;
}

/** Counters for one kind of event. */
export interface EventCounts {
  /** Process events. */
  process: number;
  /** Connection events. */
  connection: number;
  /** Packet events. */
  packet: number;
}

/** Capture statistics: what was seen, kept and lost, by kind of event. */
export interface StatsEvent {
  /** Discriminant. */
  type: "stats";
  /** Seconds since the Unix epoch. */
  sec: number;
  /** Nanoseconds within `sec`. */
  nsec: number;
  /** Events the sensor saw (kept or not), when known. */
  received: EventCounts | null;
  /** Events lost before they reached hone (a full kernel buffer). */
  dropped: EventCounts;
  /** Events delivered to the output. */
  delivered: EventCounts | null;
  /** Capture start, when known, as `[sec, nsec]`. */
  start: [number, number] | null;
}

/**
 * Start of a capture section: what the section header and interface said.
 * Writers use it to carry the host's identity over; JSON output omits it.
 */
export interface SectionEvent {
  /** Discriminant. */
  type: "section";
  /** Host id: a string, or a GUID written as 32 lower-case hex digits in braces. */
  hostId: HostId | null;
  /** Operating system description (`shb_os`). */
  os: string | null;
  /** Application that wrote the section (`shb_userappl`). */
  userAppl: string | null;
  /** Hardware description (`shb_hardware`). */
  hardware: string | null;
  /** Section comment. */
  comment: string | null;
  /** Snapshot length of the first interface (0 = unlimited). */
  snaplen: number;
}

/** Host identity in a section header (original Hone SHB option 257). */
export type HostId =
  | { kind: "string"; value: string }
  | { kind: "guid"; value: Uint8Array };

/** Any event hone handles. */
export type HoneEvent =
  | ProcessEvent
  | ConnectionEvent
  | PacketEvent
  | StatsEvent
  | SectionEvent;

/**
 * Makes a process event with every optional field unknown.
 *
 * @param fields The fields to set; the rest are `null`.
 * @returns A complete process event.
 *
 * @example Usage
 * ```ts
 * import { processEvent } from "./types.ts";
 * const e = processEvent({ sec: 1, nsec: 0, event: "exec", pid: 42 });
 * if (e.ppid !== null) throw new Error("ppid should be unknown");
 * ```
 */
export function processEvent(
  fields:
    & Pick<ProcessEvent, "sec" | "nsec" | "event" | "pid">
    & Partial<ProcessEvent>,
): ProcessEvent {
  return {
    type: "process",
    tid: null,
    ppid: null,
    uid: null,
    gid: null,
    user: null,
    group: null,
    exe: null,
    argv: null,
    comm: null,
    exitCode: null,
    ...fields,
  };
}

/**
 * Makes an all-zero set of counters.
 *
 * @returns `{ process: 0, connection: 0, packet: 0 }`.
 *
 * @example Usage
 * ```ts
 * import { zeroCounts } from "./types.ts";
 * const c = zeroCounts();
 * c.packet++;
 * ```
 */
export function zeroCounts(): EventCounts {
  return { process: 0, connection: 0, packet: 0 };
}
