/**
 * Buffers that the sensor polls into and that the pipeline gives back once
 * it is done with them, so that no batch is copied or allocated (and
 * zeroed) per poll.
 *
 * @module
 */

/** Bytes of each buffer of a {@linkcode BatchPool} (a poll's largest batch). */
export const POOL_BUFFER_BYTES = 2 << 20;
/** Buffers a {@linkcode BatchPool} makes at most. */
export const POOL_BUFFERS = 8;

/**
 * A fixed set of batch buffers. {@linkcode BatchPool.take} lends one out;
 * {@linkcode BatchPool.give} takes it back once nothing reads the batch any
 * more (the encoder stage has encoded every event that points into it). A
 * buffer never given back is only lost to the pool: once all are out,
 * `take` returns null and the caller copies each batch instead.
 *
 * @example Usage
 * ```ts
 * import { BatchPool } from "./batch_pool.ts";
 * const pool = new BatchPool(1024, 1);
 * const b = pool.take()!;
 * if (pool.take() !== null) throw new Error("only one");
 * pool.give(b.buffer);
 * if (pool.take() !== b) throw new Error("the same again");
 * ```
 */
export class BatchPool {
  #bytes: number;
  #max: number;
  #made = 0;
  #free: Uint8Array<ArrayBuffer>[] = [];
  #out = new Map<ArrayBuffer, Uint8Array<ArrayBuffer>>();

  /**
   * Makes an empty pool.
   *
   * @param bytes Size of each buffer.
   * @param max Most buffers made.
   */
  constructor(bytes: number = POOL_BUFFER_BYTES, max: number = POOL_BUFFERS) {
    this.#bytes = bytes;
    this.#max = max;
  }

  /**
   * Lends a buffer out.
   *
   * @returns A buffer, or null when every buffer is out.
   */
  take(): Uint8Array<ArrayBuffer> | null {
    let b = this.#free.pop();
    if (b === undefined) {
      if (this.#made >= this.#max) return null;
      this.#made++;
      b = new Uint8Array(this.#bytes);
    }
    this.#out.set(b.buffer, b);
    return b;
  }

  /**
   * Takes a lent buffer back; anything else, or a buffer given back
   * twice, is ignored.
   *
   * @param buffer The buffer's (or a view's) `ArrayBuffer`.
   */
  give(buffer: ArrayBufferLike): void {
    const b = this.#out.get(buffer as ArrayBuffer);
    if (b === undefined) return;
    this.#out.delete(buffer as ArrayBuffer);
    this.#free.push(b);
  }
}
