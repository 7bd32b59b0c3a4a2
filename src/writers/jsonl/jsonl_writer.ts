/**
 * JSON lines: one object per event, for jq.
 *
 * Schema (README "JSON lines"): every object has `type` and `ts` (seconds
 * since the epoch with nine decimals).
 * - `packet`: `dir` ("in"/"out"/null), `pid` (null when unknown), `tid`,
 *   `conn`, `len`, `caplen`, `comm`, and for IP `proto`, `src`, `dst`,
 *   `sport`, `dport` (or `icmp_type`, `icmp_code`); `data` (hex) on request.
 * - `process`: `event` ("fork"/"exec"/"exit"/"kthread"), `pid`, `tid`,
 *   `ppid`, `uid`, `gid`, `user`, `group`, `exe`, `argv`, `comm`, `exit_code`.
 * - `connection`: `event` ("open"/"close"), `conn`, `pid`.
 * - `stats`: `received`, `dropped`, `delivered` (each `{process,
 *   connection, packet}` or null).
 *
 * @module
 */

import {
  ATTRIBUTIONS,
  type EventCounts,
  type HoneEvent,
  type PacketEvent,
  type ProcessEvent,
} from "../../events/mod.ts";
import {
  emptySummary,
  formatAddress,
  type IpSummary,
  PROTO_NAMES,
  summarizeIp,
} from "../../format/mod.ts";
import { ProcTable } from "../../events/mod.ts";
import { jsonString } from "../../format/mod.ts";
import { ByteLine } from "../_byte_line.ts";
import { LineCache } from "../_line_cache.ts";

/** Options of {@linkcode JsonlWriter}. */
export interface JsonlWriterOptions {
  /**
   * Include each packet's captured bytes as hex in `data`.
   *
   * @default {false}
   */
  data?: boolean;
  /**
   * Cut packet bytes to this many (0 = no limit).
   *
   * @default {0}
   */
  snaplen?: number;
}

/**
 * Formats a time as seconds with nine decimals.
 *
 * @param sec Seconds since the epoch.
 * @param nsec Nanoseconds.
 * @returns E.g. `1764134800.000000001`.
 *
 * @example Usage
 * ```ts
 * import { formatTs } from "./jsonl_writer.ts";
 * if (formatTs(1, 5) !== "1.000000005") throw new Error();
 * ```
 */
export function formatTs(sec: number, nsec: number): string {
  const n = String(nsec);
  return sec + (ZEROS[n.length] ?? ".") + n;
}

/** "." and the zeros that pad a nanosecond count of each length to nine digits. */
const ZEROS: string[] = [];
for (let i = 0; i <= 9; i++) ZEROS.push("." + "0".repeat(9 - i));

/** The JSON value of each protocol number. */
const PROTO_JSON: string[] = [];
for (let p = 0; p < 256; p++) {
  PROTO_JSON.push(PROTO_NAMES[p] ? `"${PROTO_NAMES[p]}"` : String(p));
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** The JSON value of each attribution. */
const HOW_JSON: ReadonlyMap<string, Uint8Array> = new Map(
  ATTRIBUTIONS.map((a) => [a, utf8.encode(`"${a}"`)]),
);

// The fixed text of a packet line.
const K_TYPE = utf8.encode('{"type":"packet","ts":');
const K_DIR = utf8.encode(',"dir":');
const K_DIR_IN = utf8.encode(',"dir":"in"');
const K_DIR_OUT = utf8.encode(',"dir":"out"');
const K_PID = utf8.encode(',"pid":');
const K_TID = utf8.encode(',"tid":');
const K_HOW = utf8.encode(',"how":');
const K_COMM = utf8.encode(',"comm":');
const K_CONN = utf8.encode(',"conn":');
const K_LEN = utf8.encode(',"len":');
const K_CAPLEN = utf8.encode(',"caplen":');
const K_IPV = utf8.encode(',"ipv":');
const K_PROTO = utf8.encode(',"proto":');
const K_SRC = utf8.encode(',"src":');
const K_DST = utf8.encode(',"dst":');
const K_SPORT = utf8.encode(',"sport":');
const K_DPORT = utf8.encode(',"dport":');
const K_ICMP_TYPE = utf8.encode(',"icmp_type":');
const K_ICMP_CODE = utf8.encode(',"icmp_code":');
const K_DATA = utf8.encode(',"data":"');
const K_QUOTE = utf8.encode('"');
const K_END = utf8.encode("}\n");
const K_NULL = utf8.encode("null");

/** Most comm strings whose JSON literal {@linkcode JsonlWriter} keeps. */
const MAX_LITERALS = 4096;
function j(x: string | null): string {
  return x === null ? "null" : jsonString(x);
}

/** Prints an address as a JSON value: printed addresses need no escaping. */
function address(
  o: ByteLine,
  d: Uint8Array,
  ip: IpSummary,
  src: boolean,
): void {
  if (ip.headerLen < 0) o.bytes(K_NULL);
  else if (ip.version === 4) {
    o.buf[o.pos++] = 34;
    o.ipv4(d, src ? 12 : 16);
    o.buf[o.pos++] = 34;
  } else o.ascii(`"${formatAddress(d, ip, src)}"`);
}

/** Prints a packet line's flow part: `"ipv"` to the ports or ICMP type and code. */
function printFlow(o: ByteLine, d: Uint8Array, ip: IpSummary): void {
  o.bytes(K_IPV);
  o.num(ip.version);
  o.bytes(K_PROTO);
  o.ascii(ip.proto < 0 ? "null" : PROTO_JSON[ip.proto]!);
  o.bytes(K_SRC);
  address(o, d, ip, true);
  o.bytes(K_DST);
  address(o, d, ip, false);
  if (ip.sport >= 0) {
    o.bytes(K_SPORT);
    o.num(ip.sport);
    o.bytes(K_DPORT);
    o.num(ip.dport);
  }
  if (ip.icmpType >= 0) {
    o.bytes(K_ICMP_TYPE);
    o.num(ip.icmpType);
    o.bytes(K_ICMP_CODE);
    o.num(ip.icmpCode);
  }
}

/** Prints a number, or `null`. */
function num(o: ByteLine, x: number | null): void {
  if (x === null) o.bytes(K_NULL);
  else o.num(x);
}

function n(x: number | null): string {
  return x === null ? "null" : String(x);
}

function proto(p: number | null): string {
  return p === null
    ? "null"
    : PROTO_NAMES[p]
    ? `"${PROTO_NAMES[p]}"`
    : String(p);
}

function counts(c: EventCounts | null): string {
  return c === null
    ? "null"
    : `{"process":${c.process},"connection":${c.connection},"packet":${c.packet}}`;
}

/**
 * Encodes hone events as JSON lines.
 *
 * @example Usage
 * ```ts
 * import { JsonlWriter } from "./jsonl_writer.ts";
 * const w = new JsonlWriter();
 * const line = w.encode([{ type: "connection", sec: 1, nsec: 0, event: "open", conn: 7, pid: 42 }]);
 * if (JSON.parse(line).conn !== 7) throw new Error();
 * ```
 */
export class JsonlWriter {
  #opts: Required<JsonlWriterOptions>;
  #procs = new ProcTable();
  #ip = emptySummary();
  #literals = new Map<string, Uint8Array>();
  #lines = new LineCache();
  #out = new ByteLine();

  /**
   * Makes a writer.
   *
   * @param options What to include.
   */
  constructor(options: JsonlWriterOptions = {}) {
    this.#opts = { data: options.data ?? false, snaplen: options.snaplen ?? 0 };
  }

  /**
   * Encodes a batch of events.
   *
   * @param events The events.
   * @returns The lines, each ending in a newline.
   */
  encode(events: readonly HoneEvent[]): string {
    return utf8Decoder.decode(this.encodeBytes(events));
  }

  /**
   * Encodes a batch of events as UTF-8, the same lines as
   * {@linkcode JsonlWriter.encode} without making a string.
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
      switch (e.type) {
        case "packet":
          this.#packet(e);
          break;
        case "process":
          this.#procs.update(e);
          o.text(this.#process(e));
          break;
        case "connection":
          o.text(
            `{"type":"connection","ts":${
              formatTs(e.sec, e.nsec)
            },"event":"${e.event}","conn":${e.conn},"pid":${n(e.pid)},"proto":${
              proto(e.proto ?? null)
            },"local":${j(e.local ?? null)},"remote":${j(e.remote ?? null)}}\n`,
          );
          break;
        case "stats":
          o.text(
            `{"type":"stats","ts":${formatTs(e.sec, e.nsec)},"received":${
              counts(e.received)
            },"dropped":${counts(e.dropped)},"delivered":${
              counts(e.delivered)
            }}\n`,
          );
          break;
      }
    }
    return o;
  }

  #packet(e: PacketEvent): void {
    const snap = this.#opts.snaplen;
    let d = e.data;
    let ip: IpSummary;
    if (snap > 0 && d.length > snap) {
      // The summary of what is written, not of what was captured.
      d = d.subarray(0, snap);
      ip = summarizeIp(d, this.#ip);
    } else {
      // The writer is the last stage: a summary no stage kept is parsed
      // into this writer's own, not a new object left on the event.
      ip = e.ip ?? summarizeIp(d, this.#ip);
    }
    const comm = this.#comm(e.pid);
    const o = this.#out;
    // Fixed text and numbers take under 400 bytes, IPv6 addresses 2 × 47.
    o.room(512 + comm.length + 2 * d.length);
    o.bytes(K_TYPE);
    o.ts(e.sec, e.nsec);
    o.bytes(e.dir === "in" ? K_DIR_IN : e.dir === "out" ? K_DIR_OUT : K_DIR);
    if (e.dir !== "in" && e.dir !== "out") {
      o.text(e.dir === null ? "null" : `"${e.dir}"`);
    }
    const how = e.how ?? null;
    // What this connection's last line in this direction printed.
    const line = e.conn === null
      ? null
      : this.#lines.slot(e.conn, e.dir === "out");
    if (
      line === null || !this.#lines.copyProc(o, line, e.pid, e.tid, how, comm)
    ) {
      const start = o.pos;
      o.bytes(K_PID);
      num(o, e.pid);
      o.bytes(K_TID);
      num(o, e.tid);
      o.bytes(K_HOW);
      if (how === null) o.bytes(K_NULL);
      else {
        const lit = HOW_JSON.get(how);
        if (lit !== undefined) o.bytes(lit);
        else o.text(jsonString(how));
      }
      o.bytes(K_COMM);
      o.bytes(comm);
      o.bytes(K_CONN);
      num(o, e.conn);
      if (line !== null) {
        this.#lines.keepProc(o, start, line, e.pid, e.tid, how, comm);
      }
    }
    o.bytes(K_LEN);
    num(o, e.len);
    o.bytes(K_CAPLEN);
    o.num(d.length);
    if (ip.version !== 0) {
      if (line === null || !this.#lines.copy(o, line, d, ip)) {
        const start = o.pos;
        printFlow(o, d, ip);
        if (line !== null) this.#lines.keep(o, start, line, d, ip);
      }
    }
    if (this.#opts.data) {
      o.bytes(K_DATA);
      o.hex(d);
      o.bytes(K_QUOTE);
    }
    o.bytes(K_END);
  }

  /** The JSON value of a process's comm, its literal made once per name. */
  #comm(pid: number | null): Uint8Array {
    const comm = pid !== null ? this.#procs.get(pid)?.comm ?? null : null;
    if (comm === null) return K_NULL;
    let lit = this.#literals.get(comm);
    if (lit === undefined) {
      if (this.#literals.size >= MAX_LITERALS) this.#literals.clear();
      lit = utf8.encode(jsonString(comm));
      this.#literals.set(comm, lit);
    }
    return lit;
  }

  #process(e: ProcessEvent): string {
    return `{"type":"process","ts":${
      formatTs(e.sec, e.nsec)
    },"event":"${e.event}","pid":${e.pid},"tid":${n(e.tid)},"ppid":${
      n(e.ppid)
    },"uid":${n(e.uid)},"gid":${n(e.gid)},"user":${j(e.user)},"group":${
      j(e.group)
    },"exe":${j(e.exe)},"argv":${
      e.argv === null ? "null" : `[${e.argv.map(jsonString).join(",")}]`
    },"comm":${j(e.comm)},"exit_code":${n(e.exitCode)},"cgroup":${
      n(e.cgroup ?? null)
    },"netns":${n(e.netns ?? null)}}\n`;
  }
}
