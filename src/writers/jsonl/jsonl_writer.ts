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
} from "../../events/types.ts";
import {
  emptySummary,
  formatAddress,
  type IpSummary,
  packetSummary,
  PROTO_NAMES,
  summarizeIp,
} from "../../format/ip.ts";
import { ProcTable } from "../_proc_table.ts";
import { jsonString } from "../../format/escape.ts";

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

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, "0"));

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
  return sec + ZEROS[n.length]! + n;
}

/** "." and the zeros that pad a nanosecond count of each length to nine digits. */
const ZEROS: string[] = [];
for (let i = 0; i <= 9; i++) ZEROS.push("." + "0".repeat(9 - i));

/** The JSON value of each protocol number. */
const PROTO_JSON: string[] = [];
for (let p = 0; p < 256; p++) {
  PROTO_JSON.push(PROTO_NAMES[p] ? `"${PROTO_NAMES[p]}"` : String(p));
}

/** The JSON value of each attribution. */
const HOW_JSON: ReadonlyMap<string, string> = new Map(
  ATTRIBUTIONS.map((a) => [a, `"${a}"`]),
);

/** Most comm strings whose JSON literal {@linkcode JsonlWriter} keeps. */
const MAX_LITERALS = 4096;

function j(x: string | null): string {
  return x === null ? "null" : jsonString(x);
}

/** An address as a JSON value: printed addresses need no escaping. */
function address(d: Uint8Array, ip: IpSummary, src: boolean): string {
  const a = formatAddress(d, ip, src);
  return a === null ? "null" : `"${a}"`;
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
  #literals = new Map<string, string>();

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
    let s = "";
    for (const e of events) {
      switch (e.type) {
        case "packet":
          s += this.#packet(e);
          break;
        case "process":
          this.#procs.update(e);
          s += this.#process(e);
          break;
        case "connection":
          s += `{"type":"connection","ts":${
            formatTs(e.sec, e.nsec)
          },"event":"${e.event}","conn":${e.conn},"pid":${n(e.pid)},"proto":${
            proto(e.proto ?? null)
          },"local":${j(e.local ?? null)},"remote":${j(e.remote ?? null)}}\n`;
          break;
        case "stats":
          s += `{"type":"stats","ts":${formatTs(e.sec, e.nsec)},"received":${
            counts(e.received)
          },"dropped":${counts(e.dropped)},"delivered":${
            counts(e.delivered)
          }}\n`;
          break;
      }
    }
    return s;
  }

  #packet(e: PacketEvent): string {
    const snap = this.#opts.snaplen;
    let d = e.data;
    let ip: IpSummary;
    if (snap > 0 && d.length > snap) {
      // The summary of what is written, not of what was captured.
      d = d.subarray(0, snap);
      ip = summarizeIp(d, this.#ip);
    } else {
      ip = packetSummary(e);
    }
    const how = e.how ?? null;
    let s = `{"type":"packet","ts":${formatTs(e.sec, e.nsec)},"dir":${
      e.dir === null ? "null" : `"${e.dir}"`
    },"pid":${e.pid},"tid":${e.tid},"how":${
      how === null ? "null" : HOW_JSON.get(how) ?? jsonString(how)
    },"comm":${
      this.#comm(e.pid)
    },"conn":${e.conn},"len":${e.len},"caplen":${d.length}`;
    if (ip.version !== 0) {
      s += `,"ipv":${ip.version},"proto":${
        ip.proto < 0 ? "null" : PROTO_JSON[ip.proto]
      },"src":${address(d, ip, true)},"dst":${address(d, ip, false)}`;
      if (ip.sport >= 0) s += `,"sport":${ip.sport},"dport":${ip.dport}`;
      if (ip.icmpType >= 0) {
        s += `,"icmp_type":${ip.icmpType},"icmp_code":${ip.icmpCode}`;
      }
    }
    if (this.#opts.data) {
      let h = "";
      for (let i = 0; i < d.length; i++) h += HEX[d[i]!];
      s += `,"data":"${h}"`;
    }
    return s + "}\n";
  }

  /** The JSON value of a process's comm, its literal made once per name. */
  #comm(pid: number | null): string {
    const comm = pid !== null ? this.#procs.get(pid)?.comm ?? null : null;
    if (comm === null) return "null";
    let lit = this.#literals.get(comm);
    if (lit === undefined) {
      if (this.#literals.size >= MAX_LITERALS) this.#literals.clear();
      lit = jsonString(comm);
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
