/**
 * Correlation of the eBPF sensor's records into hone events: who owns each
 * socket (creator, snapshot holder, last sender or reader), which process
 * each packet belongs to, and process events with names filled in.
 *
 * A packet whose socket has no known owner yet (the first packets of an
 * accept()ed socket, whose owner is learned at its first recv or send) is
 * held back, with everything after it so order is kept, until its owner
 * is known or a bounded delay passes.
 *
 * @module
 */

import {
  type Attribution,
  BatchedPacket,
  type ChunkEvent,
  type ConnectionEvent,
  expandRuns,
  type HoneEvent,
  HOW_FLAGS,
  MAX_RUN_PACKETS,
  PACKET_RUN_WORDS,
  type PacketEvent,
  PacketRun,
  type ProcessEvent,
  RUN_IN,
  RUN_KEPT,
  RUN_NONE,
  RUN_OUT,
} from "../events/mod.ts";
import {
  emptySummary,
  formatAddress,
  type IpSummary,
  packetSummary,
  summarizeIp,
} from "../format/mod.ts";
import { processEvent } from "../events/mod.ts";
import { setBounded } from "../events/mod.ts";
import type {
  HoneRecord,
  ProcExecRecord,
  ProcExitRecord,
  ProcForkRecord,
  SnapSocketRecord,
  SockCreateRecord,
  SockReleaseRecord,
  SockUseRecord,
} from "../records/mod.ts";
import {
  batchWords,
  decodeRecordAt,
  PACKET,
  PACKET_WORDS as PW,
  packetCaplen,
  PKT_KEPT,
  PKT_TASK,
  REC_PACKET,
  recordLength,
} from "../records/mod.ts";
import { type Held, HoldQueue } from "./hold_queue.ts";
import { addCall, callAt, newTimeline, type Timeline } from "./timeline.ts";

type SockRecord =
  | SockCreateRecord
  | SockReleaseRecord
  | SockUseRecord
  | SnapSocketRecord;

const NS = 1_000_000_000n;

/** Options of {@linkcode SensorCorrelator}. */
export interface CorrelatorOptions {
  /** Wall clock minus boot clock, in seconds and nanoseconds. */
  clockOffset: [number, number];
  /**
   * Longest time a packet waits for its socket's owner, in milliseconds
   * (a server under load may read its accepted socket late).
   *
   * @default {1000}
   */
  holdMs?: number;
  /** User name of a uid. */
  userName?: (uid: number) => string | null;
  /** Group name of a gid. */
  groupName?: (gid: number) => string | null;
  /** Canonical executable of a live process (e.g. /proc/PID/exe). */
  exePath?: (pid: number) => string | null;
  /** Full argv of a live process (e.g. /proc/PID/cmdline), when the kernel's copy was cut. */
  argvOf?: (pid: number) => string[] | null;
  /**
   * Keep each packet's header summary on its event (`ip`), for writers
   * that print it (JSON, text); without, one scratch summary is reused and
   * nothing is allocated per packet for it (pcapng).
   *
   * @default {true}
   */
  keepSummaries?: boolean;
  /**
   * Pass the packets of a batch that are attributed at once, with nothing
   * held before them, as {@linkcode PacketRun}s (read by `drainChunk`;
   * `drain` takes them apart). Only without `keepSummaries`.
   *
   * @default {false}
   */
  runs?: boolean;
}

interface Owner {
  pid: number;
  tid: number;
  how: Attribution;
}

interface ConnInfo {
  proto: number | null;
  local: string | null;
  remote: string | null;
}

/** What is known of one socket: found with one lookup per packet. */
interface Sock {
  /** Who created, held (snapshot) or last used it; null until known. */
  owner: Owner | null;
  /** Its protocol and endpoints; null until a record or packet tells. */
  info: ConnInfo | null;
  /** Datagrams received so far: the next one's position in the stream. */
  inCount: number;
  /** More than one process may use it: packets go by the use ranges. */
  shared: boolean;
}

function newSock(): Sock {
  return { owner: null, info: null, inCount: 0, shared: false };
}

function protoOf(type: number, protocol: number): number | null {
  if (protocol) return protocol;
  return type === 1 ? 6 : type === 2 ? 17 : null;
}

function endpoint(d: Uint8Array, ip: IpSummary, src: boolean): string | null {
  const a = formatAddress(d, ip, src);
  if (a === null) return null;
  const port = src ? ip.sport : ip.dport;
  if (port < 0) return a;
  return ip.version === 6 ? `[${a}]:${port}` : `${a}:${port}`;
}

/** Words of a slab of packet runs' fields (1 MiB: 26 214 packets). */
const RUN_SLAB_WORDS = 1 << 18;

/** Most sockets (and their counters and owners) remembered at once. */
const MAX_SOCKETS = 1 << 18;

/** Counters the correlator keeps. */
export interface CorrelatorCounts {
  /** Packets emitted. */
  packets: number;
  /** Packets emitted without a process. */
  noProcess: number;
  /** Process events emitted. */
  processes: number;
  /** Connection events emitted. */
  connections: number;
}

/**
 * Turns sensor records into hone events.
 *
 * @example Usage
 * ```ts
 * import { SensorCorrelator } from "./sensor_correlator.ts";
 * const c = new SensorCorrelator({ clockOffset: [1_700_000_000, 0] });
 * c.push([{ kind: "sock_create", tsNs: 1n, cookie: 9, pid: 42, tid: 42, family: 2, type: 1, protocol: 6, netns: 1 }], 0);
 * const out = c.drain(0);
 * if (out[0]?.type !== "connection") throw new Error();
 * ```
 */
export class SensorCorrelator {
  #o: Required<CorrelatorOptions>;
  #socks = new Map<number, Sock>();
  // The socket of the last lookup: floods come in runs on one socket.
  #lastCookie = 0;
  #lastSock: Sock | null = null;
  #procs = new Map<number, ProcessEvent>();
  /** Sockets that waited in vain for an owner: kernel sockets (RST, ICMP). */
  #ownerless = new Set<number>();
  #readers = new Map<number, Timeline>();
  #senders = new Map<number, Timeline>();
  #byPid = new Map<number, Set<number>>();
  #hold = new HoldQueue();
  #settleFn = (h: Held, final: boolean) => this.#settle(h, final);
  /** What was emitted so far. */
  readonly counts: CorrelatorCounts = {
    packets: 0,
    noProcess: 0,
    processes: 0,
    connections: 0,
  };

  /**
   * Makes a correlator.
   *
   * @param options Clock offset, hold time and name lookups.
   */
  constructor(options: CorrelatorOptions) {
    this.#o = {
      holdMs: 1000,
      userName: () => null,
      groupName: () => null,
      exePath: () => null,
      argvOf: () => null,
      keepSummaries: true,
      runs: false,
      ...options,
    };
    this.#runs = this.#o.runs && !this.#o.keepSummaries;
  }

  /** Whether packets may go on as runs. */
  #runs: boolean;
  /** The run of the batch being read, until an event must follow it. */
  #run: PacketRun | null = null;
  /** The slab of the runs' fields, and where its free words start. */
  #slab = new Uint32Array(RUN_SLAB_WORDS);
  #slabAt = 0;
  // What #quick found: the packet's pid and tid (RUN_NONE: unknown) and
  // how.
  #qPid = RUN_NONE;
  #qTid = RUN_NONE;
  #qHow = 0;

  /** The summary reused when summaries are not kept. */
  #scratch = emptySummary();

  // Wall-clock time of the record last stamped (no array per record).
  #sec = 0;
  #nsec = 0;

  #stamp(r: { tsNs: bigint }): void {
    const n = Number(r.tsNs);
    if (n < 9e15) return this.#stampNs(n);
    const s = r.tsNs / NS;
    this.#stampSplit(Number(s), Number(r.tsNs - s * NS));
  }

  /** Stamps a boot time given as its low and high 32-bit words. */
  #stampWords(lo: number, hi: number): void {
    // Exact below 2^53 ns (104 days of uptime), else through a bigint.
    if (hi < 0x200000) return this.#stampNs(hi * 0x100000000 + lo);
    this.#stamp({ tsNs: (BigInt(hi) << 32n) | BigInt(lo) });
  }

  // The boot second last stamped: its start in boot nanoseconds, and its
  // wall-clock second (records come in bursts within one second).
  #bootSecStart = -1;
  #bootSecWall = 0;

  #stampNs(n: number): void {
    let d = n - this.#bootSecStart;
    if (d < 0 || d >= 1e9 || this.#bootSecStart < 0) {
      let sec = Math.floor(n / 1e9);
      d = n - sec * 1e9;
      // The division rounds: put an off-by-one back.
      if (d < 0) d += 1e9, sec--;
      else if (d >= 1e9) d -= 1e9, sec++;
      this.#bootSecStart = sec * 1e9;
      this.#bootSecWall = sec + this.#o.clockOffset[0];
    }
    let sec = this.#bootSecWall;
    let nsec = d + this.#o.clockOffset[1];
    if (nsec >= 1e9) nsec -= 1e9, sec++;
    this.#sec = sec;
    this.#nsec = nsec;
  }

  #stampSplit(sec: number, nsec: number): void {
    sec += this.#o.clockOffset[0];
    nsec += this.#o.clockOffset[1];
    if (nsec >= 1e9) nsec -= 1e9, sec++;
    this.#sec = sec;
    this.#nsec = nsec;
  }

  /**
   * Adds process events that did not come from the sensor (the /proc
   * snapshot), in order, ahead of everything held.
   *
   * @param events The events.
   */
  addProcesses(events: ProcessEvent[]): void {
    for (const e of events) {
      e.user ??= e.uid !== null ? this.#o.userName(e.uid) : null;
      e.group ??= e.gid !== null ? this.#o.groupName(e.gid) : null;
      this.#remember(e);
      this.#emit(e, 0, 0);
    }
  }

  /**
   * Takes a batch of records.
   *
   * @param records The records, in order.
   * @param nowMs The current time in milliseconds (any monotonic clock).
   */
  push(records: Iterable<HoneRecord>, nowMs: number): void {
    for (const r of records) {
      if (r.kind === "packet") {
        this.#stamp(r);
        const e: PacketEvent = {
          type: "packet",
          sec: this.#sec,
          nsec: this.#nsec,
          dir: r.dir === 2 ? "out" : "in",
          pid: null,
          tid: null,
          conn: r.cookie || null,
          len: r.len,
          data: r.data,
          how: null,
          kept: (r.flags & PKT_KEPT) !== 0,
        };
        this.#packet(
          e,
          r.cookie,
          r.pid,
          r.tid,
          (r.flags & ~PKT_TASK) | (r.taskContext ? PKT_TASK : 0),
          nowMs,
        );
      } else this.#record(r, nowMs);
    }
    this.#hold.resolve(this.#settleFn);
  }

  /**
   * Takes a batch of records as the sensor wrote them, reading packet
   * records in place (no record object, no `bigint` per packet).
   *
   * @param batch Bytes returned by one poll (`ffi/hone.h` records).
   * @param nowMs The current time in milliseconds (any monotonic clock).
   * @throws {RangeError} If a record is malformed; the records before it
   * were taken.
   */
  pushBatch(batch: Uint8Array, nowMs: number): void {
    const words = batchWords(batch);
    const bytes = new Uint8Array(words.buffer, words.byteOffset, batch.length);
    const view = new DataView(words.buffer, words.byteOffset, batch.length);
    try {
      for (let off = 0; off < bytes.length;) {
        const len = recordLength(view, off);
        const w = off >> 2;
        if (words[w + PW.type] === REC_PACKET) {
          const caplen = packetCaplen(words, off, len);
          this.#stampWords(words[w + PW.tsNs]!, words[w + PW.tsNs + 1]!);
          const cookie = words[w + PW.cookie]! +
            words[w + PW.cookie + 1]! * 0x100000000;
          const flags = words[w + PW.flags]!;
          const out = words[w + PW.dir] === 2;
          if (
            this.#runs && this.#hold.empty &&
            this.#quick(
              cookie,
              out,
              flags,
              words[w + PW.pid]!,
              words[w + PW.tid]!,
            )
          ) {
            let run = this.#run;
            if (run === null || run.full) {
              if (run !== null) this.#closeRun();
              // No more packets than records of a packet's size.
              run = this.#run = this.#openRun(
                words,
                Math.ceil((bytes.length - off) / PACKET.size),
              );
            }
            const pid = this.#qPid;
            run.push(
              this.#sec,
              this.#nsec,
              words[w + PW.len]!,
              off + PACKET.size,
              caplen,
              words[w + PW.cookie]!,
              words[w + PW.cookie + 1]!,
              (out ? RUN_OUT : RUN_IN) | (flags & PKT_KEPT ? RUN_KEPT : 0) |
                this.#qHow,
              pid,
              this.#qTid,
            );
            this.counts.packets++;
            if (pid === RUN_NONE) this.counts.noProcess++;
            off += len;
            continue;
          }
          // No view of the packet's bytes until a stage asks for them.
          const e = new BatchedPacket(
            this.#sec,
            this.#nsec,
            out ? "out" : "in",
            cookie || null,
            words[w + PW.len]!,
            words,
            off + PACKET.size,
            caplen,
            (flags & PKT_KEPT) !== 0,
          );
          this.#packet(
            e,
            cookie,
            words[w + PW.pid]!,
            words[w + PW.tid]!,
            flags,
            nowMs,
          );
        } else this.#record(decodeRecordAt(view, bytes, off), nowMs);
        off += len;
      }
    } finally {
      if (this.#run !== null) this.#closeRun();
      this.#hold.resolve(this.#settleFn);
    }
  }

  /** A run for up to `want` packets of a batch, in the slab. */
  #openRun(words: Uint32Array, want: number): PacketRun {
    const n = Math.min(want, MAX_RUN_PACKETS) * PACKET_RUN_WORDS;
    if (this.#slabAt + n > this.#slab.length) {
      // The full slab stays with its runs.
      this.#slab = new Uint32Array(RUN_SLAB_WORDS);
      this.#slabAt = 0;
    }
    return new PacketRun(words, this.#slab, this.#slabAt, want);
  }

  /** Passes the open run on: an event must follow it, or the batch ended. */
  #closeRun(): void {
    const run = this.#run!;
    this.#run = null;
    this.#slabAt = run.end;
    this.#hold.pass(run);
  }

  /**
   * Whether a packet is attributed at once as #packet would attribute it
   * with no summary kept (no header to read, no stream position to look
   * up, no owner to wait for); if so #qPid, #qTid and #qHow say how. Its
   * choice of sender, owner or no process is #packet's last part, written
   * out again: one function for both cost #packet's callers 10-25 ns a
   * record in bench/record_replay.ts (NO_RUNS=1, three interleaved pairs).
   */
  #quick(
    cookie: number,
    out: boolean,
    flags: number,
    pid: number,
    tid: number,
  ): boolean {
    const sock = cookie ? this.#sock(cookie) : null;
    let udpIn = false;
    if (sock !== null) {
      const info = sock.info;
      if (
        sock.shared || info === null || info.remote === null ||
        (info.proto !== 6 && info.proto !== 17)
      ) return false;
      udpIn = info.proto !== 6 && !out;
    }
    if (out && (flags & PKT_TASK) !== 0 && pid !== 0) {
      this.#qPid = pid;
      this.#qTid = tid;
      this.#qHow = HOW_FLAGS.sender;
    } else {
      const o = sock !== null ? sock.owner : null;
      if (o !== null) {
        this.#qPid = o.pid;
        this.#qTid = out && o.tid ? o.tid : RUN_NONE;
        this.#qHow = HOW_FLAGS[o.how];
      } else if (cookie === 0 || this.#ownerless.has(cookie)) {
        this.#qPid = RUN_NONE;
        this.#qTid = RUN_NONE;
        this.#qHow = 0;
      } else return false;
    }
    // Datagrams are read in order: counted, as #packet counts them.
    if (udpIn) sock!.inCount++;
    return true;
  }

  #record(r: HoneRecord, nowMs: number): void {
    switch (r.kind) {
      case "sock_create":
      case "snap_socket":
      case "sock_use":
      case "sock_release":
        this.#sockRecord(r, nowMs);
        break;
      case "proc_fork":
        this.#fork(r, nowMs);
        break;
      case "proc_exec":
        this.#exec(r, nowMs);
        break;
      case "proc_exit":
        this.#exit(r, nowMs);
        break;
    }
  }

  /**
   * Returns the events ready to write: everything before the first packet
   * still waiting for its owner, plus whatever has waited past its
   * deadline.
   *
   * @param nowMs The current time in milliseconds.
   * @param all Release everything (at the end of a capture).
   * @returns The events, in order.
   */
  drain(nowMs: number, all = false): HoneEvent[] {
    return expandRuns(this.drainChunk(nowMs, all));
  }

  /**
   * {@linkcode drain}, with the packets passed as runs kept as runs.
   *
   * @param nowMs The current time in milliseconds.
   * @param all Release everything (at the end of a capture).
   * @returns The events and runs, in order.
   */
  drainChunk(nowMs: number, all = false): ChunkEvent[] {
    return this.#hold.drain(nowMs, all, this.#settleFn);
  }

  #emit(
    event: HoneEvent,
    cookie: number,
    deadlineMs: number,
    pos = -1,
    tcp = false,
  ): void {
    if (this.#run !== null) this.#closeRun();
    if (event.type === "process") this.counts.processes++;
    else if (event.type === "connection") this.counts.connections++;
    if (cookie !== 0) {
      this.#hold.hold(event, cookie, deadlineMs, pos, tcp);
      return;
    }
    if (event.type === "packet") this.#countPacket(event);
    this.#hold.pass(event);
  }

  #countPacket(p: PacketEvent): void {
    this.counts.packets++;
    if (p.pid === null) this.counts.noProcess++;
  }

  /** Settles a held packet; false when it must wait longer. */
  #settle(h: Held, final: boolean): boolean {
    const p = h.event as PacketEvent;
    const out = p.dir === "out";
    if (h.pos >= 0 && this.#byRange(p, h.cookie, out, h.pos, h.tcp, final)) {
      // Known from who read or sent that part of the stream.
    } else {
      if (h.pos >= 0 && !final) return false;
      const o = this.#socks.get(h.cookie)?.owner;
      if (!o && !final) return false;
      if (!o) {
        // Do not hold this socket's packets again.
        if (this.#ownerless.size >= 4096) this.#ownerless.clear();
        this.#ownerless.add(h.cookie);
      } else {
        p.pid = o.pid;
        p.tid = out ? o.tid || null : null;
        p.how = o.how;
      }
    }
    this.#countPacket(p);
    return true;
  }

  /**
   * Finds who read (in) or sent (out) the part of a socket's stream that
   * starts at `pos`. Certain once a later user took over after `pos`; the
   * last user is taken only when `final`.
   */
  #byRange(
    p: PacketEvent,
    cookie: number,
    out: boolean,
    pos: number,
    tcp: boolean,
    final: boolean,
  ): boolean {
    const t = (out ? this.#senders : this.#readers).get(cookie);
    if (!t) return false;
    const k = callAt(t, pos, tcp, final);
    if (k < 0) return false;
    p.pid = t.pids[k]!;
    p.tid = t.tids[k]! || null;
    p.how = out ? "sender" : "reader";
    return true;
  }

  /** A packet event, stamped with #stamp* first: its process. */
  #packet(
    e: PacketEvent,
    cookie: number,
    pid: number,
    tid: number,
    flags: number,
    nowMs: number,
  ): void {
    const out = e.dir === "out";
    let pos = -1;
    let tcp = false;
    const sock = cookie ? this.#sock(cookie) : null;
    if (sock !== null) {
      const info = sock.info;
      const shared = sock.shared;
      let ip: IpSummary | null = this.#o.keepSummaries
        ? packetSummary(e)
        : null;
      // The header is read only when something needs it: the socket's
      // endpoints, its protocol, or its stream position when shared.
      if (
        ip === null &&
        (shared || info === null || info.remote === null ||
          (info.proto !== 6 && info.proto !== 17))
      ) ip = summarizeIp(e.data, this.#scratch);
      if (ip !== null) {
        this.#learnEndpoints(sock, out, e.data, ip);
        tcp = ip.tcpSeq >= 0;
      } else tcp = info!.proto === 6;
      if (!tcp && !out) {
        // Datagrams are read in order: count them to match reads.
        pos = sock.inCount++;
      } else if (tcp && ip !== null && ip.tcpPayload > 0) pos = ip.tcpSeq;
      // Only a socket more than one process may use needs the ranges.
      if (!shared) pos = -1;
    }
    if (pos >= 0 && (!out || tcp)) {
      // A shared socket: whoever read (or sent) these bytes.
      if (this.#byRange(e, cookie, out, pos, tcp, false)) {
        this.#emit(e, 0, 0);
      } else {
        this.#emit(e, cookie, nowMs + this.#o.holdMs, pos, tcp);
      }
      return;
    }
    if (out && (flags & PKT_TASK) !== 0 && pid !== 0) {
      // Sent from a syscall: the sending thread itself.
      e.pid = pid;
      e.tid = tid;
      e.how = "sender";
      this.#emit(e, 0, 0);
      return;
    }
    const o = sock !== null ? sock.owner : null;
    if (o !== null) {
      e.pid = o.pid;
      e.tid = out ? o.tid || null : null;
      e.how = o.how;
      this.#emit(e, 0, 0);
    } else if (this.#ownerless.has(cookie)) {
      this.#emit(e, 0, 0);
    } else {
      this.#emit(e, cookie, nowMs + this.#o.holdMs);
    }
  }

  #learnEndpoints(
    sock: Sock,
    out: boolean,
    data: Uint8Array,
    ip: IpSummary,
  ): void {
    let info = sock.info;
    if (info !== null && info.remote !== null) return;
    if (ip.version === 0) return;
    const proto = ip.proto < 0 ? null : ip.proto;
    if (info === null) info = sock.info = { proto, local: null, remote: null };
    info.proto ??= proto;
    info.local = endpoint(data, ip, out);
    info.remote = endpoint(data, ip, !out);
  }

  /**
   * The socket of `cookie`, made when first seen. When too many are known
   * the oldest eighth is forgotten (a record of the socket makes it new).
   */
  #sock(cookie: number): Sock {
    if (cookie === this.#lastCookie) return this.#lastSock!;
    const sock = this.#socks.get(cookie);
    if (sock === undefined) return this.#renew(cookie, newSock());
    this.#lastCookie = cookie;
    this.#lastSock = sock;
    return sock;
  }

  /** Puts `sock` at the young end of the sockets, as `cookie`'s. */
  #renew(cookie: number, sock: Sock): Sock {
    setBounded(this.#socks, cookie, sock, MAX_SOCKETS);
    // Forgetting the oldest may have dropped the cached one.
    this.#lastCookie = cookie;
    this.#lastSock = sock;
    return sock;
  }

  #sockRecord(r: SockRecord, _nowMs: number): void {
    this.#stamp(r);
    const sec = this.#sec, nsec = this.#nsec;
    let sock = this.#socks.get(r.cookie);
    const known = sock?.owner ?? null;
    if (r.kind === "sock_create") {
      // A new socket: nothing of an older one with its cookie is kept.
      this.#readers.delete(r.cookie);
      this.#senders.delete(r.cookie);
      sock = undefined;
    }
    sock = this.#renew(r.cookie, sock ?? newSock());
    if (r.kind === "sock_create" || r.kind === "snap_socket") {
      sock.info ??= {
        proto: protoOf(r.type, r.protocol),
        local: null,
        remote: null,
      };
    }
    const info = sock.info;
    if (r.kind === "sock_release") {
      // The socket outlives its file (FIN_WAIT, TIME_WAIT): keep its owner
      // for the packets that still come, forgetting the oldest when full;
      // no process will share it any more.
      if (known) this.#byPid.get(known.pid)?.delete(r.cookie);
      sock.shared = false;
      const c: ConnectionEvent = {
        type: "connection",
        sec,
        nsec,
        event: "close",
        conn: r.cookie,
        pid: known?.pid ?? (r.pid || null),
        proto: info?.proto ?? null,
        local: info?.local ?? null,
        remote: info?.remote ?? null,
      };
      this.#emit(c, 0, 0);
      return;
    }
    const how: Attribution = r.kind === "sock_create"
      ? "creator"
      : r.kind === "snap_socket"
      ? "snapshot"
      : "user";
    const tid = r.kind === "snap_socket" ? 0 : r.tid;
    // Used by another process than the last: shared from now on.
    if (known && known.pid !== r.pid && r.kind !== "sock_create") {
      sock.shared = true;
    }
    if (r.kind === "sock_use") this.#addUse(r, sock);
    this.#setOwner(r.cookie, sock, known, { pid: r.pid, tid, how });
    // Every socket gets an open event: at creation, in the snapshot (one per
    // holder, as the original), and at first use for accepted sockets.
    if (r.kind !== "sock_use" || !known) {
      this.#emit(
        {
          type: "connection",
          sec,
          nsec,
          event: "open",
          conn: r.cookie,
          pid: r.pid,
          proto: info?.proto ?? null,
          local: info?.local ?? null,
          remote: info?.remote ?? null,
        },
        0,
        0,
      );
    }
  }

  #addUse(r: SockUseRecord, sock: Sock): void {
    const map = r.dir === 2 ? this.#senders : this.#readers;
    let t = map.get(r.cookie);
    if (!t || r.first) {
      t = newTimeline();
      setBounded(map, r.cookie, t, 1 << 16);
      if (r.first && r.dir !== 2) sock.inCount = r.callsBefore;
    }
    const start = r.tcpSeq ?? r.callsBefore;
    const end = r.tcpSeq !== null ? (start + r.len) >>> 0 : start + 1;
    addCall(t, start, end, r.pid, r.tid);
  }

  #setOwner(cookie: number, sock: Sock, old: Owner | null, o: Owner): void {
    if (old && old.pid !== o.pid) this.#byPid.get(old.pid)?.delete(cookie);
    let set = this.#byPid.get(o.pid);
    if (!set) this.#byPid.set(o.pid, set = new Set());
    set.add(cookie);
    sock.owner = o;
  }

  #names(e: ProcessEvent): ProcessEvent {
    if (e.uid !== null) e.user = this.#o.userName(e.uid);
    if (e.gid !== null) e.group = this.#o.groupName(e.gid);
    return e;
  }

  #fork(r: ProcForkRecord, _nowMs: number): void {
    if (r.thread) return;
    // The child shares every socket of its parent.
    const socks = this.#byPid.get(r.ppid);
    if (socks) { for (const c of socks) this.#sock(c).shared = true; }
    this.#stamp(r);
    const sec = this.#sec, nsec = this.#nsec;
    // Until it execs, a child runs its parent's image as its parent's user.
    const parent = r.kthread ? undefined : this.#procs.get(r.ppid);
    const e = processEvent({
      sec,
      nsec,
      event: r.kthread ? "kthread" : "fork",
      pid: r.pid,
      tid: r.tid,
      ppid: r.ppid,
      uid: parent?.uid ?? null,
      gid: parent?.gid ?? null,
      user: parent?.user ?? null,
      group: parent?.group ?? null,
      exe: parent?.exe ?? null,
      comm: r.comm,
      cgroup: r.cgroupId || null,
      netns: r.netns || null,
    });
    this.#remember(e);
    this.#emit(e, 0, 0);
  }

  #remember(e: ProcessEvent): void {
    setBounded(this.#procs, e.pid, e, 1 << 16);
  }

  #exec(r: ProcExecRecord, _nowMs: number): void {
    this.#stamp(r);
    const sec = this.#sec, nsec = this.#nsec;
    // The kernel resolved the executable's path; else the name given to
    // execve, made absolute from /proc when the process still runs.
    let exe = r.exe || r.filename;
    if (!exe.startsWith("/")) exe = this.#o.exePath(r.pid) ?? exe;
    // The kernel copies at most 4 KiB of arguments; a longer argv is read
    // whole from /proc while the process lives.
    let argv = r.argv;
    if (r.truncated) argv = this.#o.argvOf(r.pid) ?? argv;
    const e = this.#names(processEvent({
      sec,
      nsec,
      event: "exec",
      pid: r.pid,
      tid: r.tid,
      ppid: r.ppid,
      uid: r.uid,
      gid: r.gid,
      exe,
      argv,
      comm: r.comm,
      cgroup: r.cgroupId || null,
      netns: r.netns || null,
    }));
    this.#remember(e);
    this.#emit(e, 0, 0);
  }

  #exit(r: ProcExitRecord, _nowMs: number): void {
    if (!r.groupDead) return;
    this.#byPid.delete(r.pid);
    const known = this.#procs.get(r.pid);
    this.#procs.delete(r.pid);
    this.#stamp(r);
    const sec = this.#sec, nsec = this.#nsec;
    const sig = r.exitCode & 0x7f;
    this.#emit(
      processEvent({
        sec,
        nsec,
        event: "exit",
        pid: r.pid,
        tid: r.tid,
        ppid: known?.ppid ?? null,
        uid: known?.uid ?? null,
        gid: known?.gid ?? null,
        user: known?.user ?? null,
        group: known?.group ?? null,
        exe: known?.exe ?? null,
        comm: known?.comm ?? null,
        exitCode: sig ? 128 + sig : (r.exitCode >> 8) & 0xff,
      }),
      0,
      0,
    );
  }
}
