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

import type {
  ConnectionEvent,
  HoneEvent,
  PacketEvent,
  ProcessEvent,
} from "../events/types.ts";
import { processEvent } from "../events/types.ts";
import type {
  HoneRecord,
  PacketRecord,
  ProcExecRecord,
  ProcExitRecord,
  ProcForkRecord,
  SnapSocketRecord,
  SockCreateRecord,
  SockReleaseRecord,
  SockUseRecord,
} from "../records/decode.ts";

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
   * Longest time a packet waits for its socket's owner, in milliseconds.
   *
   * @default {250}
   */
  holdMs?: number;
  /** User name of a uid. */
  userName?: (uid: number) => string | null;
  /** Group name of a gid. */
  groupName?: (gid: number) => string | null;
  /** Canonical executable of a live process (e.g. /proc/PID/exe). */
  exePath?: (pid: number) => string | null;
}

/** How a packet's process was known. */
export type Attribution =
  | "sender"
  | "creator"
  | "snapshot"
  | "user"
  | "reader"
  | null;

interface Owner {
  pid: number;
  tid: number;
  how: Exclude<Attribution, null>;
}

interface Held {
  event: HoneEvent;
  cookie: number;
  deadlineMs: number;
}

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
 * c.push([{ kind: "sock_create", tsNs: 1n, cookie: 9, pid: 42, tid: 42, family: 2, type: 1, protocol: 6 }], 0);
 * const out = c.drain(0);
 * if (out[0]?.type !== "connection") throw new Error();
 * ```
 */
export class SensorCorrelator {
  #o: Required<CorrelatorOptions>;
  #owners = new Map<number, Owner>();
  #queue: Held[] = [];
  #waiting = 0;
  #ready: HoneEvent[] = [];
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
      holdMs: 250,
      userName: () => null,
      groupName: () => null,
      exePath: () => null,
      ...options,
    };
  }

  #stamp(r: { tsNs: bigint }): [number, number] {
    const n = Number(r.tsNs);
    let sec: number, nsec: number;
    if (n < 9e15) {
      sec = Math.floor(n / 1e9);
      nsec = n - sec * 1e9;
    } else {
      const s = r.tsNs / NS;
      sec = Number(s);
      nsec = Number(r.tsNs - s * NS);
    }
    sec += this.#o.clockOffset[0];
    nsec += this.#o.clockOffset[1];
    if (nsec >= 1e9) nsec -= 1e9, sec++;
    return [sec, nsec];
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
      switch (r.kind) {
        case "packet":
          this.#packet(r, nowMs);
          break;
        case "sock_create":
        case "snap_socket":
        case "sock_use":
        case "sock_release":
          this.#sock(r, nowMs);
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
    this.#resolve();
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
    const q = this.#queue;
    let i = 0;
    for (; i < q.length; i++) {
      const h = q[i]!;
      if (h.cookie !== 0) {
        if (!all && h.deadlineMs > nowMs) break;
        // Waited long enough: the owner may still be known by now.
        this.#settle(h);
      }
      this.#ready.push(h.event);
    }
    if (i > 0) q.splice(0, i);
    const out = this.#ready;
    this.#ready = [];
    return out;
  }

  #emit(event: HoneEvent, cookie: number, deadlineMs: number): void {
    if (event.type === "process") this.counts.processes++;
    else if (event.type === "connection") this.counts.connections++;
    if (this.#queue.length === 0 && cookie === 0) {
      if (event.type === "packet") this.#countPacket(event);
      this.#ready.push(event);
      return;
    }
    if (cookie !== 0) this.#waiting++;
    else if (event.type === "packet") this.#countPacket(event);
    // Held events outlive the batch buffer their bytes point into.
    if (event.type === "packet") event.data = event.data.slice();
    this.#queue.push({ event, cookie, deadlineMs });
  }

  #countPacket(p: PacketEvent): void {
    this.counts.packets++;
    if (p.pid === null) this.counts.noProcess++;
  }

  #settle(h: Held): void {
    const p = h.event as PacketEvent;
    const o = this.#owners.get(h.cookie);
    if (o) {
      p.pid = o.pid;
      p.tid = p.dir === "in" ? null : o.tid || null;
    }
    h.cookie = 0;
    this.#waiting--;
    this.#countPacket(p);
  }

  #resolve(): void {
    if (this.#waiting === 0) return;
    for (const h of this.#queue) {
      if (h.cookie !== 0 && this.#owners.has(h.cookie)) this.#settle(h);
    }
  }

  #packet(r: PacketRecord, nowMs: number): void {
    const [sec, nsec] = this.#stamp(r);
    const out = r.dir === 2;
    const e: PacketEvent = {
      type: "packet",
      sec,
      nsec,
      dir: out ? "out" : "in",
      pid: null,
      tid: null,
      conn: r.cookie || null,
      len: r.len,
      data: r.data,
    };
    if (out && r.taskContext && r.pid !== 0) {
      // Sent from a syscall: the sending thread itself.
      e.pid = r.pid;
      e.tid = r.tid;
      this.#emit(e, 0, 0);
      return;
    }
    const o = r.cookie ? this.#owners.get(r.cookie) : undefined;
    if (o) {
      e.pid = o.pid;
      e.tid = out ? o.tid || null : null;
      this.#emit(e, 0, 0);
    } else {
      this.#emit(e, r.cookie, nowMs + this.#o.holdMs);
    }
  }

  #sock(r: SockRecord, _nowMs: number): void {
    const [sec, nsec] = this.#stamp(r);
    const known = this.#owners.get(r.cookie);
    if (r.kind === "sock_release") {
      // The socket outlives its file (FIN_WAIT, TIME_WAIT): keep its owner
      // for the packets that still come, forgetting the oldest when full.
      const c: ConnectionEvent = {
        type: "connection",
        sec,
        nsec,
        event: "close",
        conn: r.cookie,
        pid: known?.pid ?? (r.pid || null),
      };
      this.#emit(c, 0, 0);
      return;
    }
    const how = r.kind === "sock_create"
      ? "creator"
      : r.kind === "snap_socket"
      ? "snapshot"
      : r.kind === "sock_use" && r.dir === 2
      ? "sender"
      : "reader";
    const tid = r.kind === "snap_socket" ? 0 : r.tid;
    this.#setOwner(r.cookie, { pid: r.pid, tid, how });
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
        },
        0,
        0,
      );
    }
  }

  #setOwner(cookie: number, o: Owner): void {
    const owners = this.#owners;
    owners.delete(cookie);
    if (owners.size >= 1 << 18) {
      const oldest = owners.keys().next();
      if (!oldest.done) owners.delete(oldest.value);
    }
    owners.set(cookie, o);
  }

  #names(e: ProcessEvent): ProcessEvent {
    if (e.uid !== null) e.user = this.#o.userName(e.uid);
    if (e.gid !== null) e.group = this.#o.groupName(e.gid);
    return e;
  }

  #fork(r: ProcForkRecord, _nowMs: number): void {
    if (r.thread) return;
    const [sec, nsec] = this.#stamp(r);
    this.#emit(
      processEvent({
        sec,
        nsec,
        event: r.kthread ? "kthread" : "fork",
        pid: r.pid,
        tid: r.tid,
        ppid: r.ppid,
        comm: r.comm,
      }),
      0,
      0,
    );
  }

  #exec(r: ProcExecRecord, _nowMs: number): void {
    const [sec, nsec] = this.#stamp(r);
    let exe = r.filename;
    if (!exe.startsWith("/")) exe = this.#o.exePath(r.pid) ?? exe;
    this.#emit(
      this.#names(processEvent({
        sec,
        nsec,
        event: "exec",
        pid: r.pid,
        tid: r.tid,
        ppid: r.ppid,
        uid: r.uid,
        gid: r.gid,
        exe,
        argv: r.argv,
        comm: r.comm,
      })),
      0,
      0,
    );
  }

  #exit(r: ProcExitRecord, _nowMs: number): void {
    if (!r.groupDead) return;
    const [sec, nsec] = this.#stamp(r);
    const sig = r.exitCode & 0x7f;
    this.#emit(
      processEvent({
        sec,
        nsec,
        event: "exit",
        pid: r.pid,
        tid: r.tid,
        exitCode: sig ? 128 + sig : (r.exitCode >> 8) & 0xff,
      }),
      0,
      0,
    );
  }
}
