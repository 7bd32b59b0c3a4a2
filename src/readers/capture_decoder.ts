/**
 * A streaming decoder for capture files: PCAP-NG (both byte orders, any
 * number of sections, unknown blocks and options skipped), the original
 * Hone's blocks (HoneProject layout and the Google fork's 64-bit connection
 * ids), and classic pcap. It turns bytes into hone events.
 *
 * Input is pushed in chunks of any size; a block split across chunks is
 * joined (only that block is copied). Packet data is a view into the input,
 * never copied, and the decoder never writes into a buffer it has handed
 * out. The decoder keeps no view of a chunk after `push` returns, so a
 * caller may reuse its input buffer once it is done with the events.
 *
 * @module
 */

import type {
  Attribution,
  ConnectionEvent,
  Direction,
  EventCounts,
  HoneEvent,
  HostId,
  PacketEvent,
  ProcessEventKind,
  SectionEvent,
  StatsEvent,
} from "../events/types.ts";
import { ATTRIBUTIONS, processEvent, zeroCounts } from "../events/types.ts";
import { HoneFormatError } from "../format/errors.ts";
import * as C from "../format/pcapng_codes.ts";
import {
  MICROSECONDS,
  NANOSECONDS,
  type Resolution,
  resolutionFromByte,
  splitTimestamp,
} from "../format/time.ts";
import { type IpLocation, locateIp } from "./linktype.ts";

/** Largest block hone accepts (a lying length must not make it buffer gigabytes). */
export const MAX_BLOCK_BYTES = 64 * 1024 * 1024;

/**
 * Largest captured length of one packet hone accepts: libpcap's and
 * Wireshark's limit (`MAXIMUM_SNAPLEN`, `WTAP_MAX_PACKET_SIZE_STANDARD`), so
 * whatever hone reads, tshark can read once hone has rewritten it.
 */
export const MAX_PACKET_BYTES = 262144;

const EMPTY = new Uint8Array(0);

interface Iface {
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

const utf8 = new TextDecoder("utf-8", { fatal: false });
const HOWS: ReadonlySet<string> = new Set(ATTRIBUTIONS);

function decodeText(d: Uint8Array): string {
  // Strings in PCAP-NG are not NUL-terminated, but some writers add one.
  let end = d.length;
  while (end > 0 && d[end - 1] === 0) end--;
  return utf8.decode(d.subarray(0, end));
}

function looksLikeText(d: Uint8Array): boolean {
  for (const b of d) if (b < 0x20 || b > 0x7e) return false;
  return true;
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
  #offset = 0; // absolute offset of #pending[0]
  /** Absolute offset of the block being decoded, for unexpected errors. */
  #at = 0;
  /** Length of the block #decode stopped in, when it could read it. */
  #want = 0;
  #mode: "detect" | "pcapng" | "pcap" = "detect";
  #le = true;
  #ifaces: Iface[] = [];
  #wideConn: boolean | null = null;
  #section: SectionEvent | null = null;
  #loc: IpLocation = { offset: 0, dir: null };
  #ts = new Float64Array(2);
  // classic pcap
  #pcapIface: Iface | null = null;
  /** What was skipped so far. */
  readonly notes: DecoderNotes = {
    nonIp: 0,
    badLinktype: 0,
    unknownBlocks: 0,
    format: null,
  };

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
      this.#at,
      { cause: e },
    );
  }

  #push(chunk: Uint8Array, out: HoneEvent[]): void {
    const p = this.#pendingLen;
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
          this.#offset += used;
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
    this.#offset += used;
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
    this.#flushSection(out);
    const n = this.#pendingLen;
    if (n > 0) {
      const what = this.#mode === "detect"
        ? "file header"
        : this.#mode === "pcapng"
        ? "block"
        : this.#pcapIface
        ? "pcap record"
        : "pcap file header";
      throw new HoneFormatError(
        `Cannot read ${what}: the input ends ${
          this.#want > n
            ? `after ${n} of its ${this.#want} bytes`
            : `${n} bytes into it`
        }`,
        this.#offset,
      );
    }
    if (this.#mode === "detect") {
      throw new HoneFormatError("Cannot read capture: the input is empty", 0);
    }
  }

  #decode(buf: Uint8Array, out: HoneEvent[]): number {
    let pos = 0;
    this.#want = 0;
    this.#at = this.#offset;
    if (this.#mode === "detect") {
      if (buf.length < 4) return 0;
      const m = new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0, false);
      if (m === C.BT_SHB) {
        this.#mode = "pcapng";
        this.notes.format = "pcapng";
      } else if (
        m === 0xa1b2c3d4 || m === 0xd4c3b2a1 || m === 0xa1b23c4d ||
        m === 0x4d3cb2a1
      ) {
        this.#mode = "pcap";
        this.notes.format = "pcap";
      } else {
        throw new HoneFormatError(
          "Cannot read capture: not a pcapng or pcap file (its magic is " +
            `0x${m.toString(16).padStart(8, "0")})`,
          0,
        );
      }
    }
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (this.#mode === "pcap") return this.#decodePcap(buf, view, out);
    while (buf.length - pos >= 12) {
      const abs = this.#offset + pos;
      this.#at = abs;
      const type = view.getUint32(pos, this.#le);
      let le = this.#le;
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
        this.#want = len;
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
      if (type === C.BT_SHB) this.#le = le;
      if (type === C.BT_EPB && len >= 32 && this.#section === null) {
        // The common case, without #block's per-call closure.
        this.#epb(buf, view, pos + 8, pos + len - 4, out);
      } else this.#block(type, buf, view, pos + 8, pos + len - 4, abs, out);
      pos += len;
    }
    return pos;
  }

  #block(
    type: number,
    buf: Uint8Array,
    v: DataView,
    start: number,
    end: number,
    abs: number,
    out: HoneEvent[],
  ): void {
    const le = this.#le;
    const need = (n: number, what: string) => {
      if (end - start < n) {
        throw new HoneFormatError(
          `Cannot read ${what}: its block is ${
            end - start + 12
          } bytes, under the ${n + 12} its fixed fields take`,
          abs,
        );
      }
    };
    switch (type) {
      case C.BT_SHB: {
        need(16, "section header");
        const major = v.getUint16(start + 4, le);
        if (major !== 1) {
          throw new HoneFormatError(
            `Cannot read section header: pcapng major version ${major} is not supported`,
            this.#offset + start + 4,
          );
        }
        this.#flushSection(out);
        this.#ifaces = [];
        this.#wideConn = null;
        const s: SectionEvent = {
          type: "section",
          hostId: null,
          os: null,
          userAppl: null,
          hardware: null,
          comment: null,
          snaplen: 0,
        };
        this.#options(v, start + 16, end, (code, o, n) => {
          const val = buf.subarray(o, o + n);
          if (code === C.SHB_OS) s.os = decodeText(val);
          else if (code === C.SHB_USERAPPL) s.userAppl = decodeText(val);
          else if (code === C.SHB_HARDWARE) s.hardware = decodeText(val);
          else if (code === C.OPT_COMMENT && s.comment === null) {
            s.comment = decodeText(val);
          } else if (code === C.SHB_HONE_HOSTID) {
            s.hostId = parseHostId(val, le);
          }
        });
        this.#section = s;
        return;
      }
      case C.BT_IDB: {
        need(8, "interface description");
        const iface: Iface = {
          linktype: v.getUint16(start, le),
          snaplen: v.getUint32(start + 4, le),
          res: MICROSECONDS,
          tsOffset: 0,
        };
        this.#options(v, start + 8, end, (code, o, n) => {
          if (code === C.IF_TSRESOL && n >= 1) {
            const r = resolutionFromByte(buf[o]!);
            if (r === null) {
              throw new HoneFormatError(
                `Cannot read interface description: timestamp resolution 0x${
                  buf[o]!.toString(16)
                } is not supported`,
                this.#offset + o,
              );
            }
            iface.res = r;
          } else if (code === C.IF_TSOFFSET && n >= 8) {
            iface.tsOffset = Number(v.getBigInt64(o, le));
          }
        });
        this.#ifaces.push(iface);
        if (this.#ifaces.length === 1 && this.#section) {
          this.#section.snaplen = iface.snaplen;
        }
        return;
      }
      case C.BT_EPB:
        need(20, "enhanced packet");
        this.#flushSection(out);
        return this.#epb(buf, v, start, end, out);
      case C.BT_SPB: {
        need(4, "simple packet");
        this.#flushSection(out);
        const iface = this.#iface(0, abs, "simple packet");
        const orig = v.getUint32(start, le);
        let cap = Math.min(orig, end - start - 4);
        if (iface.snaplen > 0) cap = Math.min(cap, iface.snaplen);
        if (cap > MAX_PACKET_BYTES) {
          throw new HoneFormatError(
            `Cannot read simple packet: its ${cap} bytes of data are over the ${MAX_PACKET_BYTES}-byte limit`,
            abs,
          );
        }
        this.#packet(
          iface,
          buf.subarray(start + 4, start + 4 + cap),
          orig,
          0,
          0,
          null,
          out,
        );
        return;
      }
      case C.BT_PB: {
        need(20, "packet");
        this.#flushSection(out);
        const iface = this.#iface(
          v.getUint16(start, le),
          this.#offset + start,
          "packet",
        );
        const cap = this.#capturedLength(v, start, end, "packet");
        const orig = v.getUint32(start + 16, le);
        const dataEnd = start + 20 + pad4(cap);
        let dir: Direction = null;
        this.#options(v, dataEnd, end, (code, o, n) => {
          if (code === C.EPB_FLAGS && n >= 4) {
            dir = flagsDir(v.getUint32(o, le));
          }
        });
        this.#packet(
          iface,
          buf.subarray(start + 20, start + 20 + cap),
          orig,
          v.getUint32(start + 4, le),
          v.getUint32(start + 8, le),
          dir,
          out,
        );
        return;
      }
      case C.BT_HONE_PROCESS:
        need(12, "Hone process block");
        this.#flushSection(out);
        return this.#peb(buf, v, start, end, out);
      case C.BT_HONE_CONNECTION:
        need(16, "Hone connection block");
        this.#flushSection(out);
        return this.#ceb(buf, v, start, end, abs, out);
      case C.BT_ISB:
        need(12, "interface statistics");
        this.#flushSection(out);
        return this.#isb(v, start, end, out);
      default:
        this.notes.unknownBlocks++;
        return;
    }
  }

  #flushSection(out: HoneEvent[]): void {
    if (this.#section) {
      out.push(this.#section);
      this.#section = null;
    }
  }

  /** The interface `id`, read at byte `at`, of a block of kind `what`. */
  #iface(id: number, at: number, what: string): Iface {
    const iface = this.#ifaces[id];
    if (!iface) {
      throw new HoneFormatError(
        `Cannot read ${what}: it refers to interface ${id}, but the section describes ${this.#ifaces.length}`,
        at,
      );
    }
    return iface;
  }

  /**
   * Checks the captured length of an EPB or PB (fixed fields from `start`,
   * data after 20 bytes of them) against the block and the packet limit.
   */
  #capturedLength(
    v: DataView,
    start: number,
    end: number,
    what: string,
  ): number {
    const cap = v.getUint32(start + 12, this.#le);
    const room = end - start - 20;
    if (cap > room || cap > MAX_PACKET_BYTES) {
      throw new HoneFormatError(
        `Cannot read ${what}: captured length ${cap} is over ${
          cap > room
            ? `the ${room} bytes its block has for data`
            : `the ${MAX_PACKET_BYTES}-byte limit`
        }`,
        this.#offset + start + 12,
      );
    }
    return cap;
  }

  #options(
    v: DataView,
    p: number,
    end: number,
    each: (code: number, valueAt: number, len: number) => void,
  ): void {
    const le = this.#le;
    while (p < end) {
      const n = optionAt(v, p, end, this.#offset, le);
      if (n < 0) return;
      each(v.getUint16(p, le), p + 4, n);
      p += 4 + pad4(n);
    }
  }

  #stamp(iface: Iface | undefined, hi: number, lo: number): void {
    const res = iface ? iface.res : MICROSECONDS;
    splitTimestamp(hi, lo, res, this.#ts);
    if (iface && iface.tsOffset) this.#ts[0] += iface.tsOffset;
  }

  #packet(
    iface: Iface,
    frame: Uint8Array,
    orig: number,
    hi: number,
    lo: number,
    dir: Direction,
    out: HoneEvent[],
  ): PacketEvent | null {
    const loc = this.#loc;
    if (!locateIp(iface.linktype, frame, loc)) {
      this.notes.badLinktype++;
      return null;
    }
    if (loc.offset < 0) {
      this.notes.nonIp++;
      return null;
    }
    this.#stamp(iface, hi, lo);
    const e: PacketEvent = {
      type: "packet",
      sec: this.#ts[0]!,
      nsec: this.#ts[1]!,
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

  #epb(
    buf: Uint8Array,
    v: DataView,
    start: number,
    end: number,
    out: HoneEvent[],
  ): void {
    const le = this.#le;
    const iface = this.#iface(
      v.getUint32(start, le),
      this.#offset + start,
      "enhanced packet",
    );
    const cap = this.#capturedLength(v, start, end, "enhanced packet");
    const orig = v.getUint32(start + 16, le);
    const dataEnd = start + 20 + pad4(cap);
    let dir: Direction = null;
    let pid: number | null = null;
    let tid: number | null = null;
    let conn: number | null = null;
    let how: Attribution | null = null;
    // Options inline (no closure per packet), checked as in #options.
    let p = dataEnd;
    while (p < end) {
      const n = optionAt(v, p, end, this.#offset, le);
      if (n < 0) break;
      const code = v.getUint16(p, le);
      const o = p + 4;
      switch (code) {
        case C.EPB_HONE_HOW: {
          const h = decodeText(buf.subarray(o, o + n));
          if (HOWS.has(h)) how = h as Attribution;
          break;
        }
        case C.EPB_FLAGS:
          if (n >= 4) dir = flagsDir(v.getUint32(o, le));
          break;
        case C.EPB_HONE_CONN:
          if (n === 4) conn = v.getUint32(o, le);
          else if (n === 8) {
            conn = wideId(v, o, le);
            this.#wideConn = true;
          }
          break;
        case C.EPB_HONE_PID:
          if (n >= 4) pid = v.getUint32(o, le) || null;
          break;
        case C.EPB_PROCESSID_THREADID:
          if (n >= 8) {
            pid = v.getUint32(o, le) || pid;
            tid = v.getUint32(o + 4, le) || null;
          }
          break;
      }
      p = o + pad4(n);
    }
    const e = this.#packet(
      iface,
      // A view made directly: cheaper than subarray().
      new Uint8Array(buf.buffer, buf.byteOffset + start + 20, cap),
      orig,
      v.getUint32(start + 4, le),
      v.getUint32(start + 8, le),
      dir,
      out,
    );
    if (e) {
      e.pid = pid;
      e.tid = tid;
      e.conn = conn;
      if (how) e.how = how;
    }
  }

  #peb(
    buf: Uint8Array,
    v: DataView,
    start: number,
    end: number,
    out: HoneEvent[],
  ): void {
    const le = this.#le;
    this.#stamp(
      this.#ifaces[0],
      v.getUint32(start + 4, le),
      v.getUint32(start + 8, le),
    );
    const e = processEvent({
      sec: this.#ts[0]!,
      nsec: this.#ts[1]!,
      event: "exec",
      pid: v.getUint32(start, le),
    });
    let googleIds = false;
    let euid8: number | null = null;
    this.#options(v, start + 12, end, (code, o, n) => {
      const val = buf.subarray(o, o + n);
      switch (code) {
        case C.PEB_EVENT:
          if (n >= 4) e.event = pebEvent(v.getUint32(o, le));
          break;
        case C.PEB_PATH:
          e.exe = decodeText(val);
          break;
        case C.PEB_ARGV: {
          const parts = utf8.decode(val).split("\0");
          if (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
          e.argv = parts;
          break;
        }
        case C.PEB_PPID:
          if (n >= 4) e.ppid = v.getUint32(o, le);
          break;
        case C.PEB_EUID:
          if (n >= 4) e.uid = v.getUint32(o, le);
          break;
        case C.PEB_EGID:
          if (n >= 4) e.gid = v.getUint32(o, le);
          break;
        case C.PEB_USER:
          // A string user name (the original document), or the Google
          // fork's u32 euid; a 4-byte value is a name only if it is text.
          if (n === 4 && !looksLikeText(val)) {
            googleIds = true;
            euid8 = v.getUint32(o, le);
          } else e.user = decodeText(val);
          break;
        case C.PEB_GROUP:
          if (n === 4 && !looksLikeText(val)) googleIds = true;
          else e.group = decodeText(val);
          break;
        case C.PEB_GOOGLE_EXIT_CODE:
          if (n >= 4) e.exitCode = v.getInt32(o, le);
          break;
        case C.PEB_HONE_COMM:
          e.comm = decodeText(val);
          break;
        case C.PEB_HONE_TID:
          if (n >= 4) e.tid = v.getUint32(o, le);
          break;
        case C.PEB_HONE_EXIT_CODE:
          if (n >= 4) e.exitCode = v.getInt32(o, le);
          break;
        case C.PEB_HONE_CGROUP:
          if (n >= 8) e.cgroup = Number(v.getBigUint64(o, le));
          break;
        case C.PEB_HONE_NETNS:
          if (n >= 4) e.netns = v.getUint32(o, le);
          break;
      }
    });
    // The Google fork writes real uid/gid in 6/7 and the effective uid in 8.
    if (googleIds && euid8 !== null) e.uid = euid8;
    if (e.event === "kthread" && e.exe && /^\[.*\]$/.test(e.exe)) {
      e.comm ??= e.exe.slice(1, -1);
      e.exe = null;
    }
    out.push(e);
  }

  #ceb(
    buf: Uint8Array,
    v: DataView,
    start: number,
    end: number,
    abs: number,
    out: HoneEvent[],
  ): void {
    const le = this.#le;
    // HoneProject: conn u32, pid, ts (16 bytes); Google: conn u64 (20 bytes).
    const narrowOk = this.#optionsValid(v, start + 16, end);
    const wideOk = end - start >= 20 && this.#optionsValid(v, start + 20, end);
    let wide: boolean;
    if (narrowOk !== wideOk) wide = wideOk;
    else if (!narrowOk) {
      throw new HoneFormatError(
        "Cannot read Hone connection block: its options run past the end of the block",
        abs,
      );
    } else if (this.#wideConn !== null) wide = this.#wideConn;
    else {
      // Both parse: a Google id is a kernel pointer (high word 0xffff....).
      const hiWord = v.getUint32(start + (le ? 4 : 0), le);
      wide = end - start === 20 && (hiWord >>> 16) === 0xffff;
    }
    this.#wideConn = wide;
    const conn = wide ? wideId(v, start, le) : v.getUint32(start, le);
    const f = wide ? start + 8 : start + 4;
    this.#stamp(
      this.#ifaces[0],
      v.getUint32(f + 4, le),
      v.getUint32(f + 8, le),
    );
    const e: ConnectionEvent = {
      type: "connection",
      sec: this.#ts[0]!,
      nsec: this.#ts[1]!,
      event: "open",
      conn,
      pid: v.getUint32(f, le) || null,
    };
    this.#options(v, f + 12, end, (code, o, n) => {
      if (code === C.CEB_EVENT && n >= 4 && v.getUint32(o, le) !== 0) {
        e.event = "close";
      } else if (code === C.CEB_HONE_PROTO && n >= 4) {
        e.proto = v.getUint32(o, le);
      } else if (code === C.CEB_HONE_LOCAL) {
        e.local = decodeText(buf.subarray(o, o + n));
      } else if (code === C.CEB_HONE_REMOTE) {
        e.remote = decodeText(buf.subarray(o, o + n));
      }
    });
    out.push(e);
  }

  #optionsValid(v: DataView, p: number, end: number): boolean {
    const le = this.#le;
    while (p < end) {
      if (end - p < 4) return false;
      const code = v.getUint16(p, le);
      const n = v.getUint16(p + 2, le);
      if (code === 0) return n === 0;
      if (p + 4 + n > end) return false;
      p += 4 + pad4(n);
    }
    return p === end;
  }

  #isb(
    v: DataView,
    start: number,
    end: number,
    out: HoneEvent[],
  ): void {
    const le = this.#le;
    const iface = this.#ifaces[v.getUint32(start, le)];
    this.#stamp(iface, v.getUint32(start + 4, le), v.getUint32(start + 8, le));
    const received = zeroCounts();
    const dropped = zeroCounts();
    const delivered = zeroCounts();
    const counts = { received, dropped, delivered };
    let haveRecv = false, haveDeliv = false;
    const e: StatsEvent = {
      type: "stats",
      sec: this.#ts[0]!,
      nsec: this.#ts[1]!,
      received: null,
      dropped,
      delivered: null,
      start: null,
    };
    this.#options(v, start + 12, end, (code, o, n) => {
      if (n !== 8) return;
      if (code === C.ISB_STARTTIME) {
        const ts = new Float64Array(2);
        splitTimestamp(
          v.getUint32(o, le),
          v.getUint32(o + 4, le),
          iface?.res ?? MICROSECONDS,
          ts,
        );
        e.start = [ts[0]!, ts[1]!];
        return;
      }
      const m = ISB_COUNTERS[code];
      if (!m) return;
      const x = Number(v.getBigUint64(o, le));
      if (m[0] === "received") haveRecv = true;
      else if (m[0] === "delivered") haveDeliv = true;
      counts[m[0]][m[1]] += x;
    });
    if (haveRecv) e.received = received;
    if (haveDeliv) e.delivered = delivered;
    out.push(e);
  }

  #decodePcap(buf: Uint8Array, v: DataView, out: HoneEvent[]): number {
    let pos = 0;
    if (!this.#pcapIface) {
      if (buf.length < 24) {
        this.#want = 24;
        return 0;
      }
      const m = v.getUint32(0, true);
      this.#le = m === 0xa1b2c3d4 || m === 0xa1b23c4d;
      const nano = m === 0xa1b23c4d || m === 0x4d3cb2a1;
      const major = v.getUint16(4, this.#le);
      const minor = v.getUint16(6, this.#le);
      if (major !== 2 || minor > 4) {
        // libpcap reads 2.0 to 2.4 (pcap-savefile(5)).
        throw new HoneFormatError(
          `Cannot read pcap file header: version ${major}.${minor} is not supported`,
          this.#offset + 4,
        );
      }
      const snaplen = v.getUint32(16, this.#le);
      this.#pcapIface = {
        linktype: v.getUint32(20, this.#le) & 0x0fffffff,
        snaplen,
        res: nano ? NANOSECONDS : MICROSECONDS,
        tsOffset: 0,
      };
      out.push({
        type: "section",
        hostId: null,
        os: null,
        userAppl: null,
        hardware: null,
        comment: null,
        snaplen,
      });
      pos = 24;
    }
    const iface = this.#pcapIface;
    const le = this.#le;
    const res = iface.res.unitsPerSec;
    while (buf.length - pos >= 16) {
      const cap = v.getUint32(pos + 8, le);
      const orig = v.getUint32(pos + 12, le);
      const abs = this.#offset + pos;
      this.#at = abs;
      if (cap > MAX_PACKET_BYTES) {
        // As libpcap: a larger record is a damaged file, not a packet.
        throw new HoneFormatError(
          `Cannot read pcap record: captured length ${cap} is over the ${MAX_PACKET_BYTES}-byte limit`,
          abs + 8,
        );
      }
      if (buf.length - pos - 16 < cap) {
        this.#want = 16 + cap;
        break;
      }
      const sec = v.getUint32(pos, le);
      const frac = v.getUint32(pos + 4, le);
      if (frac >= res) {
        throw new HoneFormatError(
          `Cannot read pcap record: fraction of a second ${frac} is over ${
            res - 1
          }`,
          abs + 4,
        );
      }
      const loc = this.#loc;
      const frame = buf.subarray(pos + 16, pos + 16 + cap);
      pos += 16 + cap;
      if (!locateIp(iface.linktype, frame, loc)) {
        this.notes.badLinktype++;
        continue;
      }
      if (loc.offset < 0) {
        this.notes.nonIp++;
        continue;
      }
      out.push({
        type: "packet",
        sec,
        nsec: res === 1e9 ? frac : frac * 1000,
        dir: loc.dir,
        pid: null,
        tid: null,
        conn: null,
        len: Math.max(0, orig - loc.offset),
        data: frame.subarray(loc.offset),
      });
    }
    return pos;
  }
}

/** ISB options hone reads as counters: which set and which kind of event. */
const ISB_COUNTERS: Readonly<
  Record<number, ["received" | "dropped" | "delivered", keyof EventCounts]>
> = {
  [C.ISB_IFRECV]: ["received", "packet"],
  [C.ISB_IFDROP]: ["dropped", "packet"],
  [C.ISB_OSDROP]: ["dropped", "packet"],
  [C.ISB_USRDELIV]: ["delivered", "packet"],
  [C.ISB_HONE_PROC_RECV]: ["received", "process"],
  [C.ISB_HONE_PROC_DROP]: ["dropped", "process"],
  [C.ISB_HONE_PROC_RDROP]: ["dropped", "process"],
  [C.ISB_HONE_PROC_DELIV]: ["delivered", "process"],
  [C.ISB_HONE_CONN_RECV]: ["received", "connection"],
  [C.ISB_HONE_CONN_DROP]: ["dropped", "connection"],
  [C.ISB_HONE_CONN_RDROP]: ["dropped", "connection"],
  [C.ISB_HONE_CONN_DELIV]: ["delivered", "connection"],
};

/**
 * Checks the option at `p` (pcapng spec §3.5): returns the length of its
 * value, or -1 at opt_endofopt. `base` is the absolute offset of the
 * view's first byte, for the error.
 *
 * @throws {HoneFormatError} The option's header or value runs past `end`.
 */
function optionAt(
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

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function flagsDir(flags: number): Direction {
  const d = flags & 3;
  return d === 1 ? "in" : d === 2 ? "out" : null;
}

function pebEvent(x: number): ProcessEventKind {
  switch (x) {
    case 1:
      return "fork";
    case 2:
      return "kthread";
    case 0xffffffff:
      return "exit";
    default:
      return "exec";
  }
}

/**
 * Reads a 64-bit connection id as a number. Kernel pointers (the Google
 * fork's ids) have their top 16 bits all ones, so their low 48 bits are
 * unique and are what hone shows.
 */
function wideId(v: DataView, o: number, le: boolean): number {
  const lo = v.getUint32(o + (le ? 0 : 4), le);
  const hi = v.getUint32(o + (le ? 4 : 0), le);
  const top = hi >>> 16;
  const h = top === 0xffff || top === 0 ? hi & 0xffff : hi;
  return h * 4294967296 + lo;
}

function parseHostId(val: Uint8Array, le: boolean): HostId | null {
  if (val.length === 0) return null;
  if (val.length === 20) {
    const v = new DataView(val.buffer, val.byteOffset, val.byteLength);
    if (v.getUint32(0, le) === 1) {
      return { kind: "guid", value: canonicalGuid(val.subarray(4, 20), le) };
    }
  }
  if (val.length === 16 && !looksLikeText(val)) {
    // 2011-2012 layout: a bare GUID.
    return { kind: "guid", value: canonicalGuid(val, le) };
  }
  if (val[0] === 0) {
    return { kind: "string", value: decodeText(val.subarray(1)) };
  }
  return { kind: "string", value: decodeText(val) };
}

/**
 * Puts a GUID in RFC 4122 byte order. The original wrote data1-3 in the
 * host's (the section's) byte order, as Microsoft's binary layout does.
 *
 * @param g The 16 bytes as written.
 * @param le Whether the section is little-endian.
 * @returns A new array in RFC 4122 order.
 */
export function canonicalGuid(g: Uint8Array, le: boolean): Uint8Array {
  const r = g.slice(0, 16);
  if (le) {
    r.set([g[3]!, g[2]!, g[1]!, g[0]!, g[5]!, g[4]!, g[7]!, g[6]!], 0);
  }
  return r;
}
