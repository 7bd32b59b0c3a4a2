/**
 * Where hone's data goes: a file created 0600 (captures hold secrets), or
 * stdout. A failed write truncates the file back to the last whole batch, so
 * files already written stay valid.
 *
 * @module
 */

/** An output sink. */
export interface Output {
  /** Name for messages: the path, or "stdout". */
  name: string;
  /** Writes all bytes; on failure the file is cut back to its last good size. */
  write(bytes: Uint8Array): Promise<void>;
  /** Closes the sink. */
  close(): void;
}

/**
 * Opens an output: `-` or `null` is stdout, anything else a file created
 * with mode 0600 and truncated.
 *
 * @param path The path, `-`, or `null`.
 * @returns The sink.
 */
export async function openOutput(path: string | null): Promise<Output> {
  if (path === null || path === "-") {
    return {
      name: "stdout",
      write: (b) => Promise.resolve(writeAllSync(Deno.stdout, b)),
      close() {},
    };
  }
  const f = await Deno.open(path, {
    write: true,
    create: true,
    truncate: true,
    mode: 0o600,
  });
  // An existing regular file keeps its mode through open(): make it 0600
  // too (never touch devices such as /dev/null).
  if ((await f.stat()).isFile) await Deno.chmod(path, 0o600).catch(() => {});
  let good = 0;
  return {
    name: path,
    async write(b) {
      try {
        writeAllSync(f, b);
        good += b.length;
      } catch (e) {
        await f.truncate(good).catch(() => {});
        throw e;
      }
    },
    close: () => f.close(),
  };
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
