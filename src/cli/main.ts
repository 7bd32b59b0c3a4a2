/**
 * hone's command line: one dispatcher over the subcommands.
 *
 * @module
 */

import { printError, UsageError } from "./errors.ts";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit_codes.ts";
import { READ_USAGE, runRead } from "./read.ts";
import { RECORD_USAGE, runRecord } from "./record.ts";
import { VERSION } from "../version.ts";

/** Top-level help. */
export const USAGE =
  `hone ${VERSION}: packets, and the processes that sent and read them

Usage:
  hone record [OPTIONS]          capture live (root): JSON lines, text or pcapng
  hone read [OPTIONS] FILE|-     decode a capture to JSON lines, text or pcapng
  hone --version                 print the version
  hone --help                    print this help

${RECORD_USAGE.replace(/^Usage:[^]*?Options:\n/, "record options:\n")}
${READ_USAGE.replace(/^Usage:[^]*?Options:\n/, "read options:\n")}
Examples:
  sudo hone record --snaplen 128
  sudo hone record --snaplen 128 -w cap.pcapng
  hone read cap.pcapng | jq 'select(.type=="packet" and .pid==4242)'
  hone read old-hone.pcapng -w new.pcapng
`;

const enc = new TextEncoder();

/**
 * Runs hone with the given arguments.
 *
 * @param argv The arguments (without the program name).
 * @returns The exit code.
 */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const verbose = argv.includes("-v") || argv.includes("--verbose");
  const sub = cmd === "read" || cmd === "record" ? cmd : null;
  try {
    switch (cmd) {
      case "-h":
      case "--help":
      case "help":
        noMoreArgs(cmd, rest);
        await Deno.stdout.write(enc.encode(USAGE));
        return EXIT_OK;
      case "--version":
      case "-V":
      case "version":
        noMoreArgs(cmd, rest);
        await Deno.stdout.write(
          enc.encode(`hone ${VERSION} (deno ${Deno.version.deno})\n`),
        );
        return EXIT_OK;
      case "read":
        return await runRead(rest);
      case "record":
        return await runRecord(rest);
      case undefined:
        await Deno.stderr.write(enc.encode(USAGE));
        return EXIT_USAGE;
      default:
        throw new UsageError(
          cmd.startsWith("-")
            ? `unknown option '${cmd}': a command (record or read) comes first`
            : `unknown command '${cmd}'`,
        );
    }
  } catch (e) {
    if (e instanceof UsageError) {
      printError(
        sub
          ? `${sub}: ${e.message} (see 'hone ${sub} --help')`
          : `${e.message} (see 'hone --help')`,
      );
      return EXIT_USAGE;
    }
    printError(e instanceof Error ? e.message : String(e));
    if (verbose && e instanceof Error && e.stack) {
      await Deno.stderr.write(enc.encode(e.stack + "\n"));
    }
    return EXIT_FAILURE;
  }
}

function noMoreArgs(cmd: string, rest: string[]): void {
  if (rest.length > 0) {
    throw new UsageError(`unexpected argument '${rest[0]}' after ${cmd}`);
  }
}
