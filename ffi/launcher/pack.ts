/**
 * Packs the launcher, the Deno runtime, the bundled app, the optional
 * shim and the optional deno cache into one executable (see launcher.c
 * for the layout; the runtime starts at a multiple of
 * {@linkcode DENO_ALIGN}).
 *
 * ```sh
 * deno run --allow-read --allow-write ffi/launcher/pack.ts \
 *   LAUNCHER DENO APP_JS SHIM_OR_EMPTY OUT [DENO_CACHE]
 * ```
 *
 * Pass `""` as SHIM_OR_EMPTY to pack without a shim. DENO_CACHE is the
 * module-analysis database deno_cache.ts builds for this DENO and APP_JS;
 * the launcher puts it in deno's fresh DENO_DIR. OUT is written to a
 * temporary file next to it, made mode 0755 and renamed into place, so a
 * reader never sees a half-written file.
 *
 * @module
 */

/** Magic at the start of the trailer; matches HONE_PACK_MAGIC. */
export const PACK_MAGIC = "HONEPACK";
/** Trailer layout version; matches HONE_PACK_VERSION. */
export const PACK_VERSION = 2;
/** Size of the trailer at the end of the file, in bytes. */
export const TRAILER_SIZE = 96;
/** Alignment of the Deno runtime in the file, in bytes (a page or more). */
export const DENO_ALIGN = 65536;

/** Offset and size of one part of a packed file. */
export interface PackPart {
  /** Offset from the start of the file, in bytes. */
  offset: number;
  /** Size in bytes; 0 only for an absent shim. */
  size: number;
}

/** The decoded trailer of a packed file. */
export interface PackTrailer {
  /** The Deno runtime. */
  deno: PackPart;
  /** The bundled app. */
  app: PackPart;
  /** The shim shared library (size 0 when absent). */
  shim: PackPart;
  /** deno's module-analysis cache (size 0 when absent). */
  denoCache: PackPart;
}

/** The parts in the trailer's order. */
function partsOf(t: PackTrailer): PackPart[] {
  return [t.deno, t.app, t.shim, t.denoCache];
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/**
 * Encodes a trailer (struct hone_pack_trailer in launcher.c).
 *
 * @param trailer The parts.
 * @returns The {@linkcode TRAILER_SIZE} trailer bytes.
 */
export function encodeTrailer(trailer: PackTrailer): Uint8Array {
  const bytes = new Uint8Array(TRAILER_SIZE);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode(PACK_MAGIC), 0);
  view.setUint32(8, PACK_VERSION, true);
  view.setUint32(12, TRAILER_SIZE, true);
  partsOf(trailer).forEach((part, i) => {
    view.setBigUint64(16 + i * 16, BigInt(part.offset), true);
    view.setBigUint64(24 + i * 16, BigInt(part.size), true);
  });
  // Bytes 80 to 95 are reserved, zero.
  return bytes;
}

/**
 * Decodes the trailer at the end of a packed file.
 *
 * @param tail The end of the file: at least its last
 * {@linkcode TRAILER_SIZE} bytes, or the whole file.
 * @param fileSize The size of the whole file.
 * @returns The trailer, or `null` if the file carries none.
 */
export function decodeTrailer(
  tail: Uint8Array,
  fileSize: number,
): PackTrailer | null {
  if (tail.length < TRAILER_SIZE || fileSize < TRAILER_SIZE) return null;
  const bytes = tail.subarray(tail.length - TRAILER_SIZE);
  const view = new DataView(bytes.buffer, bytes.byteOffset, TRAILER_SIZE);
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== PACK_MAGIC) {
    return null;
  }
  if (
    view.getUint32(8, true) !== PACK_VERSION ||
    view.getUint32(12, true) !== TRAILER_SIZE
  ) {
    throw new RangeError(
      `Cannot decode the pack trailer: unsupported version ${
        view.getUint32(8, true)
      }`,
    );
  }
  const part = (i: number): PackPart => ({
    offset: Number(view.getBigUint64(16 + i * 16, true)),
    size: Number(view.getBigUint64(24 + i * 16, true)),
  });
  const trailer = {
    deno: part(0),
    app: part(1),
    shim: part(2),
    denoCache: part(3),
  };
  for (const p of partsOf(trailer)) {
    if (p.offset + p.size > fileSize - TRAILER_SIZE) {
      throw new RangeError(
        "Cannot decode the pack trailer: a part lies outside the file",
      );
    }
  }
  return trailer;
}

function isElf(bytes: Uint8Array): boolean {
  return ELF_MAGIC.every((b, i) => bytes[i] === b);
}

async function readPart(
  path: string,
  what: string,
): Promise<Uint8Array<ArrayBuffer>> {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw new Error(`Cannot read the ${what} ${path}: ${err}`);
  }
  if (bytes.length === 0) throw new Error(`The ${what} ${path} is empty`);
  return bytes;
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/**
 * Writes the packed executable to `out` atomically (temp file + rename).
 *
 * @param launcher Path of the static launcher ELF.
 * @param deno Path of the Deno runtime ELF.
 * @param app Path of the bundled app (one JavaScript file).
 * @param shim Path of the shim shared library, or `""` for none.
 * @param out Path of the packed executable to write (mode 0755).
 * @param options `denoAlign`: where the runtime may start, in bytes
 *   (default {@linkcode DENO_ALIGN}; tests pass 1 for a file the launcher
 *   cannot map in place); `denoCache`: path of deno's module-analysis
 *   cache for this runtime and app (deno_cache.ts), none by default.
 * @returns The trailer that was written.
 */
export async function pack(
  launcher: string,
  deno: string,
  app: string,
  shim: string,
  out: string,
  options: { denoAlign?: number; denoCache?: string } = {},
): Promise<PackTrailer> {
  const align = options.denoAlign ?? DENO_ALIGN;
  const parts = {
    launcher: await readPart(launcher, "launcher"),
    deno: await readPart(deno, "Deno runtime"),
    app: await readPart(app, "app"),
    shim: shim === "" ? new Uint8Array() : await readPart(shim, "shim"),
    denoCache: options.denoCache
      ? await readPart(options.denoCache, "deno cache")
      : new Uint8Array(),
  };
  if (!isElf(parts.launcher)) throw new Error(`${launcher} is not an ELF`);
  if (!isElf(parts.deno)) throw new Error(`${deno} is not an ELF`);
  if (shim !== "" && !isElf(parts.shim)) {
    throw new Error(`${shim} is not an ELF`);
  }
  if (decodeTrailer(parts.launcher, parts.launcher.length) !== null) {
    throw new Error(`${launcher} is already packed`);
  }

  // deno starts on a page (any page size up to 64 KiB) so that the
  // launcher can map it in place from this file (elf_exec.c).
  const pad = new Uint8Array((align - parts.launcher.length % align) % align);
  let offset = parts.launcher.length + pad.length;
  const place = (bytes: Uint8Array): PackPart => {
    const part = { offset, size: bytes.length };
    offset += bytes.length;
    return part;
  };
  const trailer: PackTrailer = {
    deno: place(parts.deno),
    app: place(parts.app),
    shim: parts.shim.length ? place(parts.shim) : { offset: 0, size: 0 },
    denoCache: parts.denoCache.length
      ? place(parts.denoCache)
      : { offset: 0, size: 0 },
  };

  const tmp = await Deno.makeTempFile({ dir: dirOf(out), prefix: ".pack-" });
  try {
    using file = await Deno.open(tmp, { write: true, truncate: true });
    for (
      const bytes of [
        parts.launcher,
        pad,
        parts.deno,
        parts.app,
        parts.shim,
        parts.denoCache,
        encodeTrailer(trailer),
      ]
    ) {
      let done = 0;
      while (done < bytes.length) {
        done += await file.write(bytes.subarray(done));
      }
    }
    await file.sync();
    await Deno.chmod(tmp, 0o755);
    await Deno.rename(tmp, out);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  return trailer;
}

function printError(message: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(message + "\n"));
}

if (import.meta.main) {
  const args = Deno.args;
  if (args.length !== 5 && args.length !== 6) {
    printError(
      "usage: pack.ts LAUNCHER DENO APP_JS SHIM_OR_EMPTY OUT [DENO_CACHE]",
    );
    Deno.exit(2);
  }
  try {
    const [launcher, deno, app, shim, out, denoCache] = args as [
      string,
      string,
      string,
      string,
      string,
      string | undefined,
    ];
    await pack(launcher, deno, app, shim, out, denoCache ? { denoCache } : {});
  } catch (err) {
    printError(`pack: ${err instanceof Error ? err.message : err}`);
    Deno.exit(1);
  }
}
