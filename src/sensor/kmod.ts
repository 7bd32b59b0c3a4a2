/**
 * The kernel-module sensor: a reader of the honeevent device (`/dev/hone`,
 * kmod/), opened, polled and read through `libhone.so` (ffi/kmod_reader.c).
 * The device speaks PCAP-NG with the original Hone's blocks, each packet
 * already tagged with its process, so `hone record --sensor kmod` decodes
 * it as `hone read` decodes a file.
 *
 * @module
 */

import { describeErrno, loadShim, type ShimLibrary } from "./shim.ts";
import { GATHER_MS, SMALL_BATCH_BYTES } from "./sensor_source.ts";

/** The device hone reads by default. */
export const KMOD_DEVICE = "/dev/hone";
/** Bytes one read may return. */
export const KMOD_READ_BYTES = 1 << 20;
/** The errno of the read after the end of a section. */
const ENODATA = 61;

/** Which sensor `hone record` runs. */
export type SensorKind = "auto" | "ebpf" | "kmod";

/** Options of {@linkcode openKmod}. */
export interface KmodOptions {
  /**
   * Path of libhone.so, used when `HONE_SHIM` is not set.
   * @default {undefined}
   */
  shimPath?: string;
  /**
   * The device.
   * @default {"/dev/hone"}
   */
  device?: string;
  /**
   * Bytes of each packet to keep; 0 keeps the module's setting.
   * @default {0}
   */
  snaplen?: number;
}

/** An open reader of the device. */
export interface KmodSensor {
  /** The device's path. */
  readonly device: string;
  /** The reader's snap length (0 = whole packets). */
  readonly snaplen: number;
  /**
   * Waits up to `timeoutMs` for bytes of the stream and returns them (the
   * caller's own copy): empty on timeout, null once the section has ended
   * after {@linkcode KmodSensor.restart}. One read at a time. With
   * `afterMs`, it first lets records gather that long (a sleep on a
   * worker thread).
   */
  read(timeoutMs: number, afterMs?: number): Promise<Uint8Array | null>;
  /** Ends the section: the module queues its statistics, then the end. */
  restart(): void;
  /** Resolves when no read is running. */
  idle(): Promise<void>;
  /** Closes the reader, after any running read ends. */
  close(): Promise<void>;
}

/** A failure to open or read the device, with its errno. */
export class KmodError extends Error {
  /** The positive errno value. */
  errno: number;

  /**
   * Makes the error.
   *
   * @param message The full message.
   * @param errno The positive errno value.
   */
  constructor(message: string, errno: number) {
    super(message);
    this.name = "KmodError";
    this.errno = errno;
  }
}

/**
 * Whether the honeevent device is there: `auto` picks the module then.
 *
 * @param device The device's path.
 * @returns True for a character device.
 */
export function kmodPresent(device: string = KMOD_DEVICE): boolean {
  try {
    return Deno.statSync(device).isCharDevice === true;
  } catch {
    return false;
  }
}

/** Why the device cannot be opened, in words an operator can act on. */
function openHint(device: string, errno: number): string {
  if (errno === 2) {
    let loaded = false;
    try {
      loaded = Deno.statSync("/sys/module/honeevent").isDirectory;
    } catch { /* not loaded */ }
    return loaded
      ? " (honeevent is loaded but the device node is missing: see its devname parameter and kmod/60-hone.rules)"
      : ` (the honeevent module is not loaded: insmod dist/kmod/${Deno.osRelease()}/honeevent.ko, or DKMS: see kmod/README.md)`;
  }
  if (errno === 13 || errno === 1) {
    return ` (root or the group of ${device} may read it: see kmod/60-hone.rules)`;
  }
  if (errno === 25) return " (not a honeevent device)";
  return "";
}

/**
 * Opens a reader of the device. It starts with a section header and a
 * snapshot of the running processes and their sockets.
 *
 * @param options Device, snap length, library path.
 * @returns The reader.
 * @throws {KmodError} If the device cannot be opened or set up.
 *
 * @example Usage
 * ```ts ignore
 * import { openKmod } from "./kmod.ts";
 * const k = openKmod({ snaplen: 128 });
 * const bytes = await k.read(100);
 * await k.close();
 * ```
 */
export function openKmod(options: KmodOptions = {}): KmodSensor {
  const device = options.device ?? KMOD_DEVICE;
  const lib: ShimLibrary = loadShim(options.shimPath);
  const path = new TextEncoder().encode(device + "\0");
  const fd = lib.symbols.hone_kmod_open(path, options.snaplen ?? 0);
  if (fd < 0) {
    lib.close();
    throw new KmodError(
      `cannot open ${device}: ${describeErrno(-fd)}${openHint(device, -fd)}`,
      -fd,
    );
  }
  const snaplen = Number(lib.symbols.hone_kmod_snaplen(fd));
  const buf = new Uint8Array(KMOD_READ_BYTES);
  let running: Promise<unknown> = Promise.resolve();
  let closed = false;
  return {
    device,
    snaplen: snaplen < 0 ? 0 : snaplen,
    async read(timeoutMs, afterMs = 0) {
      const p = lib.symbols.hone_kmod_read(
        fd,
        buf,
        buf.length,
        afterMs,
        timeoutMs,
      );
      running = p;
      const n = Number(await p);
      if (n === -ENODATA) return null;
      if (n < 0) {
        throw new KmodError(`read ${device}: ${describeErrno(-n)}`, -n);
      }
      return buf.slice(0, n);
    },
    restart() {
      const r = lib.symbols.hone_kmod_restart(fd);
      if (r < 0) {
        throw new KmodError(
          `end of capture on ${device}: ${describeErrno(-r)}`,
          -r,
        );
      }
    },
    async idle() {
      await running.catch(() => {});
    },
    async close() {
      if (closed) return;
      closed = true;
      await running.catch(() => {});
      lib.symbols.hone_kmod_close(fd);
      lib.close();
    },
  };
}

/** Options of {@linkcode kmodSource}. */
export interface KmodSourceOptions {
  /** When aborted, the section is ended and the stream closes after it. */
  stop: AbortSignal;
  /**
   * How long one read waits, in milliseconds.
   * @default {100}
   */
  pollMs?: number;
}

/**
 * The device as a stream of PCAP-NG chunks, each the caller's own copy.
 * When `stop` is aborted the section is ended (HEIO_RESTART): what is
 * queued, then the module's statistics (an ISB) are passed on, and the
 * stream closes at the end of the section. Cancelling stops the reads.
 *
 * @param k An open reader.
 * @param options The stop signal.
 * @returns The chunks.
 *
 * @example Usage
 * ```ts ignore
 * import { kmodSource, openKmod } from "./kmod.ts";
 * const stop = new AbortController();
 * const chunks = kmodSource(openKmod(), { stop: stop.signal });
 * ```
 */
export function kmodSource(
  k: KmodSensor,
  options: KmodSourceOptions,
): ReadableStream<Uint8Array> {
  const { stop } = options;
  const pollMs = options.pollMs ?? 100;
  let ending = false;
  let gather = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (stop.aborted && !ending) {
          ending = true;
          gather = false;
          k.restart();
        }
        // After a small chunk, let records gather for a moment, as the
        // eBPF sensor's source does: fewer, larger reads (in a guest this
        // halved a TypeScript reader's CPU per packet, bench/README.md).
        const chunk = await k.read(pollMs, gather ? GATHER_MS : 0);
        gather = !ending && chunk !== null && chunk.length > 0 &&
          chunk.length < SMALL_BATCH_BYTES;
        if (chunk === null) {
          controller.close();
          return;
        }
        if (chunk.length) {
          controller.enqueue(chunk);
          return;
        }
      }
    },
  }, { highWaterMark: 0 });
}
