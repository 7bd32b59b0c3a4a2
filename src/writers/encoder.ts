/**
 * One interface over hone's three output formats.
 *
 * @module
 */

import {
  BatchedPacket,
  type ChunkEvent,
  expandRuns,
  type HostId,
  packetCount,
  partsOf,
  type ReleaseBatch,
  type ReleaseOptions,
} from "../events/mod.ts";
import { formatGuid, jsonString } from "../format/mod.ts";
import { JsonlWriter } from "./jsonl/jsonl_writer.ts";
import { PcapngWriter } from "./pcapng/pcapng_writer.ts";
import { TextWriter } from "./text/text_writer.ts";
import type { ByteLine } from "./_byte_line.ts";

/** Output formats. */
export type Format = "json" | "text" | "pcapng";

/** Turns event batches into bytes. */
export interface Encoder {
  /**
   * Encodes a batch (the line formats take runs of packets apart); the
   * bytes are valid until the next call.
   */
  encode(events: readonly ChunkEvent[]): Uint8Array;
  /**
   * Given by an encoder whose encode() returns a view of a buffer that it
   * reuses: lets go of the one the last encode() returned, so that its
   * bytes stay valid until given back with `recycle` (no copy needed).
   */
  detach?(): void;
  /** Gives back bytes made valid by `detach`, once they are written. */
  recycle?(bytes: Uint8Array): void;
  /** Bytes that end the output (text's TAIL line). */
  finish(): Uint8Array;
}

/** Options for {@linkcode makeEncoder}. */
export interface EncoderOptions {
  /** Snapshot length (0 = whole packets). */
  snaplen: number;
  /** Include packet bytes in JSON. */
  data: boolean;
  /** `shb_os` for pcapng. */
  os?: string | null;
  /** `shb_hardware` for pcapng. */
  hardware?: string | null;
  /** Host id: pcapng's SHB, and `host` on every JSON line. */
  hostId?: HostId | null;
  /** Section comment for pcapng. */
  comment?: string | null;
  /** pcapng: also Wireshark 4.7's process blocks (custom, PEN 32622). */
  wiresharkProcessBlocks?: boolean;
  /** pcapng: a packet's second copy as a copy block (see PcapngWriter). */
  loopbackOnce?: boolean;
}

const enc = new TextEncoder();
const EMPTY = new Uint8Array(0);

/**
 * Makes an encoder for a format.
 *
 * @param format The output format.
 * @param o Options.
 * @returns The encoder.
 */
export function makeEncoder(format: Format, o: EncoderOptions): Encoder {
  if (format === "pcapng") {
    const w = new PcapngWriter({
      snaplen: o.snaplen,
      os: o.os ?? null,
      hardware: o.hardware ?? null,
      hostId: o.hostId ?? null,
      comment: o.comment ?? null,
      wiresharkProcessBlocks: o.wiresharkProcessBlocks ?? false,
      loopbackOnce: o.loopbackOnce ?? false,
    });
    return {
      encode: (e) => w.encode(e),
      finish: () => w.encode([]),
      detach: () => w.detach(),
      recycle: (b) => w.recycle(b),
    };
  }
  if (format === "text") {
    const w = new TextWriter();
    return handingOver((e) => w.print(expandRuns(e)), () => w.finish());
  }
  const w = new JsonlWriter({ data: o.data, snaplen: o.snaplen });
  if (o.hostId) {
    const prefix = enc.encode(`{"host":${jsonString(hostIdText(o.hostId))},`);
    return {
      encode: (e) => withHost(w.encodeBytes(expandRuns(e)), prefix),
      finish: () => EMPTY,
    };
  }
  return handingOver((e) => w.print(expandRuns(e)), () => "");
}

/**
 * The encoder of a line writer (JSON, text) that prints into its own
 * {@linkcode ByteLine}: each batch, and the closing text, is handed over
 * as a view of it, and its buffer is let go (`detach`) for as long as the
 * bytes are written.
 */
function handingOver(
  print: (events: readonly ChunkEvent[]) => ByteLine,
  closing: () => string,
): Encoder {
  const line = print([]);
  return {
    encode: (e) => print(e).view(),
    finish: () => {
      line.text(closing());
      return line.view();
    },
    detach: () => line.detach(),
    recycle: (b) => line.recycle(b),
  };
}

/**
 * A host id as text: the string, or the GUID as 8-4-4-4-12 lower-case hex
 * digits.
 *
 * @param h The host id.
 * @returns The text.
 *
 * @example Usage
 * ```ts
 * import { hostIdText } from "./encoder.ts";
 * if (hostIdText({ kind: "string", value: "web1" }) !== "web1") throw new Error();
 * ```
 */
export function hostIdText(h: HostId): string {
  return h.kind === "string" ? h.value : formatGuid(h.value);
}

/** Puts `"host":…` first in every line (each line starts with `{`). */
function withHost(lines: Uint8Array, prefix: Uint8Array): Uint8Array {
  let n = 0;
  for (let i = 0; i < lines.length; i++) if (lines[i] === 0x0a) n++;
  const out = new Uint8Array(lines.length + n * (prefix.length - 1));
  let o = 0, start = 0;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== 0x0a) continue;
    out.set(prefix, o);
    o += prefix.length;
    // The line without its own "{", with its newline.
    out.set(lines.subarray(start + 1, i + 1), o);
    o += i - start;
    start = i + 1;
  }
  return out;
}

/**
 * Gives back the sensor batch that the events' packets still point into
 * (`BatchedPacket.batchWords`), once they are encoded. A chunk of events
 * points into one batch at most: the correlator passes on each batch's
 * packets in one chunk, and those it holds get their own copy. So the
 * search stops at the last such packet (another batch, if a stage ever
 * mixed two, would only be left to the garbage collector, never reused).
 *
 * @param events The events, encoded.
 * @param release Takes the batch's buffer back.
 */
export function releaseBatchOf(
  events: readonly ChunkEvent[],
  release: ReleaseBatch,
): void {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    const words = e.type === "packets"
      ? e.batchWords
      : e instanceof BatchedPacket
      ? e.batchWords
      : null;
    if (words !== null) {
      release(words.buffer);
      return;
    }
  }
}

/** A batch of encoded events: the bytes, and how many packets they hold. */
export interface EncodedBatch {
  /** The bytes, owned by the receiver. */
  bytes: Uint8Array;
  /** Packets among the events. */
  packets: number;
  /**
   * Called by the receiver once the bytes are written: the encoder may
   * then write into them again. Not calling it is safe.
   */
  release?: () => void;
}

/**
 * Most events encoded into one {@linkcode EncodedBatch}: a failed write
 * (a full disk) loses at most this many from a file, and each write stays
 * small (about 150 KiB of pcapng at snaplen 128).
 */
export const ENCODED_BATCH_EVENTS = 1024;

/**
 * The encoder as a stage: batches of events in, {@linkcode EncodedBatch}es
 * of at most {@linkcode ENCODED_BATCH_EVENTS} events out (a run counting its
 * packets), and the format's closing bytes (text's TAIL line) at the end.
 * Each batch's bytes are its own, so the sink may still be writing one
 * while the next is encoded; a batch with `release` is given back to the
 * encoder once written.
 *
 * @example Usage
 * ```ts
 * import { EncoderStream, makeEncoder } from "./encoder.ts";
 * const enc = makeEncoder("json", { snaplen: 0, data: false });
 * const out = await Array.fromAsync(
 *   ReadableStream.from([[{ type: "connection" as const, sec: 1, nsec: 0,
 *     event: "open" as const, conn: 1, pid: 2 }]]).pipeThrough(new EncoderStream(enc)),
 * );
 * if (out.length !== 1 || out[0]!.packets !== 0) throw new Error();
 * ```
 */
export class EncoderStream
  extends TransformStream<readonly ChunkEvent[], EncodedBatch> {
  /**
   * Makes the stage.
   *
   * @param encoder The format's encoder.
   * @param options `releaseBatch`: called, once a chunk of events is
   * encoded, with the buffer of each sensor batch that its packets still
   * pointed into (`BatchedPacket.batchWords`): nothing reads those bytes
   * any more (the sensor source's pool takes them back). Every packet of a
   * batch that still points into it must come in one chunk.
   */
  constructor(
    encoder: Encoder,
    options: ReleaseOptions = {},
  ) {
    const { releaseBatch } = options;
    // An encoder that reuses its buffer hands it over, given back once
    // written.
    const { detach, recycle } = encoder;
    const batch = (bytes: Uint8Array, packets: number): EncodedBatch => {
      if (!detach || !recycle) return { bytes, packets };
      detach();
      return { bytes, packets, release: () => recycle(bytes) };
    };
    super({
      transform(events, controller) {
        for (const part of partsOf(events, ENCODED_BATCH_EVENTS)) {
          const bytes = encoder.encode(part);
          if (bytes.length) {
            controller.enqueue(batch(bytes, packetCount(part)));
          }
        }
        if (releaseBatch) releaseBatchOf(events, releaseBatch);
      },
      flush(controller) {
        const bytes = encoder.finish();
        if (bytes.length) controller.enqueue(batch(bytes, 0));
      },
    });
  }
}
