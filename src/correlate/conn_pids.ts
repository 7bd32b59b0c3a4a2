/**
 * Fills in a packet's process from its connection: a packet that carries a
 * connection id but no pid gets the pid of that connection's most recent
 * open event, as the original Hone told its users to do.
 *
 * @module
 */

import type { HoneEvent } from "../events/types.ts";
import { setBounded } from "../events/bounded_map.ts";

/**
 * Remembers connection owners and resolves packets' pids.
 *
 * @example Usage
 * ```ts
 * import { ConnPids } from "./conn_pids.ts";
 * const c = new ConnPids();
 * const pkt = { type: "packet" as const, sec: 0, nsec: 0, dir: null, pid: null,
 *   tid: null, conn: 5, len: 0, data: new Uint8Array(0) };
 * c.apply([{ type: "connection", sec: 0, nsec: 0, event: "open", conn: 5, pid: 42 }, pkt]);
 * if (pkt.pid !== 42) throw new Error();
 * ```
 */
export class ConnPids {
  #owners = new Map<number, number>();
  #max: number;

  /**
   * Makes a resolver.
   *
   * @param max Most connections remembered; the oldest is forgotten first.
   */
  constructor(max = 1 << 18) {
    this.#max = max;
  }

  /**
   * Updates from the batch's connection events and fills packets' pids, in
   * place.
   *
   * @param events A batch, in order.
   * @returns The same batch.
   */
  apply(events: HoneEvent[]): HoneEvent[] {
    const owners = this.#owners;
    for (const e of events) {
      if (e.type === "packet") {
        if (e.pid === null && e.conn !== null) {
          e.pid = owners.get(e.conn) ?? null;
          if (e.pid !== null) e.how = "connection";
        }
      } else if (e.type === "connection") {
        if (e.event === "open" && e.pid !== null) {
          setBounded(owners, e.conn, e.pid, this.#max);
        }
      } else if (e.type === "section") {
        // Connection ids are unique only within one capture.
      }
    }
    return events;
  }
}
