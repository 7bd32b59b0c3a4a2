/**
 * The correlator's hold queue: events in order, some of them packets that
 * wait for their socket's owner. Nothing passes a waiting packet, so the
 * output keeps the sensor's order; a packet waits until it is settled, its
 * deadline passes, or the queue is full.
 *
 * @module
 */

import type { ChunkEvent, HoneEvent } from "../events/mod.ts";

/** Most events queued behind waiting packets before the oldest are let go. */
export const MAX_QUEUED = 1 << 16;

/**
 * Queued packets' bytes are copied into slabs of this size (a view each),
 * not into an ArrayBuffer each: an ArrayBuffer per packet made garbage
 * collection the biggest cost of a flood.
 */
export const SLAB_BYTES = 1 << 20;

/** An event in the queue. */
export interface Held {
  /** The event. */
  event: HoneEvent;
  /** Socket whose owner is awaited, or 0 when settled. */
  cookie: number;
  /** When to stop waiting (the clock given to {@linkcode HoldQueue.drain}). */
  deadlineMs: number;
  /** Position in the socket's stream (TCP sequence, datagram index), or -1. */
  pos: number;
  /** Whether `pos` is a TCP sequence number. */
  tcp: boolean;
}

/**
 * Settles a waiting packet: fills in its process and returns true, or
 * returns false when it must wait longer (`final`: it may not).
 */
export type Settle = (h: Held, final: boolean) => boolean;

/**
 * Events in order, with packets waiting for their owner.
 *
 * @example Usage
 * ```ts
 * import { HoldQueue } from "./hold_queue.ts";
 * const q = new HoldQueue();
 * const e = { type: "connection", sec: 0, nsec: 0, event: "open", conn: 1, pid: 1, proto: 6, local: null, remote: null } as const;
 * q.pass({ ...e });
 * if (q.drain(0, false, () => true).length !== 1) throw new Error();
 * ```
 */
export class HoldQueue {
  #queue: Held[] = [];
  #waitingList: Held[] = [];
  #waiting = 0;
  #ready: ChunkEvent[] = [];
  #max: number;
  #slab = new Uint8Array(SLAB_BYTES);
  #slabAt = 0;

  /**
   * Makes a queue.
   *
   * @param maxQueued Most events queued before the oldest are let go.
   */
  constructor(maxQueued: number = MAX_QUEUED) {
    this.#max = maxQueued;
  }

  /** Whether nothing is queued: a settled event passes at once. */
  get empty(): boolean {
    return this.#queue.length === 0;
  }

  /**
   * Adds a settled event (or a run of packets), behind whatever is queued.
   *
   * @param event The event.
   */
  pass(event: ChunkEvent): void {
    if (this.#queue.length === 0) {
      this.#ready.push(event);
      return;
    }
    if (event.type === "packets") {
      // Queued packets get their own bytes: as events, one by one.
      for (let i = 0; i < event.length; i++) this.pass(event.at(i));
      return;
    }
    this.#enqueue({ event, cookie: 0, deadlineMs: 0, pos: -1, tcp: false });
  }

  /**
   * Adds a packet that waits for its socket's owner.
   *
   * @param event The packet.
   * @param cookie The socket.
   * @param deadlineMs When to stop waiting.
   * @param pos Position in the socket's stream, or -1.
   * @param tcp Whether `pos` is a TCP sequence number.
   */
  hold(
    event: HoneEvent,
    cookie: number,
    deadlineMs: number,
    pos = -1,
    tcp = false,
  ): void {
    const h = { event, cookie, deadlineMs, pos, tcp };
    this.#waiting++;
    this.#enqueue(h);
    this.#waitingList.push(h);
  }

  #enqueue(h: Held): void {
    // Queued events outlive the batch buffer their bytes point into.
    if (h.event.type === "packet") h.event.data = this.#own(h.event.data);
    this.#queue.push(h);
  }

  // A copy of d in the current slab (a fresh one when it is full); a
  // large packet gets its own buffer.
  #own(d: Uint8Array): Uint8Array {
    const n = d.length;
    if (n > SLAB_BYTES >> 4) return d.slice();
    if (this.#slabAt + n > SLAB_BYTES) {
      this.#slab = new Uint8Array(SLAB_BYTES);
      this.#slabAt = 0;
    }
    const at = this.#slabAt;
    const v = this.#slab.subarray(at, at + n);
    v.set(d);
    // Each copy starts 8-aligned, like the sensor's records.
    this.#slabAt = (at + n + 7) & ~7;
    return v;
  }

  /**
   * Settles the waiting packets that can be settled now.
   *
   * @param settle How.
   */
  resolve(settle: Settle): void {
    if (this.#waiting === 0) return;
    // Only the waiting packets, not everything queued behind them.
    const list = this.#waitingList;
    let k = 0;
    for (let i = 0; i < list.length; i++) {
      const h = list[i]!;
      if (h.cookie !== 0 && !this.#settle(h, false, settle)) list[k++] = h;
    }
    list.length = k;
  }

  #settle(h: Held, final: boolean, settle: Settle): boolean {
    if (!settle(h, final)) return false;
    h.cookie = 0;
    this.#waiting--;
    return true;
  }

  /**
   * Returns the events ready to write: everything before the first packet
   * still waiting, plus whatever has waited past its deadline or stands
   * beyond the queue's bound.
   *
   * @param nowMs The clock the deadlines are on.
   * @param all Let everything go (at the end of a capture).
   * @param settle How to settle a packet that may wait no longer.
   * @returns The events, in order.
   */
  drain(nowMs: number, all: boolean, settle: Settle): ChunkEvent[] {
    const q = this.#queue;
    let i = 0;
    for (; i < q.length; i++) {
      const h = q[i]!;
      if (h.cookie !== 0) {
        if (!all && h.deadlineMs > nowMs && q.length - i <= this.#max) break;
        // Waited long enough: take the best answer known now.
        this.#settle(h, true, settle);
      }
      this.#ready.push(h.event);
    }
    if (i > 0) q.splice(0, i);
    if (this.#waiting === 0) this.#waitingList.length = 0;
    const out = this.#ready;
    this.#ready = [];
    return out;
  }
}
