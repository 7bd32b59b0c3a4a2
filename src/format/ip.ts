/**
 * A bounds-checked summary of an IPv4 or IPv6 packet: protocol, addresses and
 * ports. Any packet may be cut at any byte (snaplen), so every field is read
 * only when present.
 *
 * @module
 */

/** What {@linkcode summarizeIp} found; fields not present are `null`. */
export interface IpSummary {
  /** 4 or 6, or `null` when the bytes are not IP. */
  version: 4 | 6 | null;
  /** Transport protocol number (after IPv6 extension headers), when known. */
  proto: number | null;
  /** Source address, printed. */
  src: string | null;
  /** Destination address, printed. */
  dst: string | null;
  /** Source port (TCP, UDP, SCTP, UDP-Lite), when captured. */
  sport: number | null;
  /** Destination port, when captured. */
  dport: number | null;
  /** ICMP or ICMPv6 type, when captured. */
  icmpType: number | null;
  /** ICMP or ICMPv6 code, when captured. */
  icmpCode: number | null;
}

/**
 * Makes an empty summary to reuse across packets.
 *
 * @returns A summary with every field `null`.
 *
 * @example Usage
 * ```ts
 * import { emptySummary } from "./ip.ts";
 * const s = emptySummary();
 * if (s.version !== null) throw new Error();
 * ```
 */
export function emptySummary(): IpSummary {
  return {
    version: null,
    proto: null,
    src: null,
    dst: null,
    sport: null,
    dport: null,
    icmpType: null,
    icmpCode: null,
  };
}

const PORT_PROTOS = new Set([6, 17, 132, 136]);
const V6_EXT = new Set([0, 43, 44, 51, 60, 135, 139, 140]);

/**
 * Fills `out` from the bytes of an IP packet.
 *
 * @param d Bytes from the IP header on (possibly truncated).
 * @param out The summary to fill; every field is reset.
 * @returns `out`.
 *
 * @example Usage
 * ```ts
 * import { emptySummary, summarizeIp } from "./ip.ts";
 * const pkt = new Uint8Array([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0,
 *   127, 0, 0, 1, 127, 0, 0, 2, 0x30, 0x39, 0, 53, 0, 8, 0, 0]);
 * const s = summarizeIp(pkt, emptySummary());
 * if (s.dst !== "127.0.0.2" || s.dport !== 53) throw new Error();
 * ```
 */
export function summarizeIp(d: Uint8Array, out: IpSummary): IpSummary {
  out.version = null;
  out.proto = null;
  out.src = out.dst = null;
  out.sport = out.dport = null;
  out.icmpType = out.icmpCode = null;
  if (d.length < 1) return out;
  const v = d[0]! >> 4;
  let l4 = 0;
  if (v === 4) {
    out.version = 4;
    if (d.length < 20) return out;
    out.proto = d[9]!;
    out.src = `${d[12]}.${d[13]}.${d[14]}.${d[15]}`;
    out.dst = `${d[16]}.${d[17]}.${d[18]}.${d[19]}`;
    // Only the first fragment carries the transport header.
    if (((d[6]! & 0x1f) << 8 | d[7]!) !== 0) return out;
    l4 = (d[0]! & 0x0f) * 4;
  } else if (v === 6) {
    out.version = 6;
    if (d.length < 40) return out;
    out.src = formatIpv6(d, 8);
    out.dst = formatIpv6(d, 24);
    let next = d[6]!;
    l4 = 40;
    // Skip extension headers (RFC 8200 §4) while they are captured.
    while (V6_EXT.has(next)) {
      if (d.length < l4 + 2) {
        out.proto = next;
        return out;
      }
      const nh = d[l4]!;
      if (next === 44) l4 += 8;
      else if (next === 51) l4 += (d[l4 + 1]! + 2) * 4;
      else l4 += (d[l4 + 1]! + 1) * 8;
      next = nh;
      if (next === 44) {
        // A non-first fragment has no transport header.
        if (
          d.length >= l4 - 8 + 4 && ((d[l4 - 6]! << 8 | d[l4 - 5]!) & 0xfff8)
        ) {
          out.proto = next;
          return out;
        }
      }
    }
    out.proto = next;
  } else {
    return out;
  }
  const p = out.proto!;
  if (PORT_PROTOS.has(p)) {
    if (d.length >= l4 + 4) {
      out.sport = d[l4]! << 8 | d[l4 + 1]!;
      out.dport = d[l4 + 2]! << 8 | d[l4 + 3]!;
    }
  } else if (p === 1 || p === 58) {
    if (d.length >= l4 + 2) {
      out.icmpType = d[l4]!;
      out.icmpCode = d[l4 + 1]!;
    }
  }
  return out;
}

/**
 * Prints an IPv6 address in RFC 5952 form (lower case, longest zero run
 * compressed).
 *
 * @param d Bytes holding the address.
 * @param off Offset of its first byte.
 * @returns The printed address.
 *
 * @example Usage
 * ```ts
 * import { formatIpv6 } from "./ip.ts";
 * const a = new Uint8Array(16); a[15] = 1;
 * if (formatIpv6(a, 0) !== "::1") throw new Error();
 * ```
 */
export function formatIpv6(d: Uint8Array, off: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) {
    w.push(d[off + 2 * i]! << 8 | d[off + 2 * i + 1]!);
  }
  let bestAt = -1, bestLen = 1, at = -1, len = 0;
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      if (at < 0) at = i, len = 0;
      len++;
      if (len > bestLen) bestAt = at, bestLen = len;
    } else {
      at = -1;
    }
  }
  // IPv4-mapped addresses print their IPv4 part dotted.
  if (bestAt === 0 && bestLen === 5 && w[5] === 0xffff) {
    return `::ffff:${d[off + 12]}.${d[off + 13]}.${d[off + 14]}.${d[off + 15]}`;
  }
  if (bestAt < 0) return w.map((x) => x.toString(16)).join(":");
  const head = w.slice(0, bestAt).map((x) => x.toString(16)).join(":");
  const tail = w.slice(bestAt + bestLen).map((x) => x.toString(16)).join(":");
  return `${head}::${tail}`;
}

/**
 * Prints an IPv6 address uncompressed, eight groups of four hex digits, as
 * the original Hone's text format (`%pI6`) did.
 *
 * @param d Bytes holding the address.
 * @param off Offset of its first byte.
 * @returns The printed address.
 *
 * @example Usage
 * ```ts
 * import { formatIpv6Full } from "./ip.ts";
 * const a = new Uint8Array(16); a[15] = 1;
 * if (!formatIpv6Full(a, 0).endsWith(":0001")) throw new Error();
 * ```
 */
export function formatIpv6Full(d: Uint8Array, off: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 8; i++) {
    parts.push(
      (d[off + 2 * i]! << 8 | d[off + 2 * i + 1]!).toString(16).padStart(
        4,
        "0",
      ),
    );
  }
  return parts.join(":");
}

/** Common protocol names for JSON output. */
export const PROTO_NAMES: Readonly<Record<number, string>> = {
  1: "icmp",
  2: "igmp",
  6: "tcp",
  17: "udp",
  41: "ipv6",
  47: "gre",
  50: "esp",
  58: "icmpv6",
  132: "sctp",
  136: "udplite",
};
