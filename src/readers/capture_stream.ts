/**
 * `hone read`'s first two stages: a capture file (or stdin) as a stream of
 * chunks, and the decoder as a stream of event batches.
 *
 * @module
 */

import type { HoneEvent } from "../events/mod.ts";
import { pointsInto, type ReleaseOptions } from "../events/mod.ts";
import {
  CaptureDecoder,
  type CaptureDecoderOptions,
  type DecoderNotes,
} from "./capture_decoder.ts";

/** Bytes read at a time: small enough to keep batches cache-friendly. */
export const CAPTURE_CHUNK_BYTES = 256 * 1024;

/** What {@linkcode captureSource} reads from: an open file, or stdin. */
export interface CaptureInput {
  /** Reads into `p`; null at the end. */
  read(p: Uint8Array): Promise<number | null>;
  /**
   * The same without a thread hop, used when given: a regular file never
   * blocks for long, and each asynchronous read costs a wake-up.
   */
  readSync?(p: Uint8Array): number | null;
}

/** Where {@linkcode captureSource} reads into. */
export interface CaptureSourceOptions {
  /**
   * Bytes read at a time.
   * @default {CAPTURE_CHUNK_BYTES}
   */
  chunkBytes?: number;
  /**
   * Lends buffers of at least `chunkBytes + 3` bytes to read chunks into
   * (a pool's, given back by a later stage once a chunk's events are
   * encoded). Without it, or when it has none free, each chunk gets memory
   * of its own.
   */
  lender?: ChunkLender | undefined;
}

/** Buffers lent to {@linkcode captureSource} (a `BatchPool`). */
export interface ChunkLender {
  /** A free buffer, or null when all are out. */
  take(): Uint8Array | null;
  /** Takes a buffer back. */
  give(buffer: ArrayBufferLike): void;
}

/**
 * A capture file as a stream of chunks. Each chunk is a view of a buffer
 * that is never read into again (or, with a lender, not before the lender
 * has it back), so the events decoded from it stay valid however far
 * behind the later stages run. A chunk lies on the same byte of a 32-bit
 * word as in the file, whatever the reads returned, so the file's blocks
 * stay on words. Cancelling stops the reads.
 *
 * @param file An open file, or stdin; its `readSync`, if given, is used.
 * @param options Chunk size and a lender of buffers.
 * @returns The chunks.
 *
 * @example Usage
 * ```ts ignore
 * import { captureSource } from "./capture_stream.ts";
 * const chunks = captureSource(await Deno.open("cap.pcapng"));
 * ```
 */
export function captureSource(
  file: CaptureInput,
  options: CaptureSourceOptions = {},
): ReadableStream<Uint8Array> {
  const chunkBytes = options.chunkBytes ?? CAPTURE_CHUNK_BYTES;
  const lender = options.lender;
  // Chunks are carved out of slabs of SLAB_CHUNKS chunks: fewer, larger
  // allocations than one buffer per chunk.
  const slabBytes = chunkBytes * SLAB_CHUNKS;
  let slab: Uint8Array | null = null;
  let at = 0;
  // Bytes read so far: where in its word the next chunk starts.
  let total = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const lent = lender?.take() ?? null;
        let into: Uint8Array;
        if (lent !== null) {
          const a = total & 3;
          into = lent.subarray(a, a + chunkBytes);
        } else {
          at += (total - at) & 3;
          if (slab === null || slabBytes - at < chunkBytes) {
            slab = new Uint8Array(slabBytes);
            at = total & 3;
          }
          into = slab.subarray(at, at + chunkBytes);
        }
        const n = file.readSync ? file.readSync(into) : await file.read(into);
        if (n === null || n === 0) {
          // Nothing was read into it.
          if (lent !== null) lender!.give(lent.buffer);
          if (n === null) {
            controller.close();
            return;
          }
          continue;
        }
        controller.enqueue(into.subarray(0, n));
        total += n;
        if (lent === null) at += n;
        return;
      }
    },
  }, { highWaterMark: 0 });
}

/** Chunks per slab of {@linkcode captureSource}. */
const SLAB_CHUNKS = 4;

/**
 * Options of {@linkcode CaptureDecoderStream}: the decoder's, and
 * `releaseBatch`, which takes back the buffer of a chunk that none of its
 * events points into (its packets copied, or none): the chunks' lender's
 * `give`.
 */
export interface CaptureDecoderStreamOptions
  extends CaptureDecoderOptions, ReleaseOptions {}

/**
 * The capture decoder as a stage: chunks of a pcapng or pcap file in,
 * batches of events out. A malformed capture does not error the stream:
 * the events before the fault are passed on, the stream ends, and
 * {@linkcode CaptureDecoderStream.prototype.error} holds the
 * {@linkcode HoneFormatError}, so every later stage still finishes its
 * output (a pcapng file stays valid, text gets its TAIL line).
 *
 * @example Usage
 * ```ts
 * import { CaptureDecoderStream } from "./capture_stream.ts";
 * const dec = new CaptureDecoderStream();
 * const out = await Array.fromAsync(
 *   ReadableStream.from([new Uint8Array(8)]).pipeThrough(dec),
 * );
 * if (out.length !== 0 || dec.error === null) throw new Error();
 * ```
 */
export class CaptureDecoderStream
  extends TransformStream<Uint8Array, HoneEvent[]> {
  #decoder: CaptureDecoder;
  #error: unknown = null;

  /**
   * Makes the stage.
   *
   * @param options For the {@linkcode CaptureDecoder}, and who takes back
   *   a chunk nothing points into.
   */
  constructor(options: CaptureDecoderStreamOptions = {}) {
    const decoder = new CaptureDecoder(options);
    const { releaseBatch } = options;
    const run = (
      step: (out: HoneEvent[]) => void,
      controller: TransformStreamDefaultController<HoneEvent[]>,
    ) => {
      const out: HoneEvent[] = [];
      try {
        step(out);
      } catch (e) {
        if (out.length) controller.enqueue(out);
        this.#error = e;
        controller.terminate();
        return;
      }
      if (out.length) controller.enqueue(out);
    };
    super({
      transform: (chunk, controller) =>
        run((out) => {
          decoder.push(chunk, out);
          if (releaseBatch && !pointsInto(out, chunk.buffer)) {
            releaseBatch(chunk.buffer);
          }
        }, controller),
      flush: (controller) => run((out) => decoder.finish(out), controller),
    });
    this.#decoder = decoder;
  }

  /** What the decoder skipped so far (non-IP packets, link types). */
  get notes(): DecoderNotes {
    return this.#decoder.notes;
  }

  /** The error that ended the stream early, or null. */
  get error(): unknown {
    return this.#error;
  }
}
