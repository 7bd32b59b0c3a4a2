/**
 * The printed parts of a connection's last packet line, for each
 * direction: the flow part (addresses, protocol, ports) and the process
 * part (pid to connection id, JSON only), so the JSON-lines and text
 * writers copy them for the connection's next packet in that direction
 * instead of printing them again.
 *
 * @module
 */

import type { IpSummary } from "../format/mod.ts";
import type { ByteLine } from "./_byte_line.ts";

/** Most connections a {@linkcode LineCache} keeps. */
const MAX_CONNS = 4096;

/** A connection's printed parts in one direction, and what they came from. */
export interface ConnLine {
  /**
   * The process part's values. (Text keeps no process part: its flow
   * part starts at the connection id and pid, and `pid` is the one it was
   * printed with.)
   */
  pid: number | null;
  tid: number | null;
  how: string | null;
  comm: Uint8Array | null;
  /** The printed process part, or null before the first. */
  proc: Uint8Array | null;
  /** The flow part's values. */
  version: number;
  proto: number;
  sport: number;
  dport: number;
  icmpType: number;
  icmpCode: number;
  /** Source and destination address bytes (8 or 32). */
  addrs: Uint8Array;
  /** The printed flow part, or null before the first. */
  bytes: Uint8Array | null;
}

function newConnLine(): ConnLine {
  return {
    pid: null,
    tid: null,
    how: null,
    comm: null,
    proc: null,
    version: 0,
    proto: -1,
    sport: -1,
    dport: -1,
    icmpType: -1,
    icmpCode: -1,
    addrs: new Uint8Array(32),
    bytes: null,
  };
}

/** Where a packet's addresses are, or -1 without its fixed IP header. */
function addrsAt(ip: IpSummary): number {
  return ip.headerLen < 0 ? -1 : ip.version === 4 ? 12 : 8;
}

/**
 * Printed parts by connection and direction.
 *
 * @example Usage
 * ```ts ignore
 * const f = cache.slot(conn, out);
 * if (!cache.copy(o, f, d, ip)) {
 *   const start = o.pos;
 *   printFlow(o, d, ip);
 *   cache.keep(o, start, f, d, ip);
 * }
 * ```
 */
export class LineCache {
  #conns = new Map<number, [ConnLine, ConnLine]>();

  /**
   * The slot of a connection's outbound or other packets.
   *
   * @param conn Connection id.
   * @param out Whether the packet is outbound.
   * @returns Its slot, made on first use.
   */
  slot(conn: number, out: boolean): ConnLine {
    let c = this.#conns.get(conn);
    if (c === undefined) {
      if (this.#conns.size >= MAX_CONNS) this.#conns.clear();
      c = [newConnLine(), newConnLine()];
      this.#conns.set(conn, c);
    }
    return c[out ? 0 : 1];
  }

  /**
   * Prints the slot's flow part if it was printed from the same values.
   *
   * @param o Where to print (room made).
   * @param f The slot.
   * @param d The packet's bytes.
   * @param ip Their summary.
   * @returns Whether it printed.
   */
  copy(o: ByteLine, f: ConnLine, d: Uint8Array, ip: IpSummary): boolean {
    const b = f.bytes;
    const at = addrsAt(ip);
    if (
      b === null || at < 0 || f.version !== ip.version ||
      f.proto !== ip.proto || f.sport !== ip.sport || f.dport !== ip.dport ||
      f.icmpType !== ip.icmpType || f.icmpCode !== ip.icmpCode
    ) return false;
    const n = ip.version === 4 ? 8 : 32;
    const a = f.addrs;
    for (let i = 0; i < n; i++) if (d[at + i] !== a[i]) return false;
    o.buf.set(b, o.pos);
    o.pos += b.length;
    return true;
  }

  /**
   * Keeps what was printed since `start` as the slot's flow part.
   *
   * @param o Where it was printed.
   * @param start Where it starts.
   * @param f The slot.
   * @param d The packet's bytes.
   * @param ip Their summary.
   */
  keep(
    o: ByteLine,
    start: number,
    f: ConnLine,
    d: Uint8Array,
    ip: IpSummary,
  ): void {
    const at = addrsAt(ip);
    if (at < 0) return;
    f.version = ip.version;
    f.proto = ip.proto;
    f.sport = ip.sport;
    f.dport = ip.dport;
    f.icmpType = ip.icmpType;
    f.icmpCode = ip.icmpCode;
    const n = ip.version === 4 ? 8 : 32;
    for (let i = 0; i < n; i++) f.addrs[i] = d[at + i]!;
    f.bytes = o.buf.slice(start, o.pos);
  }

  /**
   * Prints the slot's process part if it was printed from the same values.
   *
   * @param o Where to print (room made).
   * @param f The slot.
   * @param pid The packet's pid.
   * @param tid Its tid.
   * @param how How the pid was known.
   * @param comm The printed comm (the same array for the same comm).
   * @returns Whether it printed.
   */
  copyProc(
    o: ByteLine,
    f: ConnLine,
    pid: number | null,
    tid: number | null,
    how: string | null,
    comm: Uint8Array,
  ): boolean {
    const b = f.proc;
    if (
      b === null || f.pid !== pid || f.tid !== tid || f.how !== how ||
      f.comm !== comm
    ) return false;
    o.buf.set(b, o.pos);
    o.pos += b.length;
    return true;
  }

  /**
   * Keeps what was printed since `start` as the slot's process part.
   *
   * @param o Where it was printed.
   * @param start Where it starts.
   * @param f The slot.
   * @param pid The packet's pid.
   * @param tid Its tid.
   * @param how How the pid was known.
   * @param comm The printed comm.
   */
  keepProc(
    o: ByteLine,
    start: number,
    f: ConnLine,
    pid: number | null,
    tid: number | null,
    how: string | null,
    comm: Uint8Array,
  ): void {
    f.pid = pid;
    f.tid = tid;
    f.how = how;
    f.comm = comm;
    f.proc = o.buf.slice(start, o.pos);
  }
}
