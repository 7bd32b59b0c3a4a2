/**
 * Classic pcap (pcap-savefile(5)): the file header and its records, both
 * byte orders, micro- and nanosecond timestamps.
 *
 * @module
 */

import type { HoneEvent } from "../events/mod.ts";
import { HoneFormatError } from "../format/mod.ts";
import { MICROSECONDS, NANOSECONDS } from "../format/mod.ts";
import { type DecoderState, MAX_PACKET_BYTES } from "./_decoder_state.ts";
import { locateIp } from "./linktype.ts";

/**
 * Decodes the pcap file header (once) and every whole record in `buf`.
 *
 * @returns The bytes used.
 */
export function decodePcap(
  s: DecoderState,
  buf: Uint8Array,
  v: DataView,
  out: HoneEvent[],
): number {
  let pos = 0;
  if (!s.pcapIface) {
    if (buf.length < 24) {
      s.want = 24;
      return 0;
    }
    const m = v.getUint32(0, true);
    s.le = m === 0xa1b2c3d4 || m === 0xa1b23c4d;
    const nano = m === 0xa1b23c4d || m === 0x4d3cb2a1;
    const major = v.getUint16(4, s.le);
    const minor = v.getUint16(6, s.le);
    if (major !== 2 || minor > 4) {
      // libpcap reads 2.0 to 2.4 (pcap-savefile(5)).
      throw new HoneFormatError(
        `Cannot read pcap file header: version ${major}.${minor} is not supported`,
        s.offset + 4,
      );
    }
    const snaplen = v.getUint32(16, s.le);
    s.pcapIface = {
      linktype: v.getUint32(20, s.le) & 0x0fffffff,
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
  const iface = s.pcapIface;
  const le = s.le;
  const res = iface.res.unitsPerSec;
  while (buf.length - pos >= 16) {
    const cap = v.getUint32(pos + 8, le);
    const orig = v.getUint32(pos + 12, le);
    const abs = s.offset + pos;
    s.at = abs;
    if (cap > MAX_PACKET_BYTES) {
      // As libpcap: a larger record is a damaged file, not a packet.
      throw new HoneFormatError(
        `Cannot read pcap record: captured length ${cap} is over the ${MAX_PACKET_BYTES}-byte limit`,
        abs + 8,
      );
    }
    if (buf.length - pos - 16 < cap) {
      s.want = 16 + cap;
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
    const loc = s.loc;
    const frame = buf.subarray(pos + 16, pos + 16 + cap);
    pos += 16 + cap;
    if (!locateIp(iface.linktype, frame, loc)) {
      s.notes.badLinktype++;
      continue;
    }
    if (loc.offset < 0) {
      s.notes.nonIp++;
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
