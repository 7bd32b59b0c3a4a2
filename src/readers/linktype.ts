/**
 * Where the IP header starts for the link types hone can read, so every
 * packet becomes bytes from the IP header on (LINKTYPE_RAW).
 *
 * @module
 */

/** The result of {@linkcode locateIp}: offset of the IP header and a direction hint. */
export interface IpLocation {
  /** Offset of the IP header in the frame, or -1 when the frame holds no IP packet. */
  offset: number;
  /** Direction from the link header (Linux cooked captures), else `null`. */
  dir: "in" | "out" | null;
}

/**
 * Whether frames of the link type start at the IP header (raw IP).
 *
 * @param linktype A link type.
 * @returns True for the raw-IP ones.
 *
 * @example Usage
 * ```ts
 * import { isRawIp } from "./linktype.ts";
 * if (!isRawIp(101) || isRawIp(1)) throw new Error();
 * ```
 */
export function isRawIp(linktype: number): boolean {
  return linktype === 101 || linktype === 12 || linktype === 14 ||
    linktype === 228 || linktype === 229;
}

function isIpEthertype(t: number): boolean {
  return t === 0x0800 || t === 0x86dd;
}

/**
 * Finds the IP header in a captured frame.
 *
 * @param linktype The interface's link type.
 * @param d The captured frame.
 * @param out Receives the offset and direction hint.
 * @returns `false` when the link type is one hone cannot read.
 *
 * @example Usage
 * ```ts
 * import { locateIp } from "./linktype.ts";
 * const loc = { offset: 0, dir: null };
 * const frame = new Uint8Array(34); frame[12] = 0x08; frame[14] = 0x45;
 * locateIp(1, frame, loc);
 * if (loc.offset !== 14) throw new Error();
 * ```
 */
export function locateIp(
  linktype: number,
  d: Uint8Array,
  out: IpLocation,
): boolean {
  out.dir = null;
  out.offset = -1;
  if (isRawIp(linktype)) {
    // RAW, RAW on OpenBSD (12) and BSD/OS (14), IPV4 (228), IPV6 (229).
    const v = d.length > 0 ? d[0]! >> 4 : 0;
    out.offset = v === 4 || v === 6 ? 0 : -1;
    return true;
  }
  switch (linktype) {
    case 1: { // ETHERNET
      let off = 12;
      while (d.length >= off + 2) {
        const t = d[off]! << 8 | d[off + 1]!;
        if (t === 0x8100 || t === 0x88a8 || t === 0x9100) {
          off += 4;
          continue;
        }
        out.offset = isIpEthertype(t) ? off + 2 : -1;
        break;
      }
      return true;
    }
    case 0: // NULL
    case 108: { // LOOP
      if (d.length < 4) return true;
      // The family is in host byte order (NULL) or network order (LOOP);
      // accept either.
      const be = d[0]! << 24 | d[1]! << 16 | d[2]! << 8 | d[3]!;
      const le = d[3]! << 24 | d[2]! << 16 | d[1]! << 8 | d[0]!;
      const fam = linktype === 108 ? be : (le < 256 ? le : be);
      out.offset = fam === 2 || fam === 10 || fam === 24 || fam === 28 ||
          fam === 30
        ? 4
        : -1;
      return true;
    }
    case 113: { // LINUX_SLL
      if (d.length < 16) return true;
      const pkttype = d[0]! << 8 | d[1]!;
      out.dir = pkttype === 4 ? "out" : "in";
      out.offset = isIpEthertype(d[14]! << 8 | d[15]!) ? 16 : -1;
      return true;
    }
    case 276: { // LINUX_SLL2
      if (d.length < 20) return true;
      out.dir = d[10] === 4 ? "out" : "in";
      out.offset = isIpEthertype(d[0]! << 8 | d[1]!) ? 20 : -1;
      return true;
    }
    default:
      return false;
  }
}
