/**
 * Command-line parsing with `@pkgjs/parseargs`, the Node.js project's own
 * package of `util.parseArgs` (JSR's `@std/cli` cannot be installed here;
 * `node:util` itself would load Deno's Node.js layer, about 10 ms of every
 * start). Flags follow tcpdump: short and long twins, `-w -` for stdout.
 *
 * @module
 */

import { parseArgs } from "npm:@pkgjs/parseargs@0.11.0";
import type { HostId } from "../events/mod.ts";
import type { FilterSpec } from "../sensor/mod.ts";
import { lookupUser } from "./service.ts";
import {
  type BpfInsn,
  compileFilter,
  FilterError,
  validProgram,
} from "../filter/mod.ts";
import type { Format } from "../writers/mod.ts";
import { SNAPLEN_MAX } from "../records/mod.ts";
import { UsageError } from "./errors.ts";

/** Options shared by `read` and `record`. */
export interface CommonArgs {
  /** Output file for pcapng (`-` = stdout), or `null`. */
  write: string | null;
  /** Output format. */
  format: Format;
  /** Stop after this many packets (0 = no limit). */
  count: number;
  /** Snapshot length (0 = whole packets), at most the sensor's SNAPLEN_MAX. */
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
      `invalid ${name} '${s}': must be an integer from ${min} to ${max}`,
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
  const options = { ...COMMON, ...extra };
  let parsed;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv, options),
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    const err = e as { code?: string; message: string };
    if (err.code?.startsWith("ERR_PARSE_ARGS_")) {
      throw new UsageError(parseArgsMessage(err.message));
    }
    throw e;
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const fmt = (v.format as string | undefined) ?? (v.write ? "pcapng" : "json");
  if (fmt !== "json" && fmt !== "text" && fmt !== "pcapng") {
    throw new UsageError(
      `invalid format '${fmt}': must be json, text or pcapng`,
    );
  }
  if (v.write === "") {
    throw new UsageError("invalid file name '' for -w: use '-' for stdout");
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
        : parseIntFlag("snaplen", v.snaplen as string, 0, SNAPLEN_MAX),
      data: v.data === true,
      verbose: v.verbose === true,
      help: v.help === true,
      positionals: parsed.positionals,
    },
    extra: v,
  };
}

/**
 * Joins `-c -5` into `--count=-5`, so that a negative number reaches the
 * range check ("must be an integer from 1 to …") instead of parseArgs' "argument is
 * ambiguous".
 */
function joinNegativeValues(
  argv: string[],
  options: Record<string, { type: string; short?: string }>,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (a === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const name = a.startsWith("--")
      ? a.slice(2)
      : Object.keys(options).find((k) => `-${options[k]!.short}` === a);
    if (
      name !== undefined && options[name]?.type === "string" &&
      next !== undefined && /^-\d/.test(next)
    ) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** parseArgs' first sentence, in hone's style: lower case, no period. */
function parseArgsMessage(message: string): string {
  const first = message.split("\n")[0]!.replace(/\. To specify.*$/, "")
    .replace(/\.$/, "")
    .replace(/ <value>' argument missing$/, "' needs a value")
    .replace(/^Option '/, "option '");
  return first.charAt(0).toLowerCase() + first.slice(1);
}

/**
 * Parses `--hostid`: a GUID (32 hex digits, optionally in braces, hyphens
 * anywhere but first, as the original's module parameter took it) or else
 * any other text, as the original's string host ids.
 *
 * @param s The value.
 * @returns The host id.
 * @throws {UsageError} An empty value, or one over 255 bytes.
 *
 * @example Usage
 * ```ts
 * import { parseHostId } from "./args.ts";
 * if (parseHostId("{6ba7b810-9dad-11d1-80b4-00c04fd430c8}").kind !== "guid") throw new Error();
 * if (parseHostId("web-1").kind !== "string") throw new Error();
 * ```
 */
export function parseHostId(s: string): HostId {
  if (s === "" || new TextEncoder().encode(s).length > 255) {
    throw new UsageError(
      `invalid hostid '${s}': must be a GUID or 1 to 255 bytes of text`,
    );
  }
  const inner = /^\{(.*)\}$/.exec(s)?.[1] ?? s;
  const hex = inner.replaceAll("-", "");
  if (/^[0-9a-fA-F]/.test(inner) && /^[0-9a-fA-F]{32}$/.test(hex)) {
    const value = new Uint8Array(16);
    for (let i = 0; i < 16; i++) {
      value[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    }
    return { kind: "guid", value };
  }
  return { kind: "string", value: s };
}

/**
 * Compiles the trailing arguments as one tcpdump filter expression (they
 * are joined with spaces, as tcpdump does).
 *
 * @param words The arguments; none means no filter.
 * @param snaplen The snapshot length (0 = the largest).
 * @returns The program, or null without an expression.
 * @throws {UsageError} If libpcap is missing or the expression is bad.
 */
export function filterProgram(
  words: string[],
  snaplen: number,
): BpfInsn[] | null {
  const expr = words.join(" ").trim();
  if (expr === "") return null;
  let prog: BpfInsn[];
  try {
    prog = compileFilter(expr, snaplen || 262144);
  } catch (e) {
    if (e instanceof FilterError) throw new UsageError(e.message);
    throw e;
  }
  if (!validProgram(prog)) {
    throw new UsageError(`the filter '${expr}' compiled to an invalid program`);
  }
  return prog;
}

/** The process filter's flags, for {@linkcode parseCommon}'s extra flags. */
export const FILTER_FLAGS = {
  pid: { type: "string" },
  children: { type: "boolean" },
  comm: { type: "string" },
  uid: { type: "string" },
  cgroup: { type: "string" },
} as const;

/**
 * Checks the process filter's flags; user names become uids.
 *
 * @param extra The parsed extra flags.
 * @returns The filter (empty without any of its flags).
 * @throws {UsageError} A bad value.
 */
export function parseFilterFlags(
  extra: Record<string, string | boolean | undefined>,
): FilterSpec {
  const spec: FilterSpec = {};
  if (extra.pid !== undefined) {
    spec.pids = (extra.pid as string).split(",").map((p) =>
      parseIntFlag("pid", p, 1, 4194304)
    );
  }
  if (extra.children === true) {
    if (!spec.pids) throw new UsageError("--children needs --pid");
    spec.children = true;
  }
  if (extra.comm !== undefined) {
    const c = extra.comm as string;
    const n = new TextEncoder().encode(c).length;
    if (n === 0 || n > 15) {
      throw new UsageError(
        `invalid comm '${c}': a task name is 1 to 15 bytes`,
      );
    }
    spec.comm = c;
  }
  if (extra.uid !== undefined) {
    const u = extra.uid as string;
    if (/^\d+$/.test(u)) spec.uid = parseIntFlag("uid", u, 0, 4294967294);
    else {
      const user = lookupUser(u);
      if (user === null) {
        throw new UsageError(`invalid uid '${u}': no such user`);
      }
      spec.uid = user.uid;
    }
  }
  if (extra.cgroup !== undefined) {
    if (extra.cgroup === "") throw new UsageError("--cgroup needs a path");
    spec.cgroup = extra.cgroup as string;
  }
  return spec;
}
