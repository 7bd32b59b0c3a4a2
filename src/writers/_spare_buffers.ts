/**
 * The buffers a writer handed over (its `detach`) and got back once their
 * bytes were written (its `recycle`), kept for the next hand-over: the
 * pcapng writer's and the JSON and text writers' line buffer.
 *
 * @module
 */

/** Most buffers kept. */
const MAX_SPARE = 4;

/** Given-back buffers, for the next one a writer needs. */
export class SpareBuffers {
  #spare: Uint8Array<ArrayBuffer>[] = [];

  /**
   * A buffer to write into: a given-back one, else a new one.
   *
   * @param size Size of a new buffer.
   * @returns The buffer.
   */
  take(size: number): Uint8Array<ArrayBuffer> {
    return this.#spare.pop() ?? new Uint8Array(size);
  }

  /**
   * Keeps the buffer that `bytes` (a view from its start) is in, unless it
   * is the one in use, already kept, or {@linkcode MAX_SPARE} are.
   *
   * @param bytes Bytes a writer handed over, now written.
   * @param inUse The buffer the writer writes into now.
   *
   * @example Usage
   * ```ts
   * import { SpareBuffers } from "./_spare_buffers.ts";
   * const spares = new SpareBuffers();
   * const b = new Uint8Array(8);
   * spares.give(b.subarray(0, 4), new ArrayBuffer(8));
   * if (spares.take(8).buffer !== b.buffer) throw new Error();
   * ```
   */
  give(bytes: Uint8Array, inUse: ArrayBufferLike): void {
    const b = bytes.buffer;
    if (
      !(b instanceof ArrayBuffer) || b === inUse || bytes.byteOffset !== 0 ||
      this.#spare.length >= MAX_SPARE || this.#spare.some((x) => x.buffer === b)
    ) return;
    this.#spare.push(new Uint8Array(b));
  }
}
