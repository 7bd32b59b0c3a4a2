/**
 * The pcapng block decoders (pcapng spec §4): section header, interface
 * description, enhanced, simple and obsolete packet blocks, interface
 * statistics.
 *
 * @module
 */

import type {
  Attribution,
  Direction,
  EventCounts,
  HoneEvent,
  HostId,
  PacketEvent,
  SectionEvent,
  StatsEvent,
} from "../events/mod.ts";
import { ATTRIBUTIONS, zeroCounts } from "../events/mod.ts";
import { HoneFormatError } from "../format/mod.ts";
import * as C from "../format/mod.ts";
import {
  MICROSECONDS,
  resolutionFromByte,
  splitTimestamp,
} from "../format/mod.ts";
import {
  capturedLength,
  type DecoderState,
  decodeText,
  flagsDir,
  flushSection,
  forEachOption,
  type Iface,
  ifaceOf,
  looksLikeText,
  MAX_PACKET_BYTES,
  MAX_RECENT_PACKETS,
  optionAt,
  packetEvent,
  type PacketOptions,
  pad4,
  stamp,
  wideId,
} from "./_decoder_state.ts";
import { decodeConnectionBlock, decodeProcessBlock } from "./hone_blocks.ts";

/** The longest attribution word, in bytes. */
const HOW_MAX = Math.max(...ATTRIBUTIONS.map((h) => h.length));

/**
 * The attribution words by length and first byte (`n * 256 + byte`), each
 * with its bytes, for a match without decoding.
 */
const HOW_BY_START: ([Attribution, Uint8Array] | null)[] = (() => {
  const t = new Array<[Attribution, Uint8Array] | null>((HOW_MAX + 1) * 256)
    .fill(null);
  for (const h of ATTRIBUTIONS) {
    const w = new TextEncoder().encode(h);
    const at = w.length * 256 + w[0]!;
    // Two words of one length and first byte would need a longer key.
    if (t[at] !== null) throw new Error(`attribution words clash: ${h}`);
    t[at] = [h, w];
  }
  return t;
})();

/**
 * The attribution word an option of `n` bytes at `o` holds (trailing NULs
 * ignored), or null for anything else: compared as bytes, as this runs
 * for every packet.
 */
function howAt(buf: Uint8Array, o: number, n: number): Attribution | null {
  while (n > 0 && buf[o + n - 1] === 0) n--;
  if (n === 0 || n > HOW_MAX) return null;
  const c = HOW_BY_START[n * 256 + buf[o]!]!;
  if (c === null) return null;
  const w = c[1];
  let i = 1;
  while (i < n && buf[o + i] === w[i]) i++;
  return i === n ? c[0] : null;
}

/** Decodes one block (its body from `start` to `end`), by type. */
export function decodeBlock(
  s: DecoderState,
  type: number,
  buf: Uint8Array,
  v: DataView,
  start: number,
  end: number,
  abs: number,
  out: HoneEvent[],
): void {
  const le = s.le;
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
          s.offset + start + 4,
        );
      }
      flushSection(s, out);
      s.ifaces = [];
      s.wideConn = null;
      s.epbs = 0;
      s.keepRecent = false;
      s.recentOrd.fill(-1);
      const sec: SectionEvent = {
        type: "section",
        hostId: null,
        os: null,
        userAppl: null,
        hardware: null,
        comment: null,
        snaplen: 0,
      };
      forEachOption(s, v, start + 16, end, (code, o, n) => {
        const val = buf.subarray(o, o + n);
        if (code === C.SHB_OS) sec.os = decodeText(val);
        else if (code === C.SHB_USERAPPL) sec.userAppl = decodeText(val);
        else if (code === C.SHB_HARDWARE) sec.hardware = decodeText(val);
        else if (code === C.OPT_COMMENT && sec.comment === null) {
          sec.comment = decodeText(val);
        } else if (code === C.SHB_HONE_HOSTID) {
          sec.hostId = parseHostId(val, le);
        } else if (code === C.SHB_HONE_COPIES) s.keepRecent = true;
      });
      s.section = sec;
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
      forEachOption(s, v, start + 8, end, (code, o, n) => {
        if (code === C.IF_TSRESOL && n >= 1) {
          const r = resolutionFromByte(buf[o]!);
          if (r === null) {
            throw new HoneFormatError(
              `Cannot read interface description: timestamp resolution 0x${
                buf[o]!.toString(16)
              } is not supported`,
              s.offset + o,
            );
          }
          iface.res = r;
        } else if (code === C.IF_TSOFFSET && n >= 8) {
          iface.tsOffset = Number(v.getBigInt64(o, le));
        }
      });
      s.ifaces.push(iface);
      if (s.ifaces.length === 1 && s.section) {
        s.section.snaplen = iface.snaplen;
      }
      return;
    }
    case C.BT_EPB:
      need(20, "enhanced packet");
      flushSection(s, out);
      return decodeEpb(s, buf, v, start, end, out);
    case C.BT_SPB: {
      need(4, "simple packet");
      flushSection(s, out);
      const iface = ifaceOf(s, 0, abs, "simple packet");
      const orig = v.getUint32(start, le);
      let cap = Math.min(orig, end - start - 4);
      if (iface.snaplen > 0) cap = Math.min(cap, iface.snaplen);
      if (cap > MAX_PACKET_BYTES) {
        throw new HoneFormatError(
          `Cannot read simple packet: its ${cap} bytes of data are over the ${MAX_PACKET_BYTES}-byte limit`,
          abs,
        );
      }
      packetEvent(
        s,
        iface,
        buf,
        start + 4,
        cap,
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
      flushSection(s, out);
      const iface = ifaceOf(
        s,
        v.getUint16(start, le),
        s.offset + start,
        "packet",
      );
      const cap = capturedLength(s, v, start, end, "packet");
      const orig = v.getUint32(start + 16, le);
      const dataEnd = start + 20 + pad4(cap);
      let dir: Direction = null;
      forEachOption(s, v, dataEnd, end, (code, o, n) => {
        if (code === C.EPB_FLAGS && n >= 4) {
          dir = flagsDir(v.getUint32(o, le));
        }
      });
      packetEvent(
        s,
        iface,
        buf,
        start + 20,
        cap,
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
      flushSection(s, out);
      return decodeProcessBlock(s, buf, v, start, end, out);
    case C.BT_HONE_CONNECTION:
      need(16, "Hone connection block");
      flushSection(s, out);
      return decodeConnectionBlock(s, buf, v, start, end, abs, out);
    case C.BT_ISB:
      need(12, "interface statistics");
      flushSection(s, out);
      return decodeIsb(s, v, start, end, out);
    case C.BT_HONE_COPY:
      need(16, "hone packet copy");
      flushSection(s, out);
      return decodeCopy(s, buf, v, start, end, out);
    default:
      s.notes.unknownBlocks++;
      return;
  }
}

/** Decodes an enhanced packet block, the common case, without closures. */
export function decodeEpb(
  s: DecoderState,
  buf: Uint8Array,
  v: DataView,
  start: number,
  end: number,
  out: HoneEvent[],
): void {
  const le = s.le;
  const iface = ifaceOf(
    s,
    v.getUint32(start, le),
    s.offset + start,
    "enhanced packet",
  );
  const cap = capturedLength(s, v, start, end, "enhanced packet");
  const orig = v.getUint32(start + 16, le);
  const dataEnd = start + 20 + pad4(cap);
  const po = readPacketOptions(s, buf, v, dataEnd, end);
  const e = packetEvent(
    s,
    iface,
    buf,
    start + 20,
    cap,
    orig,
    v.getUint32(start + 4, le),
    v.getUint32(start + 8, le),
    po.dir,
    out,
  );
  if (e) {
    e.pid = po.pid;
    e.tid = po.tid;
    e.conn = po.conn;
    if (po.how) e.how = po.how;
    // What a later copy block may refer to, only in a section that has
    // them: keeping every packet would make each one long-lived garbage.
    if (s.keepRecent) {
      // Kept past its chunk, which may be read into again once encoded.
      if (s.batched) e.data = e.data.slice();
      const slot = s.epbs & (MAX_RECENT_PACKETS - 1);
      s.recent[slot] = e;
      s.recentOrd[slot] = s.epbs;
    }
  }
  s.epbs++;
}

/**
 * Reads the options of a packet (EPB) or packet copy block from `p` to
 * `end`: direction, pid, tid, connection, how the pid was known.
 */
function readPacketOptions(
  s: DecoderState,
  buf: Uint8Array,
  v: DataView,
  p: number,
  end: number,
): PacketOptions {
  const le = s.le;
  const po = s.packetOptions;
  po.dir = null;
  po.pid = null;
  po.tid = null;
  po.conn = null;
  po.how = null;
  // Options inline (no closure per packet), checked as in #options.
  while (p < end) {
    const n = optionAt(v, p, end, s.offset, le);
    if (n < 0) break;
    const code = v.getUint16(p, le);
    const o = p + 4;
    switch (code) {
      case C.EPB_HONE_HOW:
      case C.EPB_HONE_HOW_LEGACY: {
        // The legacy code is also Apple's u32 process index: only a known
        // word is taken as "how".
        const h = howAt(buf, o, n);
        if (h !== null) po.how = h;
        break;
      }
      case C.EPB_FLAGS:
        if (n >= 4) po.dir = flagsDir(v.getUint32(o, le));
        break;
      case C.EPB_HONE_CONN:
        if (n === 4) po.conn = v.getUint32(o, le);
        else if (n === 8) {
          po.conn = wideId(v, o, le);
          s.wideConn = true;
        }
        break;
      case C.EPB_HONE_PID:
        if (n >= 4) po.pid = v.getUint32(o, le) || null;
        break;
      case C.EPB_PROCESSID_THREADID:
        if (n >= 8) {
          po.pid = v.getUint32(o, le) || po.pid;
          po.tid = v.getUint32(o + 4, le) || null;
        }
        break;
    }
    p = o + pad4(n);
  }
  return po;
}

/**
 * Decodes hone's packet copy block: the second copy of a packet hone saw
 * twice (loopback: sent, then received), its bytes those of an earlier
 * EPB of the section, its time and process its own.
 */
function decodeCopy(
  s: DecoderState,
  buf: Uint8Array,
  v: DataView,
  start: number,
  end: number,
  out: HoneEvent[],
): void {
  const le = s.le;
  const iface = ifaceOf(s, v.getUint32(start, le), s.offset + start, "copy");
  const ord = v.getUint32(start + 12, le);
  const slot = ord & (MAX_RECENT_PACKETS - 1);
  const ref = s.recentOrd[slot] === ord ? s.recent[slot] : undefined;
  if (!ref) {
    // Its packet was cut off (a file cut short, or too far back), or the
    // section did not say it has copy blocks: keep packets from now on.
    s.keepRecent = true;
    s.notes.unknownBlocks++;
    return;
  }
  const po = readPacketOptions(s, buf, v, start + 16, end);
  stamp(s, iface, v.getUint32(start + 4, le), v.getUint32(start + 8, le));
  const e: PacketEvent = {
    type: "packet",
    sec: s.ts[0]!,
    nsec: s.ts[1]!,
    dir: po.dir,
    pid: po.pid,
    tid: po.tid,
    conn: po.conn,
    len: ref.len,
    data: ref.data,
  };
  if (po.how) e.how = po.how;
  out.push(e);
}

/** Decodes an interface statistics block into a stats event. */
export function decodeIsb(
  s: DecoderState,
  v: DataView,
  start: number,
  end: number,
  out: HoneEvent[],
): void {
  const le = s.le;
  const iface = s.ifaces[v.getUint32(start, le)];
  stamp(s, iface, v.getUint32(start + 4, le), v.getUint32(start + 8, le));
  const received = zeroCounts();
  const dropped = zeroCounts();
  const delivered = zeroCounts();
  const counts = { received, dropped, delivered };
  let haveRecv = false, haveDeliv = false;
  const e: StatsEvent = {
    type: "stats",
    sec: s.ts[0]!,
    nsec: s.ts[1]!,
    received: null,
    dropped,
    delivered: null,
    start: null,
  };
  forEachOption(s, v, start + 12, end, (code, o, n) => {
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
