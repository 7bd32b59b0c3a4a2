/**
 * Where hone's data goes: a file, or stdout.
 *
 * hone runs as root on hosts shared with people it should not trust, so an
 * output file is opened the way tcpdump and logrotate would want it:
 *
 * - a new name is created with O_CREAT|O_EXCL, mode 0600;
 * - an existing regular file is never written through: hone creates a new
 *   0600 file beside it (O_EXCL) and renames it over the name, so another
 *   user's file, or a hard link to one, is neither truncated nor chmod-ed;
 * - a symbolic link is followed only when root or hone's own user owns it
 *   (as fs.protected_symlinks would for a sticky directory, everywhere);
 * - a FIFO or device (`/dev/null`, a pipe to Wireshark) is opened as it is,
 *   unless another user owns it in a world-writable sticky directory, and
 *   only if it is still the same file after opening.
 *
 * A failed write (a full disk) cuts the file back to the end of the last
 * whole write, and later writes go on from there, so the file stays valid.
 *
 * @module
 */

import type { EncodedBatch } from "../writers/mod.ts";

/** An output sink. */
export interface Output {
  /** Name for messages: the path, or "stdout". */
  name: string;
  /**
   * Writes all bytes. On failure a file is cut back to its size before the
   * call and the error is thrown; the next write starts there.
   */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Cuts a file back to the end of its last whole write, for an exit that
   * cannot wait for a write still running.
   */
  abort(): void;
  /** Closes the sink. */
  close(): void;
}

/** Options for {@linkcode openOutput}. */
export interface OutputOptions {
  /**
   * Write with blocking calls (no thread-pool round trip; for `hone read`,
   * which has nothing else to do). Async writes let signals through while
   * a pipe is full.
   *
   * @default {true for a regular file or /dev/null (a write there never
   * waits on a reader), false otherwise}
   */
  sync?: boolean;
  /** A file that must not be the output (`hone read`'s input). */
  notSameAs?: Deno.FileInfo | null;
  /**
   * Append to an existing regular file of ours instead of replacing it
   * (`-a`, and SIGHUP's reopen of a name logrotate did not move).
   *
   * @default {false}
   */
  append?: boolean;
}

/** Thrown when hone refuses an output path; the message says why. */
export class OutputRefusedError extends Error {
  /**
   * Makes the error.
   *
   * @param message Why the path is refused.
   */
  constructor(message: string) {
    super(message);
    this.name = "OutputRefusedError";
  }
}

const STICKY_WORLD_WRITABLE = 0o1002;

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : path.slice(0, i);
}

function inStickyDir(path: string): boolean {
  try {
    const m = Deno.statSync(dirOf(path)).mode ?? 0;
    return (m & STICKY_WORLD_WRITABLE) === STICKY_WORLD_WRITABLE;
  } catch {
    return false;
  }
}

function sameFile(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

function statOrNull(path: string, follow: boolean): Deno.FileInfo | null {
  try {
    return follow ? Deno.statSync(path) : Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function isSpecial(st: Deno.FileInfo): boolean {
  return st.isFifo === true || st.isCharDevice === true ||
    st.isSocket === true || st.isBlockDevice === true;
}

/** Creates a new 0600 file beside `path` and renames it over `path`. */
function replaceFile(path: string): Deno.FsFile {
  const dir = dirOf(path);
  const base = path.slice(path.lastIndexOf("/") + 1);
  for (let attempt = 0; attempt < 8; attempt++) {
    const tmp = `${dir}/.${base}.hone-${crypto.randomUUID().slice(0, 8)}`;
    let f: Deno.FsFile;
    try {
      f = Deno.openSync(tmp, { write: true, createNew: true, mode: 0o600 });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) continue;
      throw e;
    }
    try {
      Deno.renameSync(tmp, path);
    } catch (e) {
      f.close();
      try {
        Deno.removeSync(tmp);
      } catch { /* gone already */ }
      throw e;
    }
    return f;
  }
  throw new Deno.errors.AlreadyExists(`Cannot create a file beside ${path}`);
}

/** Opens an existing FIFO, device or symlink target as it is. */
function openInPlace(
  path: string,
  before: Deno.FileInfo | null,
  append = false,
): Deno.FsFile {
  const f = Deno.openSync(path, {
    write: true,
    create: true,
    append,
    mode: 0o600,
  });
  const st = f.statSync();
  if (before && !sameFile(before, st)) {
    f.close();
    throw new OutputRefusedError("the file changed while it was opened");
  }
  if (st.isFile && !append) f.truncateSync(0);
  return f;
}

/** Opens an existing regular file of ours to append to it. */
function appendTo(path: string, st: Deno.FileInfo, uid: number): Deno.FsFile {
  if (st.uid !== uid) {
    throw new OutputRefusedError(
      `refusing to append to a file owned by uid ${st.uid}`,
    );
  }
  const f = Deno.openSync(path, { write: true, append: true });
  if (!sameFile(st, f.statSync())) {
    f.close();
    throw new OutputRefusedError("the file changed while it was opened");
  }
  return f;
}

function openPath(path: string, uid: number, append: boolean): Deno.FsFile {
  for (let attempt = 0; attempt < 8; attempt++) {
    const st = statOrNull(path, false);
    if (st === null) {
      try {
        return Deno.openSync(path, {
          write: true,
          createNew: true,
          mode: 0o600,
        });
      } catch (e) {
        if (e instanceof Deno.errors.AlreadyExists) continue;
        throw e;
      }
    }
    if (st.isDirectory) throw new Deno.errors.IsADirectory("Is a directory");
    const foreign = st.uid !== uid && st.uid !== 0;
    if (st.isSymlink) {
      if (foreign) {
        throw new OutputRefusedError(
          `refusing to follow a symbolic link owned by uid ${st.uid}`,
        );
      }
      const target = statOrNull(path, true);
      if (target?.isDirectory) {
        throw new Deno.errors.IsADirectory("Is a directory");
      }
      return openInPlace(path, target, append);
    }
    if (isSpecial(st)) {
      if (st.uid !== uid && inStickyDir(path)) {
        throw new OutputRefusedError(
          `refusing to write to a file owned by uid ${st.uid} in a world-writable sticky directory`,
        );
      }
      return openInPlace(path, st);
    }
    if (append) return appendTo(path, st, uid);
    return replaceFile(path);
  }
  throw new OutputRefusedError("the file keeps changing while it is opened");
}

/**
 * Opens an output: `-` or `null` is stdout, anything else a file (see the
 * module documentation for how files are created).
 *
 * @param path The path, `-`, or `null`.
 * @param options Options.
 * @returns The sink.
 * @throws {OutputRefusedError} The path is refused (see the message).
 */
export function openOutput(
  path: string | null,
  options: OutputOptions = {},
): Output {
  const notSameAs = options.notSameAs ?? null;
  if (path === null || path === "-") {
    const st = Deno.statSync("/proc/self/fd/1");
    if (notSameAs && sameAsInput(st, notSameAs)) {
      throw new OutputRefusedError("refusing to overwrite the input file");
    }
    const sync = options.sync ?? neverWaits(st);
    return {
      name: "stdout",
      write: sync
        ? (b) => Promise.resolve(writeAllSync(Deno.stdout, b))
        : (b) => writeAll(Deno.stdout, b),
      abort() {},
      close() {},
    };
  }
  if (notSameAs) {
    const st = statOrNull(path, true);
    if (st && sameAsInput(st, notSameAs)) {
      throw new OutputRefusedError("refusing to overwrite the input file");
    }
  }
  const f = openPath(path, Deno.uid() ?? 0, options.append ?? false);
  const st = f.statSync();
  const sync = options.sync ?? neverWaits(st);
  // The end of the last whole write: where a failed write is cut back to.
  let good = options.append ? st.size : 0;
  return {
    name: path,
    async write(b) {
      try {
        if (sync) writeAllSync(f, b);
        else await writeAll(f, b);
        good += b.length;
      } catch (e) {
        // Cut back to the last whole write and go on from there: a hole of
        // zeros would break every block after it.
        try {
          f.truncateSync(good);
          f.seekSync(good, Deno.SeekMode.Start);
        } catch { /* not a seekable file */ }
        throw e;
      }
    },
    abort() {
      try {
        f.truncateSync(good);
      } catch { /* not a file */ }
    },
    close: () => f.close(),
  };
}

/** /dev/null's device number (major 1, minor 3). */
const DEV_NULL = (1 << 8) | 3;

/**
 * Whether a write to this file returns without waiting for anyone: a
 * regular file or /dev/null, not a pipe, socket or terminal.
 */
function neverWaits(st: Deno.FileInfo): boolean {
  return st.isFile === true ||
    (st.isCharDevice === true && st.rdev === DEV_NULL);
}

function sameAsInput(st: Deno.FileInfo, input: Deno.FileInfo): boolean {
  // Pipes and terminals are not files one could overwrite.
  return st.isFile === true && input.isFile === true && sameFile(st, input);
}

/**
 * The output as the pipeline's last stage: writes each encoded batch whole
 * (a failed write leaves the file as it was before the batch, and errors
 * the pipeline) and counts the packets written.
 *
 * @example Usage
 * ```ts ignore
 * import { openOutput, OutputSink } from "./output.ts";
 * const sink = new OutputSink(openOutput("-"));
 * ```
 */
export class OutputSink extends WritableStream<EncodedBatch> {
  #written = 0;
  #lastWrite = performance.now();
  #writingSince: number | null = null;

  /**
   * Makes the sink.
   *
   * @param out Where the bytes go.
   */
  constructor(out: Output) {
    super({
      write: async (batch) => {
        this.#writingSince = performance.now();
        await out.write(batch.bytes);
        batch.release?.();
        this.#writingSince = null;
        this.#written += batch.packets;
        this.#lastWrite = performance.now();
      },
    });
  }

  /** Packets whose bytes have been written. */
  get written(): number {
    return this.#written;
  }

  /** When the last write completed (performance.now()), or the sink was made. */
  get lastWrite(): number {
    return this.#lastWrite;
  }

  /** When the write in progress began (performance.now()), or null. */
  get writingSince(): number | null {
    return this.#writingSince;
  }
}

/**
 * Writes every byte, looping over short writes.
 *
 * @param w A writer.
 * @param b The bytes.
 */
export async function writeAll(
  w: { write(p: Uint8Array): Promise<number> },
  b: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < b.length) off += await w.write(b.subarray(off));
}

/**
 * Writes every byte synchronously (no thread-pool round trip per write;
 * `hone read` has nothing else to do meanwhile).
 *
 * @param w A writer.
 * @param b The bytes.
 */
export function writeAllSync(
  w: { writeSync(p: Uint8Array): number },
  b: Uint8Array,
): void {
  let off = 0;
  while (off < b.length) off += w.writeSync(b.subarray(off));
}
