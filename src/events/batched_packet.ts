/**
 * A packet event whose bytes are still in the sensor batch they came in.
 *
 * Under a flood, making a view of the batch for every packet (and then
 * collecting it) was a fifth of `hone record`'s user-side time. A
 * `BatchedPacket` makes its `data` view only when a stage asks for it;
 * the pcapng writer copies the bytes straight from {@linkcode
 * BatchedPacket.batchWords} and asks for nothing.
 *
 * @module
 */

import type { IpSummary } from "../format/mod.ts";
import type { ChunkEvent } from "./packet_run.ts";
import type { Attribution, Direction, PacketEvent } from "./types.ts";

/**
 * A {@linkcode PacketEvent} whose `data` is a view of its sensor batch,
 * made at the first read of `data`.
 *
 * @example Usage
 * ```ts
 * import { BatchedPacket } from "./batched_packet.ts";
 * const batch = new Uint32Array([0, 0x45, 0]);
 * const p = new BatchedPacket(1, 0, "out", 7, 40, batch, 4, 1, false);
 * if (p.data[0] !== 0x45 || p.data.length !== 1) throw new Error();
 * ```
 */
export class BatchedPacket implements PacketEvent {
  /** Discriminant. */
  readonly type = "packet" as const;
  /** Seconds since the Unix epoch. */
  sec: number;
  /** Nanoseconds within `sec`. */
  nsec: number;
  /** Direction. */
  dir: Direction;
  /** Process id the packet belongs to, when known. */
  pid: number | null = null;
  /** Thread id that sent or read it, when known. */
  tid: number | null = null;
  /** Connection id, when known. */
  conn: number | null;
  /** Length of the packet on the wire, from the IP header on. */
  len: number;
  /** How `pid` was known, when it is. */
  how: Attribution | null = null;
  /** The header summary, once a stage parsed it. */
  ip: IpSummary | null = null;
  /** The sensor ran the filter expression and kept the packet. */
  kept: boolean;
  /**
   * The batch as 32-bit words (index 0 = the batch's first byte), or null
   * once `data` was given other bytes (a copy).
   */
  batchWords: Uint32Array | null;
  /** Byte offset of the packet's first byte in the batch (4-aligned). */
  readonly dataAt: number;
  /** Number of captured bytes. */
  readonly caplen: number;
  #data: Uint8Array | null = null;

  /**
   * Makes a packet event over bytes of a batch.
   *
   * @param sec Seconds since the Unix epoch.
   * @param nsec Nanoseconds within `sec`.
   * @param dir Direction.
   * @param conn Connection id, or null.
   * @param len Length on the wire.
   * @param batchWords The batch as words; the batch must not change while
   *   the event lives.
   * @param dataAt Byte offset of the packet in the batch (4-aligned).
   * @param caplen Number of captured bytes.
   * @param kept The sensor ran the filter expression and kept it.
   */
  constructor(
    sec: number,
    nsec: number,
    dir: Direction,
    conn: number | null,
    len: number,
    batchWords: Uint32Array,
    dataAt: number,
    caplen: number,
    kept: boolean,
  ) {
    this.sec = sec;
    this.nsec = nsec;
    this.dir = dir;
    this.conn = conn;
    this.len = len;
    this.batchWords = batchWords;
    this.dataAt = dataAt;
    this.caplen = caplen;
    this.kept = kept;
  }

  /** Captured bytes from the IP header on, a view of the batch. */
  get data(): Uint8Array {
    if (this.#data === null) {
      const w = this.batchWords!;
      this.#data = new Uint8Array(
        w.buffer,
        w.byteOffset + this.dataAt,
        this.caplen,
      );
    }
    return this.#data;
  }

  /** Gives the packet other bytes (a copy of its own): the batch is let go. */
  set data(d: Uint8Array) {
    this.#data = d;
    this.batchWords = null;
  }
}

/**
 * Whether any of the events is a packet (or a run of them) whose bytes are
 * still in `buffer` (a sensor batch's, a capture file's chunk), in place
 * or through a view: while one is, the buffer may not be read into again.
 *
 * @param events The events.
 * @param buffer A batch's buffer.
 * @returns Whether one points into it.
 *
 * @example Usage
 * ```ts
 * import { BatchedPacket, pointsInto } from "./batched_packet.ts";
 * const words = new Uint32Array(4);
 * const p = new BatchedPacket(0, 0, "in", null, 4, words, 0, 4, false);
 * if (!pointsInto([p], words.buffer)) throw new Error();
 * p.data = new Uint8Array(4); // its own copy
 * if (pointsInto([p], words.buffer)) throw new Error();
 * ```
 */
export function pointsInto(
  events: readonly ChunkEvent[],
  buffer: ArrayBufferLike,
): boolean {
  // From the end: a batch's own packets come after those released from
  // the hold queue.
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.type === "packets") {
      if (e.batchWords.buffer === buffer) return true;
      continue;
    }
    if (e.type !== "packet") continue;
    if (e instanceof BatchedPacket) {
      if (e.batchWords?.buffer === buffer) return true;
    } else if (e.data.buffer === buffer) return true;
  }
  return false;
}

/** Takes a sensor batch's buffer back once nothing reads it any more. */
export type ReleaseBatch = (buffer: ArrayBufferLike) => void;

/** Options of a stage that may be the last to read a sensor batch. */
export interface ReleaseOptions {
  /** Called with each batch that nothing past the stage reads. */
  releaseBatch?: ReleaseBatch | undefined;
}
