/**
 * One interface over hone's three output formats.
 *
 * @module
 */

import type { HoneEvent, HostId } from "../events/types.ts";
import { JsonlWriter } from "../writers/jsonl/jsonl_writer.ts";
import { PcapngWriter } from "../writers/pcapng/pcapng_writer.ts";
import { TextWriter } from "../writers/text/text_writer.ts";

/** Output formats. */
export type Format = "json" | "text" | "pcapng";

/** Turns event batches into bytes. */
export interface Encoder {
  /** Encodes a batch; the bytes are valid until the next call. */
  encode(events: readonly HoneEvent[]): Uint8Array;
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
  /** Host id for pcapng. */
  hostId?: HostId | null;
  /** Section comment for pcapng. */
  comment?: string | null;
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
    });
    return { encode: (e) => w.encode(e), finish: () => w.encode([]) };
  }
  if (format === "text") {
    const w = new TextWriter();
    return {
      encode: (e) => enc.encode(w.encode(e)),
      finish: () => enc.encode(w.finish()),
    };
  }
  const w = new JsonlWriter({ data: o.data, snaplen: o.snaplen });
  return { encode: (e) => enc.encode(w.encode(e)), finish: () => EMPTY };
}
