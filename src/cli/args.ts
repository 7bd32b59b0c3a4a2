/**
 * Command-line parsing with Deno's built-in `node:util` parseArgs (JSR's
 * `@std/cli` cannot be installed here). Flags follow tcpdump: short and
 * long twins, `-w -` for stdout.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Format } from "./encoder.ts";
import { UsageError } from "./errors.ts";

/** Options shared by `read` and `record`. */
export interface CommonArgs {
  /** Output file for pcapng (`-` = stdout), or `null`. */
  write: string | null;
  /** Output format. */
  format: Format;
  /** Stop after this many packets (0 = no limit). */
  count: number;
  /** Snapshot length (0 = whole packets). */
  snaplen: number;
  /** Include packet bytes in JSON. */
  data: boolean;
  /** Print stack traces. */
  verbose: boolean;
  /** Positional arguments. */
  positionals: string[];
  /** `-h` was given. */
  help: boolean;
}

const COMMON = {
  write: { type: "string", short: "w" },
  format: { type: "string", short: "F" },
  count: { type: "string", short: "c" },
  snaplen: { type: "string", short: "s" },
  data: { type: "boolean" },
  verbose: { type: "boolean", short: "v" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Parses a non-negative integer flag in tcpdump's manner.
 *
 * @param name The flag, for the message.
 * @param s The value.
 * @param min Smallest value allowed.
 * @param max Largest value allowed.
 * @returns The number.
 * @throws {UsageError} The value is not an integer in range.
 *
 * @example Usage
 * ```ts
 * import { parseIntFlag } from "./args.ts";
 * if (parseIntFlag("count", "10", 1, 100) !== 10) throw new Error();
 * ```
 */
export function parseIntFlag(
  name: string,
  s: string,
  min: number,
  max: number,
): number {
  if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) {
    throw new UsageError(
      `invalid ${name} '${s}' (must be an integer >= ${min} and <= ${max})`,
    );
  }
  return Number(s);
}

/**
 * Parses the flags of `read` or `record`.
 *
 * @param argv Arguments after the subcommand.
 * @param extra Extra flags of the subcommand.
 * @returns The parsed arguments and the extra values.
 * @throws {UsageError} An unknown flag or a bad value.
 */
export function parseCommon<
  E extends Record<string, { type: "string" | "boolean"; short?: string }>,
>(
  argv: string[],
  extra: E,
): { args: CommonArgs; extra: Record<string, string | boolean | undefined> } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...COMMON, ...extra },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    const err = e as { code?: string; message: string };
    if (
      err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" ||
      err.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" ||
      err.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL"
    ) {
      throw new UsageError(
        err.message.split("\n")[0]!.replace(/\. To specify.*$/, ""),
      );
    }
    throw e;
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const fmt = (v.format as string | undefined) ?? (v.write ? "pcapng" : "json");
  if (fmt !== "json" && fmt !== "text" && fmt !== "pcapng") {
    throw new UsageError(
      `invalid format '${fmt}' (must be json, text or pcapng)`,
    );
  }
  if (v.write && fmt !== "pcapng") {
    throw new UsageError(
      `-w writes pcapng; it cannot be used with --format ${fmt}`,
    );
  }
  return {
    args: {
      write: (v.write as string | undefined) ?? null,
      format: fmt,
      count: v.count === undefined
        ? 0
        : parseIntFlag("count", v.count as string, 1, Number.MAX_SAFE_INTEGER),
      snaplen: v.snaplen === undefined
        ? 0
        : parseIntFlag("snaplen", v.snaplen as string, 0, 262144),
      data: v.data === true,
      verbose: v.verbose === true,
      help: v.help === true,
      positionals: parsed.positionals,
    },
    extra: v,
  };
}
