/**
 * A bounds-checked summary of an IPv4 or IPv6 packet: protocol, addresses and
 * ports. Any packet may be cut at any byte (snaplen), so every field is read
 * only when present.
 *
 * @module
 */

/**
 * What {@linkcode summarizeIp} found in one packet's headers. It keeps
 * numbers and offsets only: each user prints the addresses its own way
 * (see {@linkcode formatIpv4}, {@linkcode formatIpv6},
 * {@linkcode formatIpv6Full}). A field that was not captured is `-1`.
 */
export interface IpSummary {
  /** 4 or 6, or 0 when the bytes are not IP (or there are none). */
  version: 0 | 4 | 6;
  /**
   * Length of the fixed header as the packet states it (IPv4: IHL × 4,
   * IPv6: 40) when the fixed header is captured (20 or 40 bytes), so the
   * addresses are there (IPv4 at 12 and 16, IPv6 at 8 and 24).
   */
  headerLen: number;
  /** Protocol field of the fixed header (IPv4 protocol, IPv6 next header). */
  nextHeader: number;
  /** Transport protocol, after IPv6 extension headers. */
  proto: number;
  /**
   * Offset of the transport header; -1 in a fragment that is not the first
   * or when the IPv6 extension headers were cut.
   */
  l4: number;
  /** Source port (TCP, UDP, SCTP, UDP-Lite). */
  sport: number;
  /** Destination port. */
  dport: number;
  /** ICMP or ICMPv6 type. */
  icmpType: number;
  /** ICMP or ICMPv6 code. */
  icmpCode: number;
  /** TCP sequence number (unsigned), when 13 bytes of TCP header are captured. */
  tcpSeq: number;
  /** TCP payload bytes, from the IP length fields, when `tcpSeq` is known. */
  tcpPayload: number;
}

/**
 * Makes an empty summary.
 *
 * @returns A summary of no bytes: version 0, every other field -1.
 *
 * @example Usage
 * ```ts
 * import { emptySummary } from "./ip.ts";
 * const s = emptySummary();
 * if (s.version !== 0 || s.proto !== -1) throw new Error();
 * ```
 */
export function emptySummary(): IpSummary {
  return {
    version: 0,
    headerLen: -1,
    nextHeader: -1,
    proto: -1,
    l4: -1,
    sport: -1,
    dport: -1,
    icmpType: -1,
    icmpCode: -1,
    tcpSeq: -1,
    tcpPayload: -1,
  };
}

/** Whether a protocol's header starts with two 16-bit ports. */
function hasPorts(p: number): boolean {
  return p === 6 || p === 17 || p === 132 || p === 136;
}

/** Whether an IPv6 next header is an extension header hone skips. */
function isV6Ext(p: number): boolean {
  return p === 0 || p === 43 || p === 44 || p === 51 || p === 60 ||
    p === 135 || p === 139 || p === 140;
}

/**
 * Parses the IP and transport headers of a packet, once, bounds-checked:
 * any packet may be cut at any byte (snaplen), so every field is read only
 * when captured. Only the first fragment carries a transport header; IPv6
 * extension headers (RFC 8200 §4) are skipped while captured.
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
 * if (s.proto !== 17 || s.dport !== 53) throw new Error();
 * ```
 */
export function summarizeIp(d: Uint8Array, out: IpSummary): IpSummary {
  out.version = 0;
  out.nextHeader =
    out.headerLen =
    out.proto =
    out.l4 =
      -1;
  out.sport =
    out.dport =
    out.icmpType =
    out.icmpCode =
      -1;
  out.tcpSeq = out.tcpPayload = -1;
  const n = d.length;
  if (n < 1) return out;
  const v = d[0]! >> 4;
  let l4: number, total: number, p: number;
  if (v === 4) {
    out.version = 4;
    if (n < 20) return out;
    l4 = (d[0]! & 0x0f) * 4;
    out.headerLen = l4;
    p = out.nextHeader = out.proto = d[9]!;
    // Only the first fragment carries the transport header.
    if (((d[6]! & 0x1f) << 8 | d[7]!) !== 0) return out;
    total = d[2]! << 8 | d[3]!;
  } else if (v === 6) {
    out.version = 6;
    if (n < 40) return out;
    out.headerLen = l4 = 40;
    p = out.nextHeader = d[6]!;
    total = 40 + (d[4]! << 8 | d[5]!);
    while (isV6Ext(p)) {
      if (n < l4 + 2) {
        out.proto = p;
        return out;
      }
      const next = d[l4]!;
      if (p === 44) l4 += 8;
      else if (p === 51) l4 += (d[l4 + 1]! + 2) * 4;
      else l4 += (d[l4 + 1]! + 1) * 8;
      p = next;
      if (p === 44) {
        // A non-first fragment has no transport header.
        if (n >= l4 - 8 + 4 && ((d[l4 - 6]! << 8 | d[l4 - 5]!) & 0xfff8)) {
          out.proto = p;
          return out;
        }
      }
    }
    out.proto = p;
  } else {
    return out;
  }
  out.l4 = l4;
  if (hasPorts(p)) {
    if (n >= l4 + 4) {
      out.sport = d[l4]! << 8 | d[l4 + 1]!;
      out.dport = d[l4 + 2]! << 8 | d[l4 + 3]!;
      if (p === 6 && n >= l4 + 13) {
        out.tcpSeq = (d[l4 + 4]! << 24 | d[l4 + 5]! << 16 | d[l4 + 6]! << 8 |
          d[l4 + 7]!) >>> 0;
        out.tcpPayload = total - l4 - (d[l4 + 12]! >> 4) * 4;
      }
    }
  } else if (p === 1 || p === 58) {
    if (n >= l4 + 2) {
      out.icmpType = d[l4]!;
      out.icmpCode = d[l4 + 1]!;
    }
  }
  return out;
}

/**
 * The summary of a packet event, parsed on first use and kept on the event,
 * so that every stage after the first (correlator, writers) reads it for
 * free.
 *
 * @param e The packet event (its `data` from the IP header on).
 * @returns The event's summary.
 *
 * @example Usage
 * ```ts
 * import { packetSummary } from "./ip.ts";
 * const e: { data: Uint8Array; ip?: import("./ip.ts").IpSummary | null } = {
 *   data: new Uint8Array([0x60]),
 * };
 * if (packetSummary(e).version !== 6 || packetSummary(e) !== e.ip) throw new Error();
 * ```
 */
export function packetSummary(
  e: { data: Uint8Array; ip?: IpSummary | null },
): IpSummary {
  return e.ip ??= summarizeIp(e.data, emptySummary());
}

const DEC: string[] = [];
for (let i = 0; i < 256; i++) DEC.push(String(i));

/**
 * Prints an IPv4 address in dotted decimal.
 *
 * @param d Bytes holding the address.
 * @param off Offset of its first byte.
 * @returns E.g. `127.0.0.1`.
 *
 * @example Usage
 * ```ts
 * import { formatIpv4 } from "./ip.ts";
 * if (formatIpv4(new Uint8Array([10, 0, 0, 1]), 0) !== "10.0.0.1") throw new Error();
 * ```
 */
export function formatIpv4(d: Uint8Array, off: number): string {
  return DEC[d[off]!] + "." + DEC[d[off + 1]!] + "." + DEC[d[off + 2]!] + "." +
    DEC[d[off + 3]!];
}

/**
 * Prints the source or destination address of a summarized packet: IPv4
 * dotted, IPv6 in RFC 5952 form.
 *
 * @param d The packet's bytes.
 * @param s Its summary.
 * @param src The source address (else the destination).
 * @returns The address, or `null` when it was not captured.
 *
 * @example Usage
 * ```ts
 * import { emptySummary, formatAddress, summarizeIp } from "./ip.ts";
 * const pkt = new Uint8Array(20); pkt[0] = 0x45; pkt[19] = 2;
 * const s = summarizeIp(pkt, emptySummary());
 * if (formatAddress(pkt, s, false) !== "0.0.0.2") throw new Error();
 * ```
 */
export function formatAddress(
  d: Uint8Array,
  s: IpSummary,
  src: boolean,
): string | null {
  if (s.headerLen < 0) return null;
  return s.version === 4
    ? formatIpv4(d, src ? 12 : 16)
    : formatIpv6(d, src ? 8 : 24);
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
