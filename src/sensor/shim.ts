/**
 * Deno FFI binding of `libhone.so` (ffi/shim.c): starts the eBPF sensor
 * and hands out batches of records (see `src/records/decode.ts`).
 *
 * The library path comes from the `HONE_SHIM` environment variable if it
 * is set, else from {@linkcode SensorOptions.shimPath}. One sensor per
 * process. Needs root (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN) and
 * `--allow-ffi --allow-env --allow-read`.
 *
 * @module
 */

import {
  CBPF_MAX,
  type CbpfInsn,
  CGROUP_PATH_MAX,
  FILTER_CGROUP,
  FILTER_CHILDREN,
  FILTER_COMM,
  FILTER_PID,
  FILTER_PIDS_MAX,
  FILTER_UID,
  HONE_ABI_VERSION,
  OPT_NETFILTER,
  OPT_NO_SNAPSHOT,
  OPTIONS,
  STAT_CBPF,
  STAT_NETFILTER,
  STAT_NF_FAILED,
  STATS,
} from "../records/mod.ts";

/** Options of {@linkcode openSensor}. */
export interface SensorOptions {
  /**
   * Path of libhone.so, used when `HONE_SHIM` is not set.
   * @default {undefined}
   */
  shimPath?: string;
  /**
   * Bytes of each packet to keep, from the IP header; 0 keeps up to 64 KiB.
   * @default {0}
   */
  snaplen?: number;
  /**
   * Ring buffer size in bytes: a power of two, at least 1 MiB; 0 = 16 MiB.
   * @default {0}
   */
  ringbufBytes?: number;
  /**
   * Wake the reader once this much data waits; 0 = 256 KiB, 1 = always.
   * @default {0}
   */
  wakeupBytes?: number;
  /**
   * Tgid whose sockets and packets are not reported; 0 = none.
   * @default {Deno.pid}
   */
  selfPid?: number;
  /**
   * Cgroup v2 directory to attach to; "" = the cgroup v2 root.
   * @default {""}
   */
  cgroupPath?: string;
  /**
   * Also attach netfilter hooks for packets no socket owns.
   * @default {true}
   */
  netfilter?: boolean;
  /**
   * Take the start-up snapshot of socket fds.
   * @default {true}
   */
  snapshot?: boolean;
  /**
   * Which processes to capture (decided in the kernel); all when absent.
   * @default {undefined}
   */
  filter?: ProcessFilter;
  /**
   * The filter expression as classic BPF (libpcap's, link type RAW), run
   * in the kernel on each packet when it has at most 256 instructions and
   * the kernel has bpf_loop; {@linkcode SensorStats.expressionInKernel}
   * says whether it does. Packets it kept carry `kept`.
   * @default {undefined}
   */
  expression?: readonly CbpfInsn[];
  /**
   * Size of the batch buffer each poll fills, in bytes.
   * @default {8388608}
   */
  bufferBytes?: number;
}

/**
 * A process filter: every kind given must hold. Packets of other
 * processes, and their process and socket records, never reach the ring.
 */
export interface ProcessFilter {
  /** Thread group ids (at most 64). */
  pids?: number[];
  /** Also the processes forked from those, from now on. */
  children?: boolean;
  /** The task name (comm), at most 15 bytes. */
  comm?: string;
  /** The effective uid. */
  uid?: number;
  /** A cgroup v2 id (the inode number of its directory). */
  cgroupId?: bigint;
}

/** Sensor counters, summed over all CPUs since the start. */
export interface SensorStats {
  /** Packets seen by cgroup_skb. */
  packetsSeen: number;
  /** Packet records lost because the ring buffer was full. */
  packetsDropped: number;
  /** Socketless packets reported by netfilter. */
  nfPackets: number;
  /** Packets of our own sockets, not reported. */
  selfSkipped: number;
  /** Fork, exec and exit events. */
  procSeen: number;
  /** Process records lost. */
  procDropped: number;
  /** Socket create, release and use records wanted. */
  sockSeen: number;
  /** Socket records lost. */
  sockDropped: number;
  /** Records of the start-up socket snapshot. */
  snapSockets: number;
  /** Ring buffer size in use. */
  ringbufBytes: number;
  /** Snap length in use. */
  snaplen: number;
  /** Whether the netfilter hooks are attached. */
  netfilter: boolean;
  /** Whether the filter expression runs in the kernel. */
  expressionInKernel: boolean;
  /** Why netfilter is off when it was asked for, else undefined. */
  netfilterError: string | undefined;
}

/** A running sensor, from {@linkcode openSensor}. */
export interface Sensor {
  /**
   * Waits up to `timeoutMs` for records and returns a batch: a view of the
   * sensor's buffer, valid until the next poll, or of `into` when given
   * (the records that fit in it). Empty on timeout. Only one poll may run
   * at a time. With `afterMs`, it first lets records gather that long (a
   * sleep on a worker thread, no timer on this one).
   */
  poll(
    timeoutMs: number,
    into?: Uint8Array<ArrayBuffer>,
    afterMs?: number,
  ): Promise<Uint8Array>;
  /** Reads the counters. */
  stats(): SensorStats;
  /** CLOCK_REALTIME − CLOCK_BOOTTIME in ns: wall clock = tsNs + this. */
  clockOffsetNs(): bigint;
  /**
   * Detaches the programs: no record is made or counted after this, but
   * the counters stay readable and the ring can be drained.
   */
  detach(): void;
  /** Resolves when no poll is running. */
  idle(): Promise<void>;
  /** Detaches everything, after any running poll ends. */
  close(): Promise<void>;
}

/** A failure of the sensor library, with the step and errno. */
export class SensorError extends Error {
  /** The step that failed, e.g. "load BPF programs". */
  step: string;
  /** The positive errno value. */
  errno: number;
  /** The errno name, e.g. "EPERM". */
  code: string;
  /** The verifier log when a program was rejected, else "". */
  log: string;

  /**
   * Makes the error.
   *
   * @param message The full message.
   * @param step The failed step.
   * @param errno The positive errno value.
   * @param log The verifier log or "".
   */
  constructor(message: string, step: string, errno: number, log = "") {
    super(message);
    this.name = "SensorError";
    this.step = step;
    this.errno = errno;
    this.code = ERRNO[errno]?.[0] ?? `E${errno}`;
    this.log = log;
  }
}

const ERRNO: Record<number, [string, string]> = {
  1: ["EPERM", "Operation not permitted"],
  2: ["ENOENT", "No such file or directory"],
  4: ["EINTR", "Interrupted system call"],
  5: ["EIO", "Input/output error"],
  7: ["E2BIG", "Argument list too long"],
  8: ["ENOEXEC", "Exec format error"],
  9: ["EBADF", "Bad file descriptor"],
  11: ["EAGAIN", "Resource temporarily unavailable"],
  12: ["ENOMEM", "Cannot allocate memory"],
  13: ["EACCES", "Permission denied"],
  14: ["EFAULT", "Bad address"],
  16: ["EBUSY", "Device or resource busy"],
  17: ["EEXIST", "File exists"],
  19: ["ENODEV", "No such device"],
  20: ["ENOTDIR", "Not a directory"],
  22: ["EINVAL", "Invalid argument"],
  24: ["EMFILE", "Too many open files"],
  25: ["ENOTTY", "Inappropriate ioctl for device"],
  28: ["ENOSPC", "No space left on device"],
  34: ["ERANGE", "Numerical result out of range"],
  36: ["ENAMETOOLONG", "File name too long"],
  38: ["ENOSYS", "Function not implemented"],
  61: ["ENODATA", "No data available"],
  71: ["EPROTO", "Protocol error"],
  74: ["EBADMSG", "Bad message"],
  95: ["EOPNOTSUPP", "Operation not supported"],
  105: ["ENOBUFS", "No buffer space available"],
  524: ["ENOTSUPP", "Operation not supported by the kernel"],
};

/**
 * Why a load failed when the kernel is too old for the sensor: a helper
 * the verifier does not know in that program type, or a kernel before
 * 6.3 (no sock_send_length/sock_recv_length tracepoints). Debian 12's 6.1
 * fails this way; its 6.12 works.
 */
function kernelHint(step: string, log: string): string | null {
  if (!step.startsWith("load")) return null;
  const release = Deno.osRelease();
  const unknown = /unknown func (bpf_\w+)/.exec(log)?.[1];
  const [major = 0, minor = 0] = release.split(".").map((x) => parseInt(x));
  if (!unknown && (major > 6 || (major === 6 && minor >= 3))) return null;
  return ` (this kernel, ${release}, is too old for the eBPF sensor${
    unknown ? `: its programs may not call ${unknown}` : ""
  }; it works on 6.12 and later, e.g. Debian 12's linux-image-6.12-amd64 from bookworm-security; or load hone's kernel module and use --sensor kmod)`;
}

/** Says what is probably missing for an errno at a step. */
function hint(step: string, errno: number): string {
  if (errno === 1 || (errno === 13 && !step.startsWith("load"))) {
    return " (are you root? CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN are needed)";
  }
  if (errno === 13 || errno === 22 || errno === 7) {
    return step.startsWith("load")
      ? " (the kernel verifier rejected a program: see the error's log)"
      : "";
  }
  if (errno === 2 && step.includes("BTF")) {
    return " (the kernel needs CONFIG_DEBUG_INFO_BTF)";
  }
  if (errno === 2 && step.includes("cgroup")) {
    return " (mount cgroup2 or give a cgroup v2 directory)";
  }
  if (errno === 38 || errno === 95 || errno === 524) {
    return " (the kernel lacks a needed BPF feature)";
  }
  return "";
}

/**
 * An errno's text, as strerror(3) gives it.
 *
 * @param errno A positive errno value.
 * @returns E.g. "Operation not permitted".
 */
export function describeErrno(errno: number): string {
  return ERRNO[errno]?.[1] ?? `error ${errno}`;
}

const SYMBOLS = {
  hone_start: { parameters: ["buffer"], result: "i32" },
  hone_poll: {
    parameters: ["buffer", "u32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  hone_poll_after: {
    parameters: ["buffer", "u32", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // The same function called on this thread, for polls that do not wait:
  // no hop to a worker thread (about 20 µs) when records are ready.
  hone_poll_now: {
    name: "hone_poll",
    parameters: ["buffer", "u32", "i32"],
    result: "i32",
  },
  hone_stats: { parameters: ["buffer"], result: "i32" },
  hone_clock_offset_ns: { parameters: [], result: "i64" },
  hone_abi_version: { parameters: [], result: "u32" },
  hone_record_size: { parameters: ["u32"], result: "u32" },
  hone_strerror_step: { parameters: [], result: "pointer" },
  hone_load_log: { parameters: [], result: "pointer" },
  hone_stop: { parameters: [], result: "void" },
  hone_detach: { parameters: [], result: "void" },
  // The kernel module's device (ffi/kmod_reader.c).
  hone_kmod_open: { parameters: ["buffer", "u32"], result: "i32" },
  hone_kmod_read: {
    parameters: ["i32", "buffer", "u32", "i32", "i32"],
    result: "i64",
    nonblocking: true,
  },
  hone_kmod_restart: { parameters: ["i32"], result: "i32" },
  hone_kmod_snaplen: { parameters: ["i32"], result: "i64" },
  hone_kmod_close: { parameters: ["i32"], result: "i32" },
} as const;

/** The opened library, as returned by {@linkcode loadShim}. */
export type ShimLibrary = Deno.DynamicLibrary<typeof SYMBOLS>;

/**
 * Opens libhone.so: `HONE_SHIM` if set, else `path`.
 *
 * @example Check the ABI of the built library
 * ```ts ignore
 * const lib = loadShim("build/ffi/libhone.so");
 * console.log(lib.symbols.hone_abi_version());
 * lib.close();
 * ```
 *
 * @param path Fallback path of the library.
 * @returns The opened library; close it when done.
 * @throws {TypeError} If neither `HONE_SHIM` nor `path` is given.
 */
export function loadShim(path?: string): ShimLibrary {
  const file = Deno.env.get("HONE_SHIM") || path;
  if (!file) {
    throw new TypeError(
      "Cannot load the sensor library: set HONE_SHIM or give its path",
    );
  }
  return Deno.dlopen(file, SYMBOLS);
}

function cString(pointer: Deno.PointerValue): string {
  return pointer ? new Deno.UnsafePointerView(pointer).getCString() : "";
}

function encodeOptions(options: SensorOptions): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(OPTIONS.size);
  const view = new DataView(bytes.buffer);
  const flags = (options.netfilter === false ? 0 : OPT_NETFILTER) |
    (options.snapshot === false ? OPT_NO_SNAPSHOT : 0);
  view.setUint32(OPTIONS.abiVersion, HONE_ABI_VERSION, true);
  view.setUint32(OPTIONS.flags, flags, true);
  view.setUint32(OPTIONS.snaplen, options.snaplen ?? 0, true);
  view.setUint32(OPTIONS.selfPid, options.selfPid ?? Deno.pid, true);
  view.setBigUint64(
    OPTIONS.ringbufBytes,
    BigInt(options.ringbufBytes ?? 0),
    true,
  );
  view.setBigUint64(
    OPTIONS.wakeupBytes,
    BigInt(options.wakeupBytes ?? 0),
    true,
  );
  const path = new TextEncoder().encode(options.cgroupPath ?? "");
  if (path.length >= CGROUP_PATH_MAX) {
    throw new RangeError(
      `Cannot use the cgroup path: longer than ${CGROUP_PATH_MAX - 1} bytes`,
    );
  }
  bytes.set(path, OPTIONS.cgroupPath);
  const x = options.expression;
  if (x && x.length > 0 && x.length <= CBPF_MAX) {
    view.setUint32(OPTIONS.cbpfLen, x.length, true);
    x.forEach((i, n) => {
      const at = OPTIONS.cbpf + 8 * n;
      view.setUint16(at, i.code, true);
      view.setUint8(at + 2, i.jt);
      view.setUint8(at + 3, i.jf);
      view.setUint32(at + 4, i.k >>> 0, true);
    });
  }
  const f = options.filter;
  if (f) {
    let kinds = 0;
    if (f.pids !== undefined) {
      if (f.pids.length === 0 || f.pids.length > FILTER_PIDS_MAX) {
        throw new RangeError(
          `Cannot filter on ${f.pids.length} pids: 1 to ${FILTER_PIDS_MAX}`,
        );
      }
      kinds |= FILTER_PID | (f.children ? FILTER_CHILDREN : 0);
      view.setUint32(OPTIONS.filterNpids, f.pids.length, true);
      f.pids.forEach((p, i) =>
        view.setUint32(OPTIONS.filterPids + 4 * i, p, true)
      );
    }
    if (f.comm !== undefined) {
      const c = new TextEncoder().encode(f.comm);
      if (c.length === 0 || c.length > 15) {
        throw new RangeError("Cannot filter on a comm: 1 to 15 bytes");
      }
      kinds |= FILTER_COMM;
      bytes.set(c, OPTIONS.filterComm);
    }
    if (f.uid !== undefined) {
      kinds |= FILTER_UID;
      view.setUint32(OPTIONS.filterUid, f.uid, true);
    }
    if (f.cgroupId !== undefined) {
      kinds |= FILTER_CGROUP;
      view.setBigUint64(OPTIONS.filterCgroup, f.cgroupId, true);
    }
    view.setUint32(OPTIONS.filter, kinds, true);
  }
  return bytes;
}

function decodeStats(bytes: Uint8Array<ArrayBuffer>): SensorStats {
  const view = new DataView(bytes.buffer);
  const u64 = (offset: number) => Number(view.getBigUint64(offset, true));
  const flags = view.getUint32(STATS.flags, true);
  const nfError = -view.getInt32(STATS.nfError, true);
  return {
    packetsSeen: u64(STATS.packetsSeen),
    packetsDropped: u64(STATS.packetsDropped),
    nfPackets: u64(STATS.nfPackets),
    selfSkipped: u64(STATS.selfSkipped),
    procSeen: u64(STATS.procSeen),
    procDropped: u64(STATS.procDropped),
    sockSeen: u64(STATS.sockSeen),
    sockDropped: u64(STATS.sockDropped),
    snapSockets: u64(STATS.snapSockets),
    ringbufBytes: u64(STATS.ringbufBytes),
    snaplen: view.getUint32(STATS.snaplen, true),
    netfilter: (flags & STAT_NETFILTER) !== 0,
    expressionInKernel: (flags & STAT_CBPF) !== 0,
    netfilterError: flags & STAT_NF_FAILED
      ? describeErrno(nfError) + hint("netfilter", nfError)
      : undefined,
  };
}

function check(rc: number, step: string): void {
  if (rc < 0) {
    throw new SensorError(
      `Cannot read the eBPF sensor: ${step} failed: ${describeErrno(-rc)}`,
      step,
      -rc,
    );
  }
}

/**
 * Starts the eBPF sensor: loads and attaches the programs and takes the
 * socket snapshot, whose records the first polls return.
 *
 * @example Print the first batch's record kinds
 * ```ts ignore
 * import { forEachRecord } from "../records/decode.ts";
 * const sensor = openSensor({ shimPath: "build/ffi/libhone.so" });
 * forEachRecord(await sensor.poll(100), (r) => console.log(r.kind));
 * await sensor.close();
 * ```
 *
 * @param options What to capture and where the library is.
 * @returns The running sensor.
 * @throws {SensorError} Naming the failed step and the likely cause.
 */
export function openSensor(options: SensorOptions = {}): Sensor {
  const optionBytes = encodeOptions(options);
  const lib = loadShim(options.shimPath);
  const sym = lib.symbols;
  if (sym.hone_abi_version() !== HONE_ABI_VERSION) {
    lib.close();
    throw new TypeError(
      `Cannot start the eBPF sensor: the library has ABI ${sym.hone_abi_version()}, expected ${HONE_ABI_VERSION}`,
    );
  }
  const rc = sym.hone_start(optionBytes);
  if (rc < 0) {
    const step = cString(sym.hone_strerror_step()) || "start";
    const log = cString(sym.hone_load_log());
    lib.close();
    throw new SensorError(
      `Cannot start the eBPF sensor: ${step} failed: ${describeErrno(-rc)}` +
        (kernelHint(step, log) ?? hint(step, -rc)),
      step,
      -rc,
      log,
    );
  }
  const buffer = new Uint8Array(options.bufferBytes ?? 8 << 20);
  const statBytes = new Uint8Array(STATS.size);
  let pending: Promise<number> | undefined;
  let closed = false;

  async function poll(
    timeoutMs: number,
    into: Uint8Array<ArrayBuffer> = buffer,
    afterMs = 0,
  ): Promise<Uint8Array> {
    if (closed) throw new TypeError("Cannot poll the sensor: it is closed");
    if (pending) {
      throw new TypeError("Cannot poll the sensor: a poll is already running");
    }
    if (afterMs > 0) {
      pending = sym.hone_poll_after(into, into.length, afterMs, timeoutMs);
    } else {
      const ready = sym.hone_poll_now(into, into.length, 0);
      if (ready !== 0 || timeoutMs === 0) {
        check(ready, "poll");
        return into.subarray(0, ready);
      }
      pending = sym.hone_poll(into, into.length, timeoutMs);
    }
    try {
      const n = await pending;
      check(n, "poll");
      return into.subarray(0, n);
    } finally {
      pending = undefined;
    }
  }

  function stats(): SensorStats {
    if (closed) throw new TypeError("Cannot read the sensor: it is closed");
    check(sym.hone_stats(statBytes), "stats");
    return decodeStats(statBytes);
  }

  function clockOffsetNs(): bigint {
    return BigInt(sym.hone_clock_offset_ns());
  }

  function detach(): void {
    if (!closed) sym.hone_detach();
  }

  async function idle(): Promise<void> {
    await pending?.catch(() => 0);
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    await pending?.catch(() => 0);
    sym.hone_stop();
    lib.close();
  }

  return { poll, stats, clockOffsetNs, detach, idle, close };
}
