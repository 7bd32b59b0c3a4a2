/**
 * `hone read FILE|-`: decode a capture (pcapng, the original Hone's, or
 * pcap) and write JSON lines, text lines or hone's pcapng.
 *
 * @module
 */

import { ConnPids } from "../correlate/conn_pids.ts";
import { HoneFormatError } from "../format/errors.ts";
import type { DecoderNotes } from "../readers/capture_decoder.ts";
import { decodeCapture, readChunks } from "../readers/read_capture.ts";
import { parseCommon } from "./args.ts";
import { makeEncoder } from "./encoder.ts";
import {
  printError,
  printStack,
  printWarning,
  reason,
  UsageError,
} from "./errors.ts";
import { EXIT_FAILURE, EXIT_OK } from "./exit_codes.ts";
import { openOutput, type Output } from "./output.ts";
import { PacketLimit } from "./packet_limit.ts";
import { watchCountsSignal } from "./usr1.ts";

/** Help for `hone read`. */
export const READ_USAGE = `Usage: hone read [OPTIONS] FILE|-

Decode a capture file (hone's or the original Hone's pcapng, any pcapng, or
pcap) and print one JSON object per event, or rewrite it.

Options:
  -F, --format FMT   json (default), text (the original's /dev/honet lines),
                     or pcapng
  -w, --write FILE   write hone's pcapng to FILE ('-' = stdout), mode 0600
  -c, --count N      stop after N packets
  -s, --snaplen N    cut packets to N bytes from the IP header
                     (0 = all, at most 65536)
      --data         include packet bytes (hex) in JSON
  -v, --verbose      print stack traces on errors
  -h, --help         print this help
`;

function isBrokenPipe(e: unknown): boolean {
  return e instanceof Deno.errors.BrokenPipe ||
    (e instanceof Error && /Broken pipe|EPIPE/.test(e.message));
}

/**
 * Runs `hone read`.
 *
 * @param argv Arguments after `read`.
 * @returns The exit code.
 */
export async function runRead(argv: string[]): Promise<number> {
  const { args } = parseCommon(argv, {});
  if (args.help) {
    await Deno.stdout.write(new TextEncoder().encode(READ_USAGE));
    return EXIT_OK;
  }
  if (args.positionals.length !== 1) {
    throw new UsageError(
      args.positionals.length === 0
        ? "missing FILE: use '-' for stdin"
        : `one FILE expected, got ${args.positionals.length}`,
    );
  }
  const path = args.positionals[0]!;
  let input: Deno.FsFile | typeof Deno.stdin;
  let inputInfo: Deno.FileInfo;
  try {
    if (path === "-") {
      input = Deno.stdin;
      inputInfo = Deno.statSync("/proc/self/fd/0");
    } else {
      const file = await Deno.open(path);
      input = file;
      inputInfo = await file.stat();
    }
  } catch (e) {
    printError(`read ${path}: ${reason(e)}`);
    return EXIT_FAILURE;
  }
  if (inputInfo.isDirectory) {
    printError(`read ${path}: Is a directory`);
    return EXIT_FAILURE;
  }
  let out: Output;
  try {
    out = openOutput(args.write, { sync: true, notSameAs: inputInfo });
  } catch (e) {
    printError(`write ${args.write ?? "stdout"}: ${reason(e)}`);
    return EXIT_FAILURE;
  }
  const encoder = makeEncoder(args.format, {
    snaplen: args.snaplen,
    data: args.data,
  });
  const conns = new ConnPids();
  let notes: DecoderNotes | null = null;
  const limit = new PacketLimit(args.count);
  let code = EXIT_OK;
  let failure: unknown = null;
  // SIGUSR1 prints the counts so far, as in `hone record`.
  let decoded = 0;
  const usr1 = watchCountsSignal(() =>
    printError(
      `${limit.packets} packet${limit.packets === 1 ? "" : "s"} read, ` +
        `${decoded} event${decoded === 1 ? "" : "s"} decoded`,
    )
  );
  try {
    for await (
      // One reused 256 KiB buffer: every batch is written before the next
      // read, and small batches keep the young generation cheap to scavenge.
      const batch of decodeCapture(
        readChunks(input, 256 * 1024, true),
        (n) => notes = n,
      )
    ) {
      usr1.poll();
      conns.apply(batch);
      const events = limit.take(batch);
      await out.write(encoder.encode(events));
      decoded += events.length;
      if (limit.done) break;
    }
  } catch (e) {
    failure = e;
  }
  usr1.stop();
  try {
    if (!isBrokenPipe(failure)) await out.write(encoder.finish());
  } catch (e) {
    failure ??= e;
  }
  out.close();
  // Warnings first: the error, when there is one, is the last line.
  const n = notes as DecoderNotes | null;
  if (n && n.nonIp > 0) {
    printWarning(`${n.nonIp} non-IP packet${n.nonIp === 1 ? "" : "s"} skipped`);
  }
  if (n && n.badLinktype > 0) {
    printWarning(
      `${n.badLinktype} packet${
        n.badLinktype === 1 ? "" : "s"
      } skipped: link type not supported`,
    );
  }
  if (failure !== null && !isBrokenPipe(failure)) {
    if (failure instanceof HoneFormatError) {
      printError(`read ${path}: ${failure.message}`);
    } else if (
      failure instanceof Deno.errors.NotFound ||
      failure instanceof Error && "code" in failure
    ) {
      printError(`write ${out.name}: ${reason(failure)}`);
    } else {
      printError(`read ${path}: ${reason(failure)}`);
    }
    if (args.verbose) printStack(failure);
    code = EXIT_FAILURE;
  }
  return code;
}
