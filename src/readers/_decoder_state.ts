/**
 * What the capture decoder's block decoders share: the decoder's state as
 * one plain object, and the checks and helpers every block kind uses
 * (options, interfaces, timestamps, packet events).
 *
 * @module
 */

import type {
  Attribution,
  Direction,
  HoneEvent,
  PacketEvent,
  SectionEvent,
} from "../events/mod.ts";
import { HoneFormatError } from "../format/mod.ts";
import * as C from "../format/mod.ts";
import {
  MICROSECONDS,
  type Resolution,
  splitTimestamp,
} from "../format/mod.ts";
import { BatchedPacket } from "../events/mod.ts";
import { type IpLocation, isRawIp, locateIp } from "./linktype.ts";

/** Largest block hone accepts (a lying length must not make it buffer gigabytes). */
export const MAX_BLOCK_BYTES = 64 * 1024 * 1024;

/**
 * Largest captured length of one packet hone accepts: libpcap's and
 * Wireshark's limit (`MAXIMUM_SNAPLEN`, `WTAP_MAX_PACKET_SIZE_STANDARD`), so
 * whatever hone reads, tshark can read once hone has rewritten it.
 */
export const MAX_PACKET_BYTES = 262144;

/** An interface of the section: how to read its packets' link layer and times. */
export interface Iface {
  linktype: number;
  snaplen: number;
  res: Resolution;
  tsOffset: number;
}

/** Counters of what the decoder skipped, for a warning at the end. */
export interface DecoderNotes {
  /** Packets that were not IPv4 or IPv6 (e.g. ARP), skipped. */
  nonIp: number;
  /** Packets on interfaces whose link type hone cannot read, skipped. */
  badLinktype: number;
  /** Blocks of unknown types, skipped. */
  unknownBlocks: number;
  /** Input format: `pcapng`, `pcap`, or `null` before the first bytes. */
  format: "pcapng" | "pcap" | null;
}

/** The decoder's state, shared by the block decoders of one decoder. */
export interface DecoderState {
  /** Byte order of the current section (or pcap file). */
  le: boolean;
  /** Absolute offset of the first byte of the buffer being decoded. */
  offset: number;
  /** Absolute offset of the block being decoded, for errors. */
  at: number;
  /** Bytes the block at the end of the buffer needs, 0 if none. */
  want: number;
  /** The section's interfaces, by id. */
  ifaces: Iface[];
  /** Whether Hone connection ids are 64-bit (Google fork), once known. */
  wideConn: boolean | null;
  /** A section event not yet passed on (its IDB may still change it). */
  section: SectionEvent | null;
  /** The classic pcap file's one interface, once its header is read. */
  pcapIface: Iface | null;
  /** Scratch for locateIp. */
  loc: IpLocation;
  /** Scratch for timestamps: [sec, nsec]. */
  ts: Float64Array;
  /** What was skipped. */
  notes: DecoderNotes;
  /** Enhanced packet blocks read in this section. */
  epbs: number;
  /**
   * The latest packets of this section, for copy blocks: a ring indexed by
   * EPB ordinal modulo {@linkcode MAX_RECENT_PACKETS}, with the ordinal of
   * each slot in `recentOrd`.
   */
  recent: (PacketEvent | undefined)[];
  /** The EPB ordinal each slot of `recent` holds. */
  recentOrd: Float64Array;
  /** Whether this section keeps its packets in `recent` (it has copy blocks). */
  keepRecent: boolean;
  /** What the current packet's options say (one object, reused). */
  packetOptions: PacketOptions;
  /**
   * Whether a raw-IP packet's event may keep its bytes in the input buffer
   * (a {@linkcode BatchedPacket} over `words`) rather than in a view; the
   * input's chunks may then be read into again once their events are
   * encoded, so what the decoder keeps longer gets a copy.
   */
  batched: boolean;
  /** The buffer being decoded as 32-bit words, when batched and aligned. */
  words: Uint32Array | null;
}

/** What a packet's options say: direction, process, connection, how. */
export interface PacketOptions {
  /** Direction (EPB flags). */
  dir: Direction;
  /** Process id. */
  pid: number | null;
  /** Thread id. */
  tid: number | null;
  /** Connection id. */
  conn: number | null;
  /** How the pid was known. */
  how: Attribution | null;
}

/** Most packets a section keeps for the copy blocks that refer to them. */
export const MAX_RECENT_PACKETS = 1 << 16;

/**
 * A fresh decoder state.
 *
 * @returns The state of a decoder that has read nothing.
 */
export function newDecoderState(): DecoderState {
  return {
    le: true,
    offset: 0,
    at: 0,
    want: 0,
    ifaces: [],
    wideConn: null,
    section: null,
    pcapIface: null,
    loc: { offset: 0, dir: null },
    ts: new Float64Array(2),
    notes: { nonIp: 0, badLinktype: 0, unknownBlocks: 0, format: null },
    epbs: 0,
    recent: new Array(MAX_RECENT_PACKETS),
    recentOrd: new Float64Array(MAX_RECENT_PACKETS).fill(-1),
    keepRecent: false,
    packetOptions: { dir: null, pid: null, tid: null, conn: null, how: null },
    batched: false,
    words: null,
  };
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

/** Decodes a UTF-8 byte string, as sent in options (invalid bytes: U+FFFD). */
export function decodeUtf8(d: Uint8Array): string {
  return utf8.decode(d);
}

/** Decodes a pcapng string option (UTF-8, trailing NULs dropped). */
export function decodeText(d: Uint8Array): string {
  // Strings in PCAP-NG are not NUL-terminated, but some writers add one.
  let end = d.length;
  while (end > 0 && d[end - 1] === 0) end--;
  return utf8.decode(d.subarray(0, end));
}

/** Whether every byte is printable ASCII. */
export function looksLikeText(d: Uint8Array): boolean {
  for (const b of d) if (b < 0x20 || b > 0x7e) return false;
  return true;
}

/**
 * Checks the option at `p` (pcapng spec §3.5): returns the length of its
 * value, or -1 at opt_endofopt. `base` is the absolute offset of the
 * view's first byte, for the error.
 *
 * @throws {HoneFormatError} The option's header or value runs past `end`.
 */
export function optionAt(
  v: DataView,
  p: number,
  end: number,
  base: number,
  le: boolean,
): number {
  if (end - p < 4) {
    throw new HoneFormatError(
      `Cannot read options: ${
        end - p
      } bytes are left in the block, under the 4 of an option header`,
      base + p,
    );
  }
  const code = v.getUint16(p, le);
  const n = v.getUint16(p + 2, le);
  if (code === C.OPT_ENDOFOPT) return -1;
  if (n > end - p - 4) {
    throw new HoneFormatError(
      `Cannot read option ${code}: its length ${n} is over the ${
        end - p - 4
      } bytes left in the block`,
      base + p,
    );
  }
  return n;
}

/** `n` rounded up to a multiple of 4 (pcapng pads to 32 bits). */
export function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** The direction in an `epb_flags` value (bits 0-1). */
export function flagsDir(flags: number): Direction {
  const d = flags & 3;
  return d === 1 ? "in" : d === 2 ? "out" : null;
}

/**
 * Reads a 64-bit connection id as a number. Kernel pointers (the Google
 * fork's ids) have their top 16 bits all ones, so their low 48 bits are
 * unique and are what hone shows.
 */
export function wideId(v: DataView, o: number, le: boolean): number {
  const lo = v.getUint32(o + (le ? 0 : 4), le);
  const hi = v.getUint32(o + (le ? 4 : 0), le);
  const top = hi >>> 16;
  const h = top === 0xffff || top === 0 ? hi & 0xffff : hi;
  return h * 4294967296 + lo;
}

/** The interface `id`, read at byte `at`, of a block of kind `what`. */
export function ifaceOf(
  s: DecoderState,
  id: number,
  at: number,
  what: string,
): Iface {
  const iface = s.ifaces[id];
  if (!iface) {
    throw new HoneFormatError(
      `Cannot read ${what}: it refers to interface ${id}, but the section describes ${s.ifaces.length}`,
      at,
    );
  }
  return iface;
}

/**
 * Checks the captured length of an EPB or PB (fixed fields from `start`,
 * data after 20 bytes of them) against the block and the packet limit.
 */
export function capturedLength(
  s: DecoderState,
  v: DataView,
  start: number,
  end: number,
  what: string,
): number {
  const cap = v.getUint32(start + 12, s.le);
  const room = end - start - 20;
  if (cap > room || cap > MAX_PACKET_BYTES) {
    throw new HoneFormatError(
      `Cannot read ${what}: captured length ${cap} is over ${
        cap > room
          ? `the ${room} bytes its block has for data`
          : `the ${MAX_PACKET_BYTES}-byte limit`
      }`,
      s.offset + start + 12,
    );
  }
  return cap;
}

/** Calls `each` for every option from `p` to `end`, checked by optionAt. */
export function forEachOption(
  s: DecoderState,
  v: DataView,
  p: number,
  end: number,
  each: (code: number, valueAt: number, len: number) => void,
): void {
  const le = s.le;
  while (p < end) {
    const n = optionAt(v, p, end, s.offset, le);
    if (n < 0) return;
    each(v.getUint16(p, le), p + 4, n);
    p += 4 + pad4(n);
  }
}

/** Converts a block's timestamp with its interface's resolution into `s.ts`. */
export function stamp(
  s: DecoderState,
  iface: Iface | undefined,
  hi: number,
  lo: number,
): void {
  const res = iface ? iface.res : MICROSECONDS;
  splitTimestamp(hi, lo, res, s.ts);
  if (iface && iface.tsOffset) s.ts[0] += iface.tsOffset;
}

/**
 * Makes the packet event of the frame of `cap` bytes at `at` in `buf` (its
 * IP packet located by link type) and appends it to `out`; null when the
 * frame was skipped (counted in `s.notes`). A raw-IP frame of a batched
 * decoder's word-aligned buffer (`s.words`) stays there: its event is a
 * {@linkcode BatchedPacket}, no view made.
 */
export function packetEvent(
  s: DecoderState,
  iface: Iface,
  buf: Uint8Array,
  at: number,
  cap: number,
  orig: number,
  hi: number,
  lo: number,
  dir: Direction,
  out: HoneEvent[],
): PacketEvent | null {
  const words = s.words;
  if (words !== null && isRawIp(iface.linktype)) {
    const ver = cap > 0 ? buf[at]! >> 4 : 0;
    if (ver !== 4 && ver !== 6) {
      s.notes.nonIp++;
      return null;
    }
    stamp(s, iface, hi, lo);
    const b = new BatchedPacket(
      s.ts[0]!,
      s.ts[1]!,
      dir,
      null,
      orig,
      words,
      at,
      cap,
      false,
    );
    out.push(b);
    return b;
  }
  // A view made directly: cheaper than subarray().
  const frame = new Uint8Array(buf.buffer, buf.byteOffset + at, cap);
  const loc = s.loc;
  if (!locateIp(iface.linktype, frame, loc)) {
    s.notes.badLinktype++;
    return null;
  }
  if (loc.offset < 0) {
    s.notes.nonIp++;
    return null;
  }
  stamp(s, iface, hi, lo);
  const e: PacketEvent = {
    type: "packet",
    sec: s.ts[0]!,
    nsec: s.ts[1]!,
    dir: dir ?? loc.dir,
    pid: null,
    tid: null,
    conn: null,
    len: Math.max(0, orig - loc.offset),
    data: loc.offset === 0 ? frame : frame.subarray(loc.offset),
  };
  out.push(e);
  return e;
}

/** Passes on the section event once nothing can change it any more. */
export function flushSection(s: DecoderState, out: HoneEvent[]): void {
  if (s.section) {
    out.push(s.section);
    s.section = null;
  }
}
