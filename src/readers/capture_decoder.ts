/**
 * A streaming decoder for capture files: PCAP-NG (both byte orders, any
 * number of sections, unknown blocks and options skipped), the original
 * Hone's blocks (HoneProject layout and the Google fork's 64-bit connection
 * ids), and classic pcap. It turns bytes into hone events.
 *
 * This file frames the input (chunks, blocks split across chunks, format
 * detection, block and record lengths); the blocks themselves are decoded by
 * pcapng_blocks.ts, hone_blocks.ts and classic_pcap.ts.
 *
 * Input is pushed in chunks of any size; a block split across chunks is
 * joined (only that block is copied). Packet data is a view into the input,
 * never copied, and the decoder never writes into a buffer it has handed
 * out. The decoder keeps no view of a chunk after `push` returns, so a
 * caller may reuse its input buffer once it is done with the events.
 *
 * @module
 */

import type { HoneEvent } from "../events/mod.ts";
import { HoneFormatError } from "../format/mod.ts";
import * as C from "../format/mod.ts";
import {
  type DecoderNotes,
  type DecoderState,
  flushSection,
  MAX_BLOCK_BYTES,
  newDecoderState,
} from "./_decoder_state.ts";
import { decodePcap } from "./classic_pcap.ts";
import { decodeBlock, decodeEpb } from "./pcapng_blocks.ts";

export {
  type DecoderNotes,
  MAX_BLOCK_BYTES,
  MAX_PACKET_BYTES,
} from "./_decoder_state.ts";
export { canonicalGuid } from "./pcapng_blocks.ts";

const EMPTY = new Uint8Array(0);

/** Options of {@linkcode CaptureDecoder}. */
export interface CaptureDecoderOptions {
  /**
   * A raw-IP packet's event keeps its bytes in the input as a
   * {@linkcode BatchedPacket}; see the constructor.
   */
  batched?: boolean;
}

/**
 * Decodes capture bytes into hone events, chunk by chunk.
 *
 * @example Usage
 * ```ts
 * import { CaptureDecoder } from "./capture_decoder.ts";
 * import type { HoneEvent } from "../events/types.ts";
 * // A classic pcap header (raw IP, microseconds) and no packets.
 * const file = new Uint8Array(24);
 * const v = new DataView(file.buffer);
 * v.setUint32(0, 0xa1b2c3d4, true);
 * v.setUint16(4, 2, true);
 * v.setUint16(6, 4, true);
 * v.setUint32(16, 65535, true);
 * v.setUint32(20, 101, true);
 * const dec = new CaptureDecoder();
 * const out: HoneEvent[] = [];
 * dec.push(file.subarray(0, 10), out); // any split works
 * dec.push(file.subarray(10), out);
 * dec.finish(out);
 * if (out[0]?.type !== "section") throw new Error();
 * ```
 */
export class CaptureDecoder {
  /** Bytes of a block split across chunks; the first #pendingLen are valid. */
  #pending: Uint8Array = EMPTY;
  #pendingLen = 0;
  #mode: "detect" | "pcapng" | "pcap" = "detect";
  /** Everything the block decoders share; `offset` is that of #pending[0]. */
  #s: DecoderState = newDecoderState();

  /**
   * Makes a decoder.
   *
   * @param options `batched`: a raw-IP packet's event keeps its bytes in
   *   the input as a {@linkcode BatchedPacket} (its `data` view made only
   *   when asked for), for a chain whose stages do not read the bytes (the
   *   pcapng writer copies them as words); the input's chunks may then be
   *   reused once their events are encoded (the decoder copies the packets
   *   it keeps for copy blocks).
   */
  constructor(options: CaptureDecoderOptions = {}) {
    this.#s.batched = options.batched ?? false;
  }

  /** What was skipped so far. */
  get notes(): DecoderNotes {
    return this.#s.notes;
  }

  /**
   * Decodes every complete block in `chunk` (joined with what was left from
   * earlier chunks) and appends the events to `out`.
   *
   * @param chunk The next bytes of the input. It must not be modified later.
   * @param out Receives the decoded events.
   * @throws {HoneFormatError} The input is malformed; `out` holds every event before the fault.
   */
  push(chunk: Uint8Array, out: HoneEvent[]): void {
    try {
      this.#push(chunk, out);
    } catch (e) {
      throw this.#formatError(e);
    }
  }

  /**
   * Ends the input: anything left over is a truncated block.
   *
   * @param out Receives a pending section event, if any.
   * @throws {HoneFormatError} The input ended inside a block, or was empty.
   */
  finish(out: HoneEvent[]): void {
    try {
      this.#finish(out);
    } catch (e) {
      throw this.#formatError(e);
    }
  }

  /**
   * The last-resort net: an error that no check of the decoder foresaw
   * still reaches the user as one line with the offset of its block.
   */
  #formatError(e: unknown): HoneFormatError {
    if (e instanceof HoneFormatError) return e;
    return new HoneFormatError(
      "Cannot decode the capture: internal error",
      this.#s.at,
      { cause: e },
    );
  }

  #push(chunk: Uint8Array, out: HoneEvent[]): void {
    let p = this.#pendingLen;
    const want = this.#s.want;
    if (p > 0 && want > p && want - p <= chunk.length) {
      // The block split across the boundary, whose length its header gave:
      // complete it with exactly the bytes it lacks and decode it alone,
      // then go on in `chunk` itself.
      this.#reserve(want, p);
      this.#pending.set(chunk.subarray(0, want - p), p);
      chunk = chunk.subarray(want - p);
      p = this.#pendingLen = want;
      const used = this.#decode(this.#pending.subarray(0, p), out);
      if (used === p) {
        // Events may hold views into #pending: it is never written again.
        this.#pending = EMPTY;
        this.#pendingLen = 0;
        this.#s.offset += used;
        p = 0;
      } else if (used !== 0) {
        throw new Error(`a ${p}-byte block decoded as ${used} bytes`);
      }
    }
    if (p > 0) {
      // Complete the block split across the boundary with as little of
      // `chunk` as it needs (64 KiB first, four times more until it fits)
      // rather than copying the whole chunk. The bytes are appended to
      // #pending, which grows by doubling, so a large block that arrives in
      // many chunks costs a few copies of itself, not one per chunk.
      let copied = 0;
      for (
        let k = Math.min(chunk.length, 65536);;
        k = Math.min(chunk.length, k * 4)
      ) {
        this.#reserve(p + k, p + copied);
        this.#pending.set(chunk.subarray(copied, k), p + copied);
        copied = k;
        const used = this.#decode(this.#pending.subarray(0, p + k), out);
        if (used > 0) {
          // Events may hold views into #pending: it is never written again.
          const head = this.#pending;
          this.#pending = EMPTY;
          this.#pendingLen = 0;
          this.#s.offset += used;
          if (used >= p) chunk = chunk.subarray(used - p);
          else {
            const rest = new Uint8Array(p - used + chunk.length);
            rest.set(head.subarray(used, p));
            rest.set(chunk, p - used);
            chunk = rest;
          }
          break;
        }
        if (k === chunk.length) {
          this.#pendingLen = p + k;
          return;
        }
      }
    }
    const used = this.#decode(chunk, out);
    this.#s.offset += used;
    // A copy: the caller may reuse `chunk` (what is left is under one block).
    this.#pending = chunk.slice(used);
    this.#pendingLen = this.#pending.length;
  }

  /** Makes #pending hold at least `n` bytes, keeping its first `keep`. */
  #reserve(n: number, keep: number): void {
    if (n <= this.#pending.length) return;
    const b = new Uint8Array(Math.max(n, this.#pending.length * 2));
    b.set(this.#pending.subarray(0, keep));
    this.#pending = b;
  }

  #finish(out: HoneEvent[]): void {
    flushSection(this.#s, out);
    const n = this.#pendingLen;
    if (n > 0) {
      const what = this.#mode === "detect"
        ? "file header"
        : this.#mode === "pcapng"
        ? "block"
        : this.#s.pcapIface
        ? "pcap record"
        : "pcap file header";
      throw new HoneFormatError(
        `Cannot read ${what}: the input ends ${
          this.#s.want > n
            ? `after ${n} of its ${this.#s.want} bytes`
            : `${n} bytes into it`
        }`,
        this.#s.offset,
      );
    }
    if (this.#mode === "detect") {
      throw new HoneFormatError("Cannot read capture: the input is empty", 0);
    }
  }

  #decode(buf: Uint8Array, out: HoneEvent[]): number {
    try {
      return this.#decodeBlocks(buf, out);
    } finally {
      // No view of a chunk is kept past its push.
      this.#s.words = null;
    }
  }

  #decodeBlocks(buf: Uint8Array, out: HoneEvent[]): number {
    let pos = 0;
    this.#s.want = 0;
    this.#s.at = this.#s.offset;
    if (this.#mode === "detect") {
      if (buf.length < 4) return 0;
      const m = new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0, false);
      if (m === C.BT_SHB) {
        this.#mode = "pcapng";
        this.#s.notes.format = "pcapng";
      } else if (
        m === 0xa1b2c3d4 || m === 0xd4c3b2a1 || m === 0xa1b23c4d ||
        m === 0x4d3cb2a1
      ) {
        this.#mode = "pcap";
        this.#s.notes.format = "pcap";
      } else {
        throw new HoneFormatError(
          "Cannot read capture: not a pcapng or pcap file (its magic is " +
            `0x${m.toString(16).padStart(8, "0")})`,
          0,
        );
      }
    }
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (this.#mode === "pcap") return decodePcap(this.#s, buf, view, out);
    // Blocks start on words of the file: with the buffer on a word too, a
    // packet's bytes can be copied from it as words.
    this.#s.words = this.#s.batched && (buf.byteOffset & 3) === 0
      ? new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >> 2)
      : null;
    while (buf.length - pos >= 12) {
      const abs = this.#s.offset + pos;
      this.#s.at = abs;
      const type = view.getUint32(pos, this.#s.le);
      let le = this.#s.le;
      if (type === C.BT_SHB) {
        const magic = view.getUint32(pos + 8, true);
        if (magic === C.BYTE_ORDER_MAGIC) le = true;
        else if (magic === 0x4d3c2b1a) le = false;
        else {
          throw new HoneFormatError(
            "Cannot read section header: its byte-order magic " +
              `0x${magic.toString(16)} is neither 0x1a2b3c4d nor 0x4d3c2b1a`,
            abs + 8,
          );
        }
      }
      const len = view.getUint32(pos + 4, le);
      const bad = len < 12
        ? "is under the 12-byte minimum"
        : len % 4 !== 0
        ? "is not a multiple of 4"
        : len > MAX_BLOCK_BYTES
        ? `is over the ${MAX_BLOCK_BYTES}-byte limit`
        : null;
      if (bad !== null) {
        throw new HoneFormatError(
          `Cannot read block of type 0x${
            type.toString(16)
          }: length ${len} ${bad}`,
          abs,
        );
      }
      if (buf.length - pos < len) {
        this.#s.want = len;
        break;
      }
      const trailer = view.getUint32(pos + len - 4, le);
      if (trailer !== len) {
        throw new HoneFormatError(
          `Cannot read block of type 0x${
            type.toString(16)
          }: its trailing length ${trailer} differs from its length ${len}`,
          abs,
        );
      }
      if (type === C.BT_SHB) this.#s.le = le;
      if (type === C.BT_EPB && len >= 32 && this.#s.section === null) {
        // The common case, without decodeBlock's per-call closure.
        decodeEpb(this.#s, buf, view, pos + 8, pos + len - 4, out);
      } else {
        decodeBlock(this.#s, type, buf, view, pos + 8, pos + len - 4, abs, out);
      }
      pos += len;
    }
    return pos;
  }
}
