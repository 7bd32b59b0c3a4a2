/**
 * Reading a capture as a stream of event batches.
 *
 * @module
 */

import type { HoneEvent } from "../events/mod.ts";
import { CaptureDecoder, type DecoderNotes } from "./capture_decoder.ts";

/**
 * Decodes a byte stream into batches of events, one batch per input chunk.
 * On malformed input the events before the fault are yielded first, then
 * the {@linkcode HoneFormatError} is thrown.
 *
 * @param source Chunks of a capture file.
 * @param notes Receives what the decoder skipped.
 * @returns Batches of events.
 *
 * @example Usage
 * ```ts ignore
 * import { decodeCapture } from "./read_capture.ts";
 * for await (const batch of decodeCapture(chunks)) console.log(batch.length);
 * ```
 */
export async function* decodeCapture(
  source: AsyncIterable<Uint8Array>,
  notes?: (n: DecoderNotes) => void,
): AsyncGenerator<HoneEvent[]> {
  const dec = new CaptureDecoder();
  notes?.(dec.notes);
  for await (const chunk of source) {
    const out: HoneEvent[] = [];
    try {
      dec.push(chunk, out);
    } catch (e) {
      if (out.length) yield out;
      throw e;
    }
    if (out.length) yield out;
  }
  const out: HoneEvent[] = [];
  try {
    dec.finish(out);
  } catch (e) {
    if (out.length) yield out;
    throw e;
  }
  if (out.length) yield out;
}

/**
 * Reads a file in chunks. By default it never overwrites bytes already
 * yielded, so the views that decoders hand out stay valid; with `reuse`,
 * one buffer is read into again and again, which is faster (no fresh
 * memory for the kernel to fault in) but leaves each chunk, and every view
 * into it, valid only until the next one is asked for.
 *
 * @param file An open file, or stdin.
 * @param size Size of each backing buffer.
 * @param reuse Read every chunk into the same buffer.
 * @returns The file's bytes, chunk by chunk, as they arrive.
 *
 * @example Usage
 * ```ts ignore
 * import { readChunks } from "./read_capture.ts";
 * for await (const c of readChunks(Deno.stdin)) console.log(c.length);
 * ```
 */
export async function* readChunks(
  file: { read(p: Uint8Array): Promise<number | null> },
  size = 1 << 20,
  reuse = false,
): AsyncGenerator<Uint8Array> {
  let buf = new Uint8Array(size);
  let at = 0;
  for (;;) {
    if (reuse) at = 0;
    else if (size - at < 65536) {
      buf = new Uint8Array(size);
      at = 0;
    }
    const n = await file.read(buf.subarray(at));
    if (n === null) return;
    if (n === 0) continue;
    yield buf.subarray(at, at + n);
    at += n;
  }
}
