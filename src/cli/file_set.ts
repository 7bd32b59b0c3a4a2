/**
 * `-w FILE` as a set of files, the last stage of `hone record`: rotation by
 * size (`-C`), by time (`-G`, strftime names), a ring of files or a count
 * (`-W`), a command run on each finished file (`-z`), SIGHUP's reopen of
 * the same name, and `-a`'s append.
 *
 * Each file stands alone: its own section header, a snapshot of the live
 * processes and open connections (as the original did after a restart), so
 * that `hone read` of one file gives every packet its pid, and at its end
 * statistics of its own (the counts since the file began). No event is
 * lost or written twice across a boundary: files change between batches.
 *
 * @module
 */

import type {
  ChunkEvent,
  ConnectionEvent,
  HoneEvent,
  ProcessEvent,
  StatsEvent,
} from "../events/mod.ts";
import { partsOf, type ReleaseBatch, setBounded } from "../events/mod.ts";
import { strftime } from "../format/mod.ts";
import {
  ENCODED_BATCH_EVENTS,
  type Encoder,
  type EncoderOptions,
  type Format,
  makeEncoder,
  releaseBatchOf,
} from "../writers/mod.ts";
import { openOutput, type Output } from "./output.ts";

/** Most processes and connections a new file's snapshot repeats. */
export const MAX_LIVE = 1 << 16;

/** Options of {@linkcode FileSetSink}. */
export interface FileSetOptions {
  /** `-w`: the file name, a strftime pattern with `-G`. */
  path: string;
  /** The output format. */
  format: Format;
  /** The encoder's options (snap length, section header). */
  encoder: EncoderOptions;
  /** `-C` in bytes: a new file once one reaches it (0 = never). */
  sizeBytes: number;
  /** `-G`: a new file every this many seconds (0 = never). */
  seconds: number;
  /** `-W`: with -C a ring of this many files; with -G only, stop after it. */
  maxFiles: number;
  /** `-z`: a command run on each finished file, or null. */
  postRotate: string | null;
  /** `-a`: the first file is appended to. */
  append: boolean;
  /** The capture's counts so far, for a file that ends before the capture. */
  cumulative: () => StatsEvent;
  /** Called when `-G` with `-W` has made its last file. */
  onLastFile: () => void;
  /** Says something on stderr. */
  warn: (message: string) => void;
  /** Takes back the sensor batches of events once encoded (see EncoderStream). */
  releaseBatch?: ReleaseBatch | undefined;
}

interface OpenFile {
  name: string;
  out: Output;
  encoder: Encoder;
  bytes: number;
  packets: number;
  processes: number;
  connections: number;
  /** When the file was opened (Date.now()). */
  openedMs: number;
  /** The capture's counts when the file began. */
  base: StatsEvent | null;
}

/** What a new file repeats: live processes, open connections. */
class LiveState {
  processes = new Map<number, ProcessEvent>();
  connections = new Map<number, ConnectionEvent>();

  update(events: readonly ChunkEvent[]): void {
    for (const e of events) {
      if (e.type === "process") {
        if (e.event === "exit") this.processes.delete(e.pid);
        else setBounded(this.processes, e.pid, e, MAX_LIVE);
      } else if (e.type === "connection") {
        if (e.event === "close") this.connections.delete(e.conn);
        else setBounded(this.connections, e.conn, e, MAX_LIVE);
      }
    }
  }

  snapshot(): HoneEvent[] {
    return [...this.processes.values(), ...this.connections.values()];
  }
}

/**
 * The counts of one file: what the capture counted since the file began,
 * and what the file holds.
 */
function fileStats(now: StatsEvent, f: OpenFile): StatsEvent {
  const b = f.base;
  const sub = (
    x: StatsEvent["dropped"] | null,
    y: StatsEvent["dropped"] | null | undefined,
  ) =>
    x === null ? null : {
      process: x.process - (y?.process ?? 0),
      connection: x.connection - (y?.connection ?? 0),
      packet: x.packet - (y?.packet ?? 0),
    };
  return {
    ...now,
    start: [Math.floor(f.openedMs / 1000), (f.openedMs % 1000) * 1e6],
    received: sub(now.received, b?.received),
    dropped: sub(now.dropped, b?.dropped)!,
    delivered: {
      process: f.processes,
      connection: f.connections,
      packet: f.packets,
    },
  };
}

/**
 * The set of output files as the pipeline's last stage: event batches in,
 * written ≤ {@linkcode ENCODED_BATCH_EVENTS} events at a time (a failed
 * write leaves the file as it was before those events, and errors the
 * pipeline).
 *
 * @example Usage
 * ```ts ignore
 * import { FileSetSink } from "./file_set.ts";
 * const sink = new FileSetSink({ path: "cap.pcapng", format: "pcapng", ... });
 * await events.pipeTo(sink);
 * ```
 */
export class FileSetSink extends WritableStream<readonly ChunkEvent[]> {
  #o: FileSetOptions;
  #file: OpenFile | null = null;
  /** The name of the file last opened, for messages once it is closed. */
  #lastName: string;
  #index = 0;
  #written = 0;
  #lastWrite = performance.now();
  #writingSince: number | null = null;
  #live = new LiveState();
  #reopen = false;
  #done = false;
  #chain: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * Makes the sink and opens the first file.
   *
   * @param o The options.
   * @throws {Error} If the first file cannot be opened.
   */
  constructor(o: FileSetOptions) {
    super({
      write: (batch) => this.#serial(() => this.#write(batch)),
      close: () => this.#serial(() => this.#close()),
    });
    this.#o = o;
    this.#lastName = o.path;
    this.#file = this.#open(o.append);
    if (o.seconds > 0) {
      // A quiet capture still gets its new file on time.
      this.#timer = setInterval(() => {
        if (this.#due()) {
          this.#serial(() => this.#rotate()).catch(() => {});
        }
      }, 250);
      Deno.unrefTimer(this.#timer);
    }
  }

  /** Packets whose bytes have been written, over all files. */
  get written(): number {
    return this.#written;
  }

  /** When the last write completed (performance.now()). */
  get lastWrite(): number {
    return this.#lastWrite;
  }

  /** When the write in progress began (performance.now()), or null. */
  get writingSince(): number | null {
    return this.#writingSince;
  }

  /** The file being written. */
  get name(): string {
    return this.#file?.name ?? this.#lastName;
  }

  /**
   * Closes the file and opens the same name again, between two batches
   * (SIGHUP: logrotate has moved the file away).
   */
  reopen(): void {
    this.#reopen = true;
    this.#serial(() => this.#due() ? this.#rotate() : Promise.resolve())
      .catch(() => {});
  }

  /** Cuts the file back to its last whole write (an exit that cannot wait). */
  cutBack(): void {
    this.#file?.out.abort();
  }

  /**
   * Ends the file after a failed write: its statistics and end where there
   * is room, then closes it.
   *
   * @param stats The capture's counts.
   * @param write How to write (with a deadline).
   */
  async finishFailed(
    stats: StatsEvent,
    write: (out: Output, bytes: Uint8Array) => Promise<void>,
  ): Promise<void> {
    const f = this.#file;
    if (!f) return;
    try {
      await write(f.out, f.encoder.encode([fileStats(stats, f)]).slice());
      await write(f.out, f.encoder.finish());
    } catch { /* no room: the file ends with its last whole write */ }
  }

  /** Closes the file without writing more (after a failure, or at exit). */
  closeNow(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#file?.out.close();
    this.#file = null;
  }

  #serial(job: () => Promise<void>): Promise<void> {
    const p = this.#chain.then(job);
    this.#chain = p.catch(() => {});
    return p;
  }

  #due(): boolean {
    const f = this.#file;
    if (!f || this.#done) return false;
    if (this.#reopen) return true;
    if (this.#o.sizeBytes > 0 && f.bytes >= this.#o.sizeBytes) return true;
    return this.#o.seconds > 0 &&
      Date.now() - f.openedMs >= this.#o.seconds * 1000;
  }

  async #write(batch: readonly ChunkEvent[]): Promise<void> {
    for (let part of partsOf(batch, ENCODED_BATCH_EVENTS)) {
      if (this.#due()) await this.#rotate();
      const f = this.#file;
      if (!f) return;
      let packets = 0, processes = 0, connections = 0, stats = false;
      for (const e of part) {
        if (e.type === "packet") packets++;
        else if (e.type === "packets") packets += e.length;
        else if (e.type === "process") processes++;
        else if (e.type === "connection") connections++;
        else if (e.type === "stats") stats = true;
      }
      if (stats) {
        // The capture's counts: this file's share of them.
        part = part.map((e) => e.type === "stats" ? fileStats(e, f) : e);
      }
      // Written before the next encode: the encoder's buffer needs no copy.
      const bytes = f.encoder.encode(part);
      if (bytes.length) {
        this.#writingSince = performance.now();
        await f.out.write(bytes);
        this.#writingSince = null;
      }
      f.bytes += bytes.length;
      f.packets += packets;
      f.processes += processes;
      f.connections += connections;
      this.#written += packets;
      this.#lastWrite = performance.now();
      this.#live.update(part);
    }
    const release = this.#o.releaseBatch;
    if (release) releaseBatchOf(batch, release);
  }

  async #close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    const f = this.#file;
    if (!f) return;
    const end = f.encoder.finish();
    if (end.length) await f.out.write(end);
    f.out.close();
    this.#file = null;
    this.#post(f.name);
  }

  /** Ends the file with its statistics and starts the next. */
  async #rotate(): Promise<void> {
    const f = this.#file;
    if (!f) return;
    const reopen = this.#reopen;
    this.#reopen = false;
    const now = this.#o.cumulative();
    await f.out.write(f.encoder.encode([fileStats(now, f)]));
    const end = f.encoder.finish();
    if (end.length) await f.out.write(end);
    f.out.close();
    this.#file = null;
    this.#post(f.name);
    if (!reopen) this.#index++;
    if (
      !reopen && this.#o.seconds > 0 && this.#o.sizeBytes === 0 &&
      this.#o.maxFiles > 0 && this.#index >= this.#o.maxFiles
    ) {
      // -G with -W: that was the last file.
      this.#done = true;
      this.#o.onLastFile();
      return;
    }
    // SIGHUP: the same name, appended to if nobody moved the file away.
    const next = this.#open(reopen, reopen ? f.name : undefined);
    next.base = now;
    this.#file = next;
    // What the new file must know to stand alone.
    const snap = this.#live.snapshot();
    const bytes = next.encoder.encode(snap);
    if (bytes.length) await next.out.write(bytes);
    next.bytes += bytes.length;
  }

  #nameFor(index: number): string {
    const o = this.#o;
    let name = o.seconds > 0 ? strftime(o.path, new Date()) : o.path;
    if (o.sizeBytes > 0) {
      if (o.maxFiles > 0) {
        const digits = String(o.maxFiles - 1).length;
        name += String(index % o.maxFiles).padStart(digits, "0");
      } else if (index > 0) name += String(index);
    }
    return name;
  }

  #open(append: boolean, name?: string): OpenFile {
    const path = name ?? this.#nameFor(this.#index);
    this.#lastName = path;
    const out = openOutput(path, { append });
    return {
      name: path,
      out,
      encoder: makeEncoder(this.#o.format, this.#o.encoder),
      bytes: 0,
      packets: 0,
      processes: 0,
      connections: 0,
      openedMs: Date.now(),
      base: null,
    };
  }

  /** Runs `-z CMD FILE` without waiting; a failure is reported. */
  #post(file: string): void {
    const cmd = this.#o.postRotate;
    if (cmd === null) return;
    const warn = this.#o.warn;
    try {
      const child = new Deno.Command(cmd, {
        args: [file],
        stdin: "null",
        stdout: "null",
        stderr: "inherit",
      }).spawn();
      child.unref();
      child.status.then((s) => {
        if (!s.success) warn(`-z ${cmd} ${file}: exit status ${s.code}`);
      }).catch(() => {});
    } catch (e) {
      warn(
        `-z ${cmd} ${file}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
}
