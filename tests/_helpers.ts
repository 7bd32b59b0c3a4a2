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
