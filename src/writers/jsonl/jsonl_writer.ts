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

import type {
  EventCounts,
  HoneEvent,
  PacketEvent,
  ProcessEvent,
} from "../../events/types.ts";
import { emptySummary, PROTO_NAMES, summarizeIp } from "../../format/ip.ts";
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
  return `${sec}.${"000000000".slice(n.length)}${n}`;
}

function j(x: string | null): string {
  return x === null ? "null" : jsonString(x);
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
    const d = snap > 0 && e.data.length > snap
      ? e.data.subarray(0, snap)
      : e.data;
    const ip = summarizeIp(d, this.#ip);
    const comm = e.pid !== null ? this.#procs.get(e.pid)?.comm ?? null : null;
    let s = `{"type":"packet","ts":${formatTs(e.sec, e.nsec)},"dir":${
      e.dir === null ? "null" : `"${e.dir}"`
    },"pid":${n(e.pid)},"tid":${n(e.tid)},"how":${j(e.how ?? null)},"comm":${
      j(comm)
    },"conn":${n(e.conn)},"len":${e.len},"caplen":${d.length}`;
    if (ip.version !== null) {
      const p = ip.proto;
      s += `,"ipv":${ip.version},"proto":${
        p === null ? "null" : PROTO_NAMES[p] ? `"${PROTO_NAMES[p]}"` : p
      },"src":${j(ip.src)},"dst":${j(ip.dst)}`;
      if (ip.sport !== null) s += `,"sport":${ip.sport},"dport":${ip.dport}`;
      if (ip.icmpType !== null) {
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
