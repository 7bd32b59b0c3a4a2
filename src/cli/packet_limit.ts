/**
 * `-c COUNT` and the packet counts a capture reports, in one place for
 * `read` and `record`.
 *
 * @module
 */

import type { HoneEvent } from "../events/types.ts";

/** Packets passed so far, and where to stop. */
export class PacketLimit {
  /** Packets let through. */
  packets = 0;
  /** Of those, packets without a process. */
  noProcess = 0;
  #limit: number;

  /**
   * Makes a counter.
   *
   * @param limit Stop after this many packets (0 = never).
   */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Whether the limit has been reached. */
  get done(): boolean {
    return this.#limit > 0 && this.packets >= this.#limit;
  }

  /**
   * Counts a batch's packets and cuts it after the one that reaches the
   * limit.
   *
   * @param events A batch, in order.
   * @returns The events to write.
   *
   * @example Usage
   * ```ts
   * import { PacketLimit } from "./packet_limit.ts";
   * const p = { type: "packet" as const, sec: 0, nsec: 0, dir: null, pid: null,
   *   tid: null, conn: null, len: 0, data: new Uint8Array(0) };
   * const limit = new PacketLimit(1);
   * if (limit.take([p, p]).length !== 1 || !limit.done) throw new Error();
   * ```
   */
  take(events: HoneEvent[]): HoneEvent[] {
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.type !== "packet") continue;
      this.packets++;
      if (e.pid === null) this.noProcess++;
      if (this.done) return events.slice(0, i + 1);
    }
    return events;
  }
}
