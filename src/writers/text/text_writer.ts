/**
 * The original Hone's text lines (/dev/honet): HEAD, FORK/EXEC/EXIT/KTHD,
 * SOCK O/C, PAKT I/O and TAIL, one record per line.
 *
 * hone's times are wall-clock, so the HEAD line's boot time is 0: adding it
 * to a record's time gives the wall-clock time, as the original documented.
 *
 * @module
 */

import type {
  ConnectionEvent,
  HoneEvent,
  PacketEvent,
  ProcessEvent,
  SectionEvent,
} from "../../events/mod.ts";
import { escapeText, formatGuid } from "../../format/mod.ts";
import {
  emptySummary,
  formatIpv4,
  formatIpv6Full,
  type IpSummary,
  summarizeIp,
} from "../../format/mod.ts";
import { ProcTable } from "../../events/mod.ts";
import { formatTs } from "../jsonl/jsonl_writer.ts";
import { ByteLine } from "../_byte_line.ts";
import { LineCache } from "../_line_cache.ts";

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();
const K_PAKT = utf8.encode(" PAKT ? ");
const K_PAKT_I = utf8.encode(" PAKT I ");
const K_PAKT_O = utf8.encode(" PAKT O ");
const K_TCPV4 = utf8.encode("TCPv4 ");
const K_UDPV4 = utf8.encode("UDPv4 ");
const K_ARROW = utf8.encode(" -> ");

const EVT = { fork: "FORK", exec: "EXEC", exit: "EXIT", kthread: "KTHD" };

const HEX2: string[] = [];
for (let i = 0; i < 256; i++) HEX2.push(i.toString(16).padStart(2, "0"));

function hex8(x: number | null): string {
  const v = x ?? 0;
  if (v >= 0 && v <= 0xffffffff && Number.isInteger(v)) {
    return HEX2[v >>> 24]! + HEX2[(v >>> 16) & 0xff]! +
      HEX2[(v >>> 8) & 0xff]! +
      HEX2[v & 0xff]!;
  }
  return (v % 4294967296).toString(16).padStart(8, "0");
}

/**
 * Formats the protocol part of a PAKT line as the original did: only TCP and
 * UDP ports, read right after the fixed header (the original looked at no
 * fragment offset and no IPv6 extension header), IPv6 addresses in full.
 *
 * @param d Packet bytes from the IP header on.
 * @param ip The summary of `d` (parsed here when not given).
 * @returns E.g. `TCPv4 127.0.0.1:80 -> 127.0.0.1:5000`.
 *
 * @example Usage
 * ```ts
 * import { protoPart } from "./text_writer.ts";
 * if (protoPart(new Uint8Array(0)) !== "? ? -> ?") throw new Error();
 * ```
 */
export function protoPart(
  d: Uint8Array,
  ip: IpSummary = summarizeIp(d, emptySummary()),
): string {
  if (ip.version === 0) {
    return d.length < 1 ? "? ? -> ?" : `?.${d[0]! >> 4} ? -> ?`;
  }
  if (ip.headerLen < 0) return "? ? -> ?";
  const v4 = ip.version === 4;
  const src = v4 ? formatIpv4(d, 12) : formatIpv6Full(d, 8);
  const dst = v4 ? formatIpv4(d, 16) : formatIpv6Full(d, 24);
  const p = ip.nextHeader;
  if (p !== 6 && p !== 17) return `${p} ${src} -> ${dst}`;
  const name = p === 6 ? (v4 ? "TCPv4" : "TCPv6") : (v4 ? "UDPv4" : "UDPv6");
  const l4 = ip.headerLen;
  let sp = ip.sport, dp = ip.dport;
  if (ip.l4 !== l4) {
    // A later IPv4 fragment: the original read its payload as ports.
    if (d.length < l4 + 4) sp = -1;
    else {
      sp = d[l4]! << 8 | d[l4 + 1]!;
      dp = d[l4 + 2]! << 8 | d[l4 + 3]!;
    }
  }
  if (sp < 0) return `${name} ? -> ?`;
  return `${name} ${src}:${sp} -> ${dst}:${dp}`;
}

/**
 * Encodes hone events as the original Hone's text lines.
 *
 * @example Usage
 * ```ts
 * import { TextWriter } from "./text_writer.ts";
 * const w = new TextWriter();
 * const s = w.encode([{ type: "connection", sec: 1, nsec: 0, event: "open", conn: 255, pid: 9 }]);
 * if (!s.includes("SOCK O 9 0 0 0 000000ff")) throw new Error(s);
 * ```
 */
export class TextWriter {
  #procs = new ProcTable();
  #head: string | null = null;
  #section: SectionEvent | null = null;
  #out = new ByteLine();
  #lines = new LineCache();
  #ip = emptySummary();

  /**
   * Encodes a batch of events.
   *
   * @param events The events.
   * @returns The lines.
   */
  encode(events: readonly HoneEvent[]): string {
    return utf8Decoder.decode(this.encodeBytes(events));
  }

  /**
   * Encodes a batch of events as UTF-8, the same lines as
   * {@linkcode TextWriter.encode} without making a string.
   *
   * @param events The events.
   * @returns The lines' bytes, the caller's own.
   */
  encodeBytes(events: readonly HoneEvent[]): Uint8Array {
    return this.print(events).take();
  }

  /**
   * Prints a batch into the writer's own buffer, for an encoder that
   * hands the bytes over without a copy (`ByteLine.view`).
   *
   * @param events The events.
   * @returns The buffer, holding the batch's lines.
   */
  print(events: readonly HoneEvent[]): ByteLine {
    const o = this.#out;
    for (const e of events) {
      if (e.type === "section") {
        o.text(this.finish());
        this.#section = e;
        continue;
      }
      if (this.#head === null) {
        this.#head = formatTs(e.sec, e.nsec);
        const h = this.#section?.hostId;
        o.text(
          `${this.#head} HEAD 0.000000000${
            h?.kind === "guid" ? ` {${formatGuid(h.value)}}` : ""
          }\n`,
        );
      }
      if (e.type === "process") o.text(this.#process(e));
      else if (e.type === "connection") o.text(this.#conn(e));
      else if (e.type === "packet") this.#packet(e);
    }
    return o;
  }

  /**
   * Ends the section with a TAIL line (carrying the HEAD's time, as the
   * original did).
   *
   * @returns The TAIL line, or "" when no HEAD was written.
   */
  finish(): string {
    if (this.#head === null) return "";
    const s = `${this.#head} TAIL\n`;
    this.#head = null;
    return s;
  }

  #process(e: ProcessEvent): string {
    this.#procs.update(e);
    let s = `${formatTs(e.sec, e.nsec)} ${EVT[e.event]} ${e.pid} ${
      e.ppid ?? 0
    } ${e.uid ?? 0} ${e.gid ?? 0}`;
    if (e.event === "kthread") {
      if (e.comm) s += ` [${escapeText(e.comm, true)}]`;
    } else if (e.exe !== null || e.argv !== null) {
      s += ` "${escapeText(e.exe ?? "", true)}" `;
      for (const a of e.argv ?? []) s += escapeText(a, true) + " ";
      return s + "\n";
    }
    return s + "\n";
  }

  #conn(e: ConnectionEvent): string {
    const p = e.pid !== null ? this.#procs.get(e.pid) : undefined;
    return `${formatTs(e.sec, e.nsec)} SOCK ${e.event === "open" ? "O" : "C"} ${
      e.pid ?? 0
    } ${p?.ppid ?? 0} ${p?.uid ?? 0} ${p?.gid ?? 0} ${hex8(e.conn)}\n`;
  }

  #packet(e: PacketEvent): void {
    const o = this.#out;
    const d = e.data;
    // Numbers and IPv4 addresses take under 200 bytes, IPv6 ones 2 × 39.
    o.room(300);
    o.ts(e.sec, e.nsec);
    o.bytes(e.dir === "in" ? K_PAKT_I : e.dir === "out" ? K_PAKT_O : K_PAKT);
    // The writer is the last stage: a summary no stage kept is parsed into
    // this writer's own, not a new object left on the event.
    const ip = e.ip ?? summarizeIp(d, this.#ip);
    const p = ip.nextHeader;
    // The common case, "CONN PID TCPv4 a:p -> b:q", is copied from the
    // connection's last line in this direction when its pid and flow are
    // the same, else printed straight (and kept).
    const common = ip.version === 4 && ip.headerLen >= 0 &&
      ip.l4 === ip.headerLen && (p === 6 || p === 17) && ip.sport >= 0;
    const f = common && e.conn !== null
      ? this.#lines.slot(e.conn, e.dir === "out")
      : null;
    if (f === null || f.pid !== e.pid || !this.#lines.copy(o, f, d, ip)) {
      const start = o.pos;
      const c = e.conn ?? 0;
      if (c >= 0 && c <= 0xffffffff && (c >>> 0) === c) o.hex8(c);
      else o.ascii(hex8(c));
      o.buf[o.pos++] = 32;
      o.num(e.pid ?? 0);
      o.buf[o.pos++] = 32;
      if (common) {
        o.bytes(p === 6 ? K_TCPV4 : K_UDPV4);
        o.ipv4(d, 12);
        o.buf[o.pos++] = 58;
        o.num(ip.sport);
        o.bytes(K_ARROW);
        o.ipv4(d, 16);
        o.buf[o.pos++] = 58;
        o.num(ip.dport);
        if (f !== null) {
          this.#lines.keep(o, start, f, d, ip);
          f.pid = e.pid;
        }
      } else o.text(protoPart(d, ip));
    }
    o.buf[o.pos++] = 32;
    o.num(e.len);
    o.buf[o.pos++] = 10;
  }
}
