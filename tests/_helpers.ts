/**
 * Helpers for hone's end-to-end tests: run the real CLI (dist/hone when
 * HONE_BIN points at it, else main.ts under this Deno) and real tools.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** Repository root. */
export const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Result of a finished command. */
export interface Ran {
  /** Exit code. */
  code: number;
  /** Standard output as text. */
  stdout: string;
  /** Standard error as text. */
  stderr: string;
  /** Standard output as bytes. */
  out: Uint8Array;
}

/**
 * The command line that runs hone.
 *
 * @returns Program and leading arguments.
 */
export function honeCommand(): [string, string[]] {
  const bin = Deno.env.get("HONE_BIN");
  if (bin) return [bin, []];
  return [Deno.execPath(), ["run", "-A", "--no-lock", `${ROOT}main.ts`]];
}

/**
 * Runs a program to completion.
 *
 * @param cmd Program.
 * @param args Arguments.
 * @param stdin Bytes for standard input.
 * @returns What it printed and its exit code.
 */
export async function run(
  cmd: string,
  args: string[],
  stdin?: Uint8Array,
): Promise<Ran> {
  const p = new Deno.Command(cmd, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = p.stdin.getWriter();
    await w.write(stdin).catch(() => {});
    await w.close().catch(() => {});
  }
  const r = await p.output();
  const dec = new TextDecoder();
  return {
    code: r.code,
    stdout: dec.decode(r.stdout),
    stderr: dec.decode(r.stderr),
    out: r.stdout,
  };
}

/**
 * Runs hone.
 *
 * @param args Arguments.
 * @param stdin Bytes for standard input.
 * @returns What it printed and its exit code.
 */
export function hone(args: string[], stdin?: Uint8Array): Promise<Ran> {
  const [cmd, pre] = honeCommand();
  return run(cmd, [...pre, ...args], stdin);
}

/**
 * Parses JSON lines.
 *
 * @param s The text.
 * @returns One object per line.
 */
export function jsonLines(s: string): Record<string, unknown>[] {
  return s.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
}

/**
 * How long a test waits for what it needs before it fails. It only ever
 * decides failure: a wait ends as soon as what it waits for is there. It is
 * long because the sensor sees every process on the machine: behind another
 * run's flood (300,000 datagrams on a loaded 2-core machine), hone showed
 * our records 8.5 s late.
 */
export const DEADLINE_MS = 60_000;

/** Options of {@linkcode until}. */
export interface UntilOptions {
  /** What is awaited, for the error message. */
  what: string;
  /**
   * Time after which the wait fails.
   *
   * @default {DEADLINE_MS}
   */
  timeoutMs?: number;
  /**
   * Pause between two probes.
   *
   * @default {20}
   */
  intervalMs?: number;
}

/**
 * Probes until the probe returns something other than false, null or
 * undefined, and returns that. A wait on a condition, never on time: the
 * deadline only turns a wait that never ends into a failure.
 *
 * @example Usage
 * ```ts
 * import { until } from "./_helpers.ts";
 * const start = Date.now();
 * await until(() => Date.now() > start, { what: "a later millisecond" });
 * ```
 *
 * @param probe Returns what is awaited, or false, null or undefined.
 * @param options What is awaited and the deadline.
 * @returns What the probe returned.
 */
export async function until<T>(
  probe: () => T | Promise<T>,
  options: UntilOptions,
): Promise<Exclude<T, false | null | undefined>> {
  const { what, timeoutMs = DEADLINE_MS, intervalMs = 20 } = options;
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== false && found !== null && found !== undefined) {
      return found as Exclude<T, false | null | undefined>;
    }
    if (Date.now() > end) throw new Error(`No ${what} within ${timeoutMs} ms`);
    await new Promise((ok) => setTimeout(ok, intervalMs));
  }
}

/**
 * Reads a stream in the background, so that what came so far can be looked
 * at any time, and waited on.
 */
export class Collected {
  /** Resolves once the stream has ended. */
  readonly ended: Promise<void>;
  #parts: Uint8Array[] = [];
  #done = false;
  #decoder = new TextDecoder();
  #text = "";
  #parsed = 0;
  #lines: Record<string, unknown>[] = [];

  /**
   * Starts reading.
   *
   * @param stream The stream, such as a child's stdout.
   */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.ended = (async () => {
      try {
        for await (const chunk of stream) {
          this.#parts.push(chunk);
          this.#text += this.#decoder.decode(chunk, { stream: true });
        }
      } catch { /* cancelled: what came is kept */ }
      this.#text += this.#decoder.decode();
      this.#done = true;
    })();
  }

  /** Whether the stream has ended. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * The bytes so far.
   *
   * @returns One copy of them.
   */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.#parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.#parts) out.set(p, at), at += p.length;
    return out;
  }

  /**
   * The text so far.
   *
   * @returns The stream decoded as UTF-8.
   */
  text(): string {
    return this.#text;
  }

  /**
   * The JSON lines so far: only whole lines, each parsed once.
   *
   * @returns One object per line; the same array grows between calls.
   */
  jsonLines(): Record<string, unknown>[] {
    for (;;) {
      const end = this.#text.indexOf("\n", this.#parsed);
      if (end < 0) break;
      const line = this.#text.slice(this.#parsed, end);
      if (line.length > 0) this.#lines.push(JSON.parse(line));
      this.#parsed = end + 1;
    }
    return this.#lines;
  }

  /**
   * Waits until `probe` finds what it looks for in what came so far; fails
   * at once if the stream ends without it.
   *
   * @param what What is awaited, for the error message.
   * @param probe Returns what is awaited, or false, null or undefined.
   * @param timeoutMs Time after which the wait fails.
   * @returns What the probe returned.
   */
  until<T>(
    what: string,
    probe: (c: Collected) => T,
    timeoutMs: number = DEADLINE_MS,
  ): Promise<Exclude<T, false | null | undefined>> {
    return until(() => {
      const ended = this.#done;
      const found = probe(this);
      if (found === false || found === null || found === undefined) {
        if (ended) {
          throw new Error(`The stream ended before ${what}: ${this.#text}`);
        }
      }
      return found;
    }, { what, timeoutMs });
  }
}

/**
 * Ids of the BPF programs or links loaded in the kernel now, with the
 * programs' names.
 *
 * @param what Programs or links.
 * @returns Id to name ("" for a link).
 */
export async function bpfIds(
  what: "prog" | "link",
): Promise<Map<number, string>> {
  const out = await new Deno.Command("bpftool", { args: ["-j", what, "show"] })
    .output();
  if (out.code !== 0) {
    throw new Error(`Cannot list BPF ${what}s: bpftool exited ${out.code}`);
  }
  const list = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    id: number;
    name?: string;
  }[];
  return new Map(list.map((p) => [p.id, p.name ?? ""]));
}

/**
 * BPF program and link ids a process holds fds of (/proc/PID/fdinfo):
 * exactly its own, whatever else runs on the machine.
 *
 * @param pid The process.
 * @returns The program and link ids.
 */
export function bpfIdsHeldBy(
  pid: number,
): { progs: number[]; links: number[] } {
  const progs = new Set<number>(), links = new Set<number>();
  for (const e of Deno.readDirSync(`/proc/${pid}/fdinfo`)) {
    let info = "";
    try {
      info = Deno.readTextFileSync(`/proc/${pid}/fdinfo/${e.name}`);
    } catch { /* closed meanwhile */ }
    const prog = /^prog_id:\s+(\d+)/m.exec(info);
    const link = /^link_id:\s+(\d+)/m.exec(info);
    if (link) links.add(Number(link[1]));
    else if (prog) progs.add(Number(prog[1]));
  }
  return { progs: [...progs], links: [...links] };
}

/**
 * Waits until the kernel has freed the given BPF programs and links (it
 * does once their last fd is gone, after an RCU grace period).
 *
 * @param held Program and link ids.
 */
export async function bpfFreed(
  held: { progs: number[]; links: number[] },
): Promise<void> {
  let left: number[] = [];
  await until(async () => {
    const progs = await bpfIds("prog"), links = await bpfIds("link");
    left = [
      ...held.progs.filter((id) => progs.has(id)),
      ...held.links.filter((id) => links.has(id)),
    ];
    return left.length === 0;
  }, { what: "freeing of BPF programs and links", intervalMs: 100 })
    .catch((e) => {
      throw new Error(`${e.message}: still loaded: ${left.join(", ")}`);
    });
}

/** What tshark made of a capture: its exit code, frames, and warnings. */
export interface TsharkFrames {
  /** tshark's exit code. */
  code: number;
  /** Frames it read. */
  frames: number;
  /** Its stderr, without the "Running as user" notice. */
  warnings: string;
}

/**
 * Reads a capture with tshark and counts its frames.
 *
 * @param file The capture.
 * @returns The exit code, the frame count and any warnings.
 */
export async function tsharkFrames(file: string): Promise<TsharkFrames> {
  const t = await run("tshark", [
    "-r",
    file,
    "-T",
    "fields",
    "-e",
    "frame.number",
  ]);
  const out = t.stdout.trim();
  return {
    code: t.code,
    frames: out === "" ? 0 : out.split("\n").length,
    warnings: t.stderr.replace(/^Running as user .*\n/m, ""),
  };
}
