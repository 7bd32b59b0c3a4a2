/**
 * What `hone record` does the same way whatever the sensor: stop signals,
 * the wait for the pipeline after a stop, the live status line, small
 * stages.
 *
 * @module
 */

import type {
  HoneEvent,
  HostId,
  ReleaseBatch,
  StatsEvent,
} from "../events/mod.ts";
import {
  type Encoder,
  type EncoderOptions,
  EncoderStream,
  makeEncoder,
} from "../writers/mod.ts";
import type { CommonArgs } from "./args.ts";
import { printError, printWarning, reason } from "./errors.ts";
import { EXIT_FAILURE, EXIT_OK } from "./exit_codes.ts";
import { FileSetSink } from "./file_set.ts";
import { openOutput, type Output, OutputSink } from "./output.ts";

const enc = new TextEncoder();

/** What a capture's section header says besides the sensor's own. */
export interface SectionOptions {
  /** `--hostid`. */
  hostId: HostId | null;
  /** `--comment`. */
  comment: string | null;
  /** `shb_os`. */
  os?: string;
  /** `shb_hardware`. */
  hardware?: string;
}

/**
 * "1 packet", "2 packets".
 *
 * @param n How many.
 * @param what The noun, singular.
 * @returns The phrase.
 */
export function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

/**
 * A stage that passes batches through and calls `seen` for each.
 *
 * @param seen Called with each batch.
 * @returns The stage.
 */
export function tap<T>(seen: (chunk: T) => void): TransformStream<T, T> {
  return new TransformStream({
    transform(chunk, controller) {
      seen(chunk);
      controller.enqueue(chunk);
    },
  });
}

/**
 * A stage that passes batches through and adds one more at the end.
 *
 * @param last Makes the last batch.
 * @returns The stage.
 */
export function appendAtEnd(
  last: () => HoneEvent[],
): TransformStream<HoneEvent[], HoneEvent[]> {
  return new TransformStream({
    flush(controller) {
      controller.enqueue(last());
    },
  });
}

/**
 * The one-line live status on a terminal, once a second, while writing to
 * a file.
 *
 * @param args The parsed arguments (where the output goes).
 * @param now Packets, process events and events dropped so far.
 * @returns A handle that stops it and clears the line.
 */
export function liveStatus(
  args: CommonArgs,
  now: () => [number, number, number],
): { stop(): void } {
  const live = args.write !== null && args.write !== "-" &&
    Deno.stderr.isTerminal();
  if (!live) return { stop() {} };
  const timer = setInterval(() => {
    const [packets, processes, dropped] = now();
    Deno.stderr.writeSync(enc.encode(
      `\r${plural(packets, "packet")}, ${
        plural(processes, "process event")
      }, ${dropped} dropped\x1b[K`,
    ));
  }, 1000);
  return {
    stop() {
      clearInterval(timer);
      Deno.stderr.writeSync(enc.encode("\r\x1b[K"));
    },
  };
}

/** How long a stop waits for an output that takes no data (a stalled pipe). */
export const STOP_GRACE_MS = 700;

/**
 * How long a stop waits for a pipeline that does not move while its output
 * is not blocked: the sensor still ending its section (the module's
 * statistics) on a starved machine.
 */
export const SOURCE_GRACE_MS = 10_000;

/** A write that did not finish by its deadline. */
export class TimeoutError extends Error {}

/**
 * Resolves true when `p` has settled, false at `deadline`.
 *
 * @param p A promise.
 * @param deadline A `performance.now()` time, in milliseconds.
 * @returns Whether `p` settled in time.
 */
export async function settledBy(
  p: Promise<void>,
  deadline: number,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((r) => {
    timer = setTimeout(
      () => r(false),
      Math.max(0, deadline - performance.now()),
    );
  });
  try {
    return await Promise.race([p.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Writes `bytes` to `out` unless that takes past `deadline`.
 *
 * @param out The output.
 * @param bytes The bytes.
 * @param deadline A `performance.now()` time, in milliseconds.
 * @throws {TimeoutError} If the write did not finish in time.
 */
export async function writeBy(
  out: Output,
  bytes: Uint8Array,
  deadline: number,
): Promise<void> {
  if (bytes.length === 0) return;
  let error: unknown = null;
  const p = out.write(bytes).catch((e) => {
    error = e;
  });
  if (!await settledBy(p, deadline)) throw new TimeoutError();
  if (error !== null) throw error;
}

/** SIGINT and SIGTERM: the first asks the capture to stop. */
export interface StopSignals {
  /** Resolves at the first stop request. */
  requested: Promise<void>;
  /** Aborted at the first stop request: the sensor source's stop. */
  signal: AbortSignal;
  /** When it was asked for (performance.now()), or null. */
  readonly at: number | null;
  /** Asks for a stop (the end of -c, a failed write). */
  request(): void;
  /** Removes the signal listeners. */
  dispose(): void;
}

/**
 * Takes SIGINT and SIGTERM: the first asks the capture to stop, a second
 * calls `onSecond`.
 *
 * @param onSecond What a second stop signal does.
 * @returns The stop requests.
 */
export function stopSignals(onSecond: () => void): StopSignals {
  let wake = () => {};
  let at: number | null = null;
  const requested = new Promise<void>((r) => wake = r);
  const controller = new AbortController();
  const request = () => {
    at ??= performance.now();
    controller.abort();
    wake();
  };
  const onSignal = () => {
    if (at !== null) onSecond();
    request();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  return {
    requested,
    signal: controller.signal,
    get at() {
      return at;
    },
    request,
    dispose() {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    },
  };
}

/**
 * Waits for a capture's pipeline to end: by itself (after -c, a failed
 * write), or after a stop while it still moves. After a stop it gives up
 * when a write has waited {@linkcode STOP_GRACE_MS} (a blocked output must
 * not keep a stop from ending the capture), or when nothing has moved for
 * {@linkcode SOURCE_GRACE_MS}.
 *
 * @param pipeline The pipeline.
 * @param stop The stop requests.
 * @param lastMove When the pipeline last moved (performance.now()).
 * @param writingSince When the output's write in progress began, or null.
 * @returns Whether the pipeline ended.
 */
export async function awaitCapture(
  pipeline: Promise<void>,
  stop: StopSignals,
  lastMove: () => number,
  writingSince: () => number | null,
): Promise<boolean> {
  await Promise.race([pipeline, stop.requested]);
  let done = await settledBy(pipeline, performance.now());
  while (!done) {
    const now = performance.now();
    const writing = writingSince();
    if (writing !== null && now - writing >= STOP_GRACE_MS) break;
    const idle = Math.max(stop.at ?? 0, lastMove());
    if (now - idle >= SOURCE_GRACE_MS) break;
    // Looked at again soon: a write may start, or end, meanwhile.
    done = await settledBy(pipeline, now + STOP_GRACE_MS / 10);
  }
  return done;
}

/**
 * A capture's packet counts, each with one definition:
 *
 * - `received`: packets the sensor's hooks matched (every packet of a local
 *   socket but hone's own, and those netfilter saw without a socket);
 * - `dropped`: of those, packets lost because the ring buffer was full;
 * - `captured`: packets in the output;
 * - `notWritten`: packets read from the ring but not in the output (after
 *   -c's limit, a failed write, or an output that stopped taking data).
 *
 * At the end of a capture received = captured + dropped + notWritten.
 */
export interface Counts {
  received: number;
  dropped: number;
  captured: number;
  notWritten: number;
  noProcess: number;
  processes: { received: number; dropped: number; delivered: number };
  connections: { received: number; dropped: number; delivered: number };
}

/**
 * The counts as stderr's closing lines, tcpdump's first.
 *
 * @param c The counts.
 * @param limit -c's limit (0 = none).
 * @returns The lines.
 */
export function summary(c: Counts, limit: number): string[] {
  const lines = [
    `${plural(c.captured, "packet")} captured`,
    `${plural(c.received, "packet")} received by filter`,
    `${plural(c.dropped, "packet")} dropped by kernel`,
  ];
  if (c.notWritten > 0) {
    lines.push(
      `${plural(c.notWritten, "packet")} not written${
        limit > 0 ? " (after -c)" : ""
      }`,
    );
  }
  lines.push(
    `${plural(c.noProcess, "packet")} without a process`,
    `${
      plural(
        c.processes.dropped + c.connections.dropped,
        "process and socket event",
      )
    } dropped by kernel`,
  );
  return lines;
}

/**
 * The counts as the section's closing statistics (pcapng ISB, JSON stats
 * line).
 *
 * @param c The counts.
 * @param startedMs When the capture started (Date.now()).
 * @returns The event.
 */
export function statsEvent(c: Counts, startedMs: number): StatsEvent {
  const now = Date.now();
  return {
    type: "stats",
    sec: Math.floor(now / 1000),
    nsec: (now % 1000) * 1e6,
    start: [Math.floor(startedMs / 1000), (startedMs % 1000) * 1e6],
    received: {
      process: c.processes.received,
      connection: c.connections.received,
      packet: c.received,
    },
    dropped: {
      process: c.processes.dropped,
      connection: c.connections.dropped,
      packet: c.dropped,
    },
    delivered: {
      process: c.processes.delivered,
      connection: c.connections.delivered,
      packet: c.captured,
    },
  };
}

/**
 * Where a capture's events go: stdout or one file through the encoder
 * stage and the output sink, or a set of files (rotation, SIGHUP).
 */
export interface Destination {
  /** The file being written, or "stdout", for messages. */
  readonly name: string;
  /** Packets written so far. */
  readonly written: number;
  /** When the last write completed (performance.now()). */
  readonly lastWrite: number;
  /** When the write in progress began (performance.now()), or null. */
  readonly writingSince: number | null;
  /** Writes the events; resolves when all are written, rejects on a failed write. */
  pipeFrom(events: ReadableStream<HoneEvent[]>): Promise<void>;
  /** After a failed write: the statistics and the end, where there is room. */
  finishFailed(stats: StatsEvent): Promise<void>;
  /** Cuts the file back to its last whole write (an exit that cannot wait). */
  cutBack(): void;
  /** Closes the output. */
  close(): void;
  /** SIGHUP: a new file of the same name (files only). */
  reopen(): void;
}

/**
 * One output (stdout or a file) behind the encoder stage.
 *
 * @param out The output.
 * @param encoder The format's encoder.
 * @param releaseBatch Takes back each sensor batch once its events are
 * encoded.
 * @returns The destination.
 */
export function streamDestination(
  out: Output,
  encoder: Encoder,
  releaseBatch?: ReleaseBatch,
): Destination {
  const sink = new OutputSink(out);
  return {
    name: out.name,
    get written() {
      return sink.written;
    },
    get lastWrite() {
      return sink.lastWrite;
    },
    get writingSince() {
      return sink.writingSince;
    },
    pipeFrom: (events) =>
      events.pipeThrough(new EncoderStream(encoder, { releaseBatch }))
        .pipeTo(sink),
    async finishFailed(stats) {
      try {
        await writeBy(
          out,
          encoder.encode([stats]).slice(),
          performance.now() + STOP_GRACE_MS,
        );
        await writeBy(out, encoder.finish(), performance.now() + STOP_GRACE_MS);
      } catch { /* no room: the file ends with its last whole batch */ }
    },
    cutBack: () => out.abort(),
    close: () => out.close(),
    reopen() {},
  };
}

/**
 * A set of files (see {@linkcode FileSetSink}).
 *
 * @param sink The sink.
 * @returns The destination.
 */
export function fileSetDestination(sink: FileSetSink): Destination {
  return {
    get name() {
      return sink.name;
    },
    get written() {
      return sink.written;
    },
    get lastWrite() {
      return sink.lastWrite;
    },
    get writingSince() {
      return sink.writingSince;
    },
    pipeFrom: (events) => events.pipeTo(sink),
    finishFailed: (stats) =>
      sink.finishFailed(
        stats,
        (out, bytes) => writeBy(out, bytes, performance.now() + STOP_GRACE_MS),
      ),
    cutBack: () => sink.cutBack(),
    close: () => sink.closeNow(),
    reopen: () => sink.reopen(),
  };
}

/** The output flags of `hone record` beyond -w. */
export interface RotationArgs {
  /** `-C`: megabytes (10^6 bytes, as tcpdump) per file, or 0. */
  sizeMB: number;
  /** `-G`: seconds per file, or 0. */
  seconds: number;
  /** `-W`: files. */
  maxFiles: number;
  /** `-z`: a command for each finished file. */
  postRotate: string | null;
  /** `-a`: append to the file. */
  append: boolean;
}

/**
 * Opens where the events go: stdout, or `-w FILE` as a set of files.
 *
 * @param args The parsed arguments.
 * @param rot The rotation flags.
 * @param encoder The encoder's options.
 * @param cumulative The capture's counts so far.
 * @param onLastFile Called when -G with -W made its last file.
 * @param releaseBatch Takes back each sensor batch once its events are
 * encoded (the sensor source's pool).
 * @returns The destination.
 * @throws {Error} If the output cannot be opened.
 */
export function openDestination(
  args: CommonArgs,
  rot: RotationArgs,
  encoder: EncoderOptions,
  cumulative: () => StatsEvent,
  onLastFile: () => void,
  releaseBatch?: ReleaseBatch,
): Destination {
  if (args.write === null || args.write === "-") {
    return streamDestination(
      openOutput(args.write),
      makeEncoder(args.format, encoder),
      releaseBatch,
    );
  }
  return fileSetDestination(
    new FileSetSink({
      path: args.write,
      format: args.format,
      encoder,
      sizeBytes: rot.sizeMB * 1_000_000,
      seconds: rot.seconds,
      maxFiles: rot.maxFiles,
      postRotate: rot.postRotate,
      append: rot.append,
      cumulative,
      onLastFile,
      warn: printWarning,
      releaseBatch,
    }),
  );
}

/** What a destination asks of the capture, set once the capture runs. */
export interface CaptureHooks {
  /**
   * Called once the sensor runs and its snapshot is taken, before anything
   * is written: -Z's drop, then the output opened as that user.
   */
  beforeOutput: () => void;
  /** The capture's counts so far, as statistics. */
  cumulative: () => StatsEvent;
  /** Ends the capture (-G with -W made its last file). */
  lastFile: () => void;
}

/** Counts of nothing. */
export const ZERO_COUNTS: Counts = {
  received: 0,
  dropped: 0,
  captured: 0,
  notWritten: 0,
  noProcess: 0,
  processes: { received: 0, dropped: 0, delivered: 0 },
  connections: { received: 0, dropped: 0, delivered: 0 },
};

/**
 * SIGHUP: the destination's file is closed and its name opened again
 * (logrotate's postrotate, systemd's reload).
 *
 * @param dest The destination.
 * @returns A handle that removes the listener.
 */
export function reopenOnHangup(dest: Destination): { stop(): void } {
  const onHup = () => dest.reopen();
  Deno.addSignalListener("SIGHUP", onHup);
  return {
    stop: () => Deno.removeSignalListener("SIGHUP", onHup),
  };
}

/**
 * A destination opened only when {@linkcode LateDestination.open} is
 * called (after -Z's drop, so that the files belong to that user).
 */
export interface LateDestination extends Destination {
  /** Opens the destination. */
  open(): void;
}

/**
 * Wraps the opening of a destination for later.
 *
 * @param name The name for messages until it is open.
 * @param make Opens it.
 * @returns The destination, not open yet.
 */
export function lateDestination(
  name: string,
  make: () => Destination,
): LateDestination {
  let d: Destination | null = null;
  const since = performance.now();
  const need = () => {
    d ??= make();
    return d;
  };
  return {
    get name() {
      return d?.name ?? name;
    },
    get written() {
      return d?.written ?? 0;
    },
    get lastWrite() {
      return d?.lastWrite ?? since;
    },
    get writingSince() {
      return d?.writingSince ?? null;
    },
    open: () => void need(),
    pipeFrom: (events) => need().pipeFrom(events),
    finishFailed: (stats) => d?.finishFailed(stats) ?? Promise.resolve(),
    cutBack: () => d?.cutBack(),
    close: () => d?.close(),
    reopen: () => d?.reopen(),
  };
}

/**
 * A stage that passes batches through (where an optional stage is not
 * asked for).
 *
 * @returns The stage.
 */
export function passThrough(): TransformStream<HoneEvent[], HoneEvent[]> {
  return new TransformStream();
}

/**
 * Takes the capture's signals: SIGINT and SIGTERM stop it (a second one
 * ends hone at once, the file cut back to its last whole write), SIGHUP
 * reopens the destination's file; -G with -W stops it too.
 *
 * @param dest The destination.
 * @param hooks The capture's hooks (its stop is set here).
 * @returns The stop requests and the SIGHUP listener.
 */
export function captureSignals(
  dest: Destination,
  hooks: CaptureHooks,
): { stop: StopSignals; hup: { stop(): void } } {
  const stop = stopSignals(() => {
    printError("record: second stop signal: exiting at once");
    dest.cutBack();
    Deno.exit(EXIT_FAILURE);
  });
  hooks.lastFile = stop.request;
  return { stop, hup: reopenOnHangup(dest) };
}

/** How a capture ended, for {@linkcode endCapture}. */
export interface CaptureEnd {
  /** Whether the pipeline ended (else it stopped taking data). */
  done: boolean;
  /** What ended it with an error, or null. */
  failure: unknown;
  /** The final counts. */
  counts: Counts;
  /** When the capture started (Date.now()). */
  started: number;
  /** -c's limit (0 = none). */
  limit: number;
  /** Where the events went. */
  dest: Destination;
  /** The stop requests, to dispose of. */
  stop: StopSignals;
  /** Closes the sensor. */
  closeSensor: () => Promise<void>;
  /** An error of the source that ended it early, as a line, or null. */
  sourceError?: string | null;
  /** The failure's line when it is not a write's (default: a write error). */
  describe?: (failure: unknown) => string | null;
}

/**
 * Ends a capture: a file cut back by a failed write gets its statistics
 * where there is room, the sensor and the output are closed, and the
 * counts go to stderr after the error or warning, if any.
 *
 * @param e How it ended.
 * @returns The exit code.
 */
export async function endCapture(e: CaptureEnd): Promise<number> {
  const { done, failure, counts: c, dest } = e;
  const failed = failure !== null &&
    !(failure instanceof Deno.errors.BrokenPipe);
  if (done && failed) await dest.finishFailed(statsEvent(c, e.started));
  e.stop.dispose();
  await e.closeSensor();
  if (done) dest.close();
  const lines = summary(c, e.limit);
  const error = e.sourceError ??
    (failed
      ? `${
        e.describe?.(failure) ?? `write ${dest.name}: ${reason(failure)}`
      } (${plural(c.captured, "packet")} written)`
      : null);
  if (error !== null) {
    printError(`record: ${error}`);
    for (const line of lines) printError(line);
    return EXIT_FAILURE;
  }
  if (!done) {
    printWarning(
      dest.writingSince !== null
        ? `${dest.name} took no data for ${STOP_GRACE_MS} ms after the stop: the rest is not written`
        : `the capture did not end ${
          SOURCE_GRACE_MS / 1000
        } s after the stop: the rest is not written`,
    );
  }
  Deno.stderr.writeSync(enc.encode(lines.join("\n") + "\n"));
  return EXIT_OK;
}
