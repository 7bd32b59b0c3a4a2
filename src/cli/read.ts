/**
 * `hone read FILE|-`: decode a capture (pcapng, the original Hone's, or
 * pcap) and write JSON lines, text lines or hone's pcapng.
 *
 * @module
 */

import { ConnPidsStream } from "../correlate/mod.ts";
import {
  type EventFilterSpec,
  PacketFilterStream,
  ProcessFilterStream,
} from "../filter/mod.ts";
import { BatchPool, type FilterSpec, resolveCgroup } from "../sensor/mod.ts";
import { FILTER_FLAGS, filterProgram, parseFilterFlags } from "./args.ts";
import { PacketLimit, PacketLimitStream } from "../events/mod.ts";
import { HoneFormatError } from "../format/mod.ts";
import {
  CAPTURE_CHUNK_BYTES,
  CaptureDecoderStream,
  captureSource,
} from "../readers/mod.ts";
import { EncoderStream, makeEncoder } from "../writers/mod.ts";
import { parseCommon } from "./args.ts";
import {
  printError,
  printStack,
  printWarning,
  reason,
  UsageError,
} from "./errors.ts";
import { EXIT_FAILURE, EXIT_OK } from "./exit_codes.ts";
import { openOutput, type Output, OutputSink } from "./output.ts";
import { watchCountsSignal } from "./usr1.ts";

/** Help for `hone read`. */
export const READ_USAGE = `Usage: hone read [OPTIONS] FILE|- [EXPRESSION]

Decode a capture file (hone's or the original Hone's pcapng, any pcapng, or
pcap) and print one JSON object per event, or rewrite it. EXPRESSION is a
tcpdump filter expression (pcap-filter(7), compiled by libpcap): packets it
rejects are left out.

Options:
  -F, --format FMT   json (default), text (the original's /dev/honet lines),
                     or pcapng
  -w, --write FILE   write to FILE ('-' = stdout), mode 0600: hone's pcapng
                     unless -F says otherwise
  -c, --count N      stop after N packets
  -s, --snaplen N    cut packets to N bytes from the IP header
                     (0 = all, at most 65536)
      --data         include packet bytes (hex) in JSON
      --wireshark-process-blocks  pcapng: also Wireshark 4.7's process
                     blocks (older tsharks show them as extra frames)
      --loopback-once  pcapng: a loopback packet's received copy as a block
                     that refers to the sent one (no "[TCP Retransmission]"
                     in Wireshark); hone read gives both as before
      --pid PID[,PID...] [--children] --comm NAME --uid UID|USER
      --cgroup ID|PATH  only the events of these processes, as the file's
                     own process events describe them (all kinds must hold)
  -v, --verbose      print stack traces on errors
  -h, --help         print this help
`;

/** Buffers `hone read` reads a file's chunks into (pcapng output). */
const READ_POOL_CHUNKS = 16;

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
  const { args, extra } = parseCommon(argv, {
    ...FILTER_FLAGS,
    "wireshark-process-blocks": { type: "boolean" },
    "loopback-once": { type: "boolean" },
  });
  if (args.help) {
    await Deno.stdout.write(new TextEncoder().encode(READ_USAGE));
    return EXIT_OK;
  }
  if (args.positionals.length === 0) {
    throw new UsageError("missing FILE: use '-' for stdin");
  }
  const path = args.positionals[0]!;
  const prog = filterProgram(args.positionals.slice(1), args.snaplen);
  const procFilter = eventFilter(parseFilterFlags(extra));
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
    wiresharkProcessBlocks: extra["wireshark-process-blocks"] === true,
    loopbackOnce: extra["loopback-once"] === true,
  });
  // pcapng copies a packet's bytes from the file's chunk as words; JSON
  // and text read them through a view.
  const batched = args.format === "pcapng";
  // The file's chunks are read into a few buffers, each given back once
  // the events whose bytes it holds are encoded (or at once when none
  // does): no fresh, zeroed memory per chunk.
  const pool = batched
    ? new BatchPool(CAPTURE_CHUNK_BYTES + 3, READ_POOL_CHUNKS)
    : undefined;
  const releaseBatch = pool ? (b: ArrayBufferLike) => pool.give(b) : undefined;
  const decoder = new CaptureDecoderStream({ batched, releaseBatch });
  const limit = new PacketLimit(args.count);
  const sink = new OutputSink(out);
  let code = EXIT_OK;
  let failure: unknown = null;
  // SIGUSR1 prints the counts so far, as in `hone record`.
  const usr1 = watchCountsSignal(() =>
    printError(
      `${limit.packets} packet${limit.packets === 1 ? "" : "s"} read, ` +
        `${sink.written} packet${sink.written === 1 ? "" : "s"} written`,
    )
  );
  try {
    // A regular file is read without a thread hop; a pipe or FIFO is read
    // asynchronously so that signals still get through while it waits.
    const src = input;
    let events = captureSource(
      inputInfo.isFile
        ? { read: (p) => src.read(p), readSync: (p) => src.readSync(p) }
        : { read: (p) => src.read(p) },
      { lender: pool },
    )
      .pipeThrough(decoder)
      .pipeThrough(new ConnPidsStream());
    if (procFilter) {
      events = events.pipeThrough(new ProcessFilterStream(procFilter));
    }
    if (prog) {
      events = events.pipeThrough(
        new PacketFilterStream(prog, { releaseBatch }),
      );
    }
    await events
      .pipeThrough(new PacketLimitStream(limit))
      .pipeThrough(new EncoderStream(encoder, { releaseBatch }))
      .pipeTo(sink);
  } catch (e) {
    // A failed write: the file is as it was before that batch; end it
    // validly where there is room (text's TAIL line).
    failure = e;
    try {
      if (!isBrokenPipe(e)) await out.write(encoder.finish());
    } catch { /* no room: the file ends with its last whole batch */ }
  }
  usr1.stop();
  failure ??= decoder.error;
  const notes = decoder.notes;
  out.close();
  // Warnings first: the error, when there is one, is the last line.
  const n = notes;
  if (n.nonIp > 0) {
    printWarning(`${n.nonIp} non-IP packet${n.nonIp === 1 ? "" : "s"} skipped`);
  }
  if (n.badLinktype > 0) {
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

/** The process filter for events; a cgroup is an id, or a path here. */
function eventFilter(spec: FilterSpec): EventFilterSpec | null {
  if (Object.keys(spec).length === 0) return null;
  const out: EventFilterSpec = {};
  if (spec.pids) out.pids = spec.pids;
  if (spec.children) out.children = true;
  if (spec.comm !== undefined) out.comm = spec.comm;
  if (spec.uid !== undefined) out.uid = spec.uid;
  if (spec.cgroup !== undefined) {
    if (/^\d+$/.test(spec.cgroup)) out.cgroupId = Number(spec.cgroup);
    else {
      try {
        out.cgroupId = Number(resolveCgroup(spec.cgroup).id);
      } catch (e) {
        throw new UsageError(reason(e));
      }
    }
  }
  return out;
}
