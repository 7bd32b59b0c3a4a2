/**
 * Fills in a packet's process from its connection: a packet that carries a
 * connection id but no pid gets the pid of that connection's most recent
 * open event, as the original Hone told its users to do.
 *
 * @module
 */

import type { HoneEvent } from "../events/mod.ts";

/**
 * Remembers connection owners and resolves packets' pids.
 *
 * The table is a ring of the last `max` open events, indexed by connection
 * id: each open costs O(1) however many connections a capture has. (A `Map`
 * used as a FIFO, evicting with `keys().next()`, costs O(deleted entries)
 * per eviction in V8, which made reading quadratic past `max` connections.)
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
  /** Connection id → its slot in the ring. */
  #slot = new Map<number, number>();
  /** The ring: connection id and owner of each remembered open event. */
  #conns: number[] = [];
  #pids: number[] = [];
  /** The slot the next open event takes (the oldest once the ring is full). */
  #next = 0;
  #max: number;

  /**
   * Makes a resolver.
   *
   * @param max Most connections remembered; the oldest is forgotten first.
   */
  constructor(max = 1 << 18) {
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(
        `Cannot make the connection table: max must be a whole number of at least 1, got ${max}`,
      );
    }
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
    for (const e of events) {
      if (e.type === "packet") {
        if (e.pid === null && e.conn !== null) {
          const s = this.#slot.get(e.conn);
          if (s !== undefined) {
            e.pid = this.#pids[s]!;
            e.how = "connection";
          }
        }
      } else if (
        e.type === "connection" && e.event === "open" && e.pid !== null
      ) {
        this.#remember(e.conn, e.pid);
      }
    }
    return events;
  }

  #remember(conn: number, pid: number): void {
    const at = this.#next;
    if (at < this.#conns.length) {
      // The ring is full: forget the oldest open, unless its connection
      // was opened again since (then a newer slot holds it).
      const old = this.#conns[at]!;
      if (this.#slot.get(old) === at) this.#slot.delete(old);
      this.#conns[at] = conn;
      this.#pids[at] = pid;
    } else {
      this.#conns.push(conn);
      this.#pids.push(pid);
    }
    this.#slot.set(conn, at);
    this.#next = at + 1 === this.#max ? 0 : at + 1;
  }
}
