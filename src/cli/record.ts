/**
 * `hone record`: live capture. Every packet entering or leaving a local
 * socket, with the process that sent or read it, plus process and
 * connection events, as JSON lines, text or pcapng. The eBPF sensor's
 * chain is here; the kernel module's is in record_kmod.ts.
 *
 * @module
 */

import { CorrelatorStream, SensorCorrelator } from "../correlate/mod.ts";
import { PacketLimit, PacketLimitStream } from "../events/mod.ts";
import { type BpfInsn, PacketFilterStream } from "../filter/mod.ts";
import {
  BatchPool,
  KmodError,
  kmodPresent,
  type KmodSensor,
  loadNames,
  openKmod,
  openSensor,
  type ResolvedFilter,
  resolveFilter,
  type Sensor,
  SensorError,
  sensorSource,
  type SensorStats,
  snapshotProcesses,
} from "../sensor/mod.ts";
import type { EncoderOptions } from "../writers/mod.ts";
import {
  type CommonArgs,
  FILTER_FLAGS,
  filterProgram,
  parseCommon,
  parseFilterFlags,
  parseHostId,
  parseIntFlag,
} from "./args.ts";
import { printError, printWarning, reason, UsageError } from "./errors.ts";
import { EXIT_FAILURE, EXIT_OK } from "./exit_codes.ts";
import { watchCountsSignal } from "./usr1.ts";
import {
  dropPrivileges,
  lookupUser,
  notifyReady,
  type UserIds,
} from "./service.ts";
import {
  appendAtEnd,
  awaitCapture,
  type CaptureHooks,
  captureSignals,
  type Counts,
  type Destination,
  endCapture,
  lateDestination,
  liveStatus,
  openDestination,
  passThrough,
  type RotationArgs,
  type SectionOptions,
  statsEvent,
  summary,
  tap,
  ZERO_COUNTS,
} from "./_capture.ts";
import { captureKmod } from "./record_kmod.ts";

/** Help for `hone record`. */
export const RECORD_USAGE = `Usage: hone record [OPTIONS] [EXPRESSION]

Capture live: every packet entering or leaving a local socket (IPv4, IPv6,
loopback included) with the process that sent or read it, and process and
connection events. The eBPF sensor needs root (CAP_BPF, CAP_PERFMON,
CAP_NET_ADMIN) and a kernel with BPF and BTF; the kernel module's (kmod/)
needs read access to /dev/hone. Stop with Ctrl-C (SIGINT) or SIGTERM.
EXPRESSION is a tcpdump filter expression (pcap-filter(7), compiled by
libpcap), run on each packet in hone (the process filters below run in
the kernel).

Options:
      --sensor KIND  auto (default: the kernel module's /dev/hone when it
                     is there, else eBPF), ebpf, or kmod
  -s, --snaplen N    keep N bytes of each packet from the IP header
                     (0 = whole packets, at most 65536; default 0)
  -w, --write FILE   write to FILE ('-' = stdout), mode 0600, in pcapng
                     unless -F says otherwise
  -F, --format FMT   json (default without -w), text, or pcapng
  -C MB              a new file once one reaches MB million bytes: FILE,
                     FILE1, FILE2, ... (with -W: FILE0 ... FILE<N-1>, a ring)
  -G SECONDS         a new file every SECONDS; FILE may hold strftime(3)
                     conversions (cap-%Y%m%d-%H%M%S.pcapng)
  -W N               with -C: at most N files, reused in turn; with -G alone:
                     stop after N files
  -z CMD             run CMD FILE on each finished file (e.g. gzip), not
                     waited for
  -a, --append       append to FILE (a new section) instead of replacing it
                     SIGHUP closes the file and opens its name again: each
                     file starts with its processes and connections and ends
                     with its own statistics
      --pid PID[,PID...]  only these processes (at most 64)
      --children     ... and the processes they fork, from now on
      --comm NAME    only processes of this task name
      --uid UID|USER only processes of this effective uid
      --cgroup PATH  only processes of this cgroup v2 directory
                     Filters are decided in the kernel; given together,
                     all must hold
  -Z USER            once the sensor runs, become USER (its groups, its
                     uid); the files are then made as USER
  -c, --count N      stop after N packets
      --wireshark-process-blocks  pcapng: also Wireshark 4.7's process
                     blocks (older tsharks show them as extra frames)
      --loopback-once  pcapng: a loopback packet's received copy as a block
                     that refers to the sent one (no "[TCP Retransmission]"
                     in Wireshark); hone read gives both as before
      --hostid ID    host id in the section header (a GUID, or any text), and
                     "host" on every JSON line
      --comment TEXT the section header's comment
  -B, --buffer-size MIB  kernel ring buffer in MiB, a power of two (default
                     64; eBPF)
      --no-netfilter do not hook netfilter for packets no socket owns (eBPF)
      --data         include packet bytes (hex) in JSON
  -v, --verbose      more detail on errors
  -h, --help         print this help
`;

const enc = new TextEncoder();

// (Not node:url's fileURLToPath: a node: import costs every start ~10 ms.)
function defaultShim(): string {
  return decodeURIComponent(
    new URL("../../build/ffi/libhone.so", import.meta.url).pathname,
  );
}

function osString(): string {
  let version = "";
  try {
    version = Deno.readTextFileSync("/proc/sys/kernel/version").trim();
  } catch { /* leave it out */ }
  return `Linux ${Deno.hostname()} ${Deno.osRelease()} ${version} ${Deno.build.arch}`
    .replace(/\s+/g, " ").trim();
}

function checkKernel(): string | null {
  try {
    Deno.statSync("/sys/kernel/btf/vmlinux");
  } catch {
    return "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): hone's eBPF sensor needs CONFIG_DEBUG_INFO_BTF=y";
  }
  if (Deno.uid() !== 0) {
    return "not root: the eBPF sensor needs root (CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN)";
  }
  return null;
}

/**
 * Runs `hone record`.
 *
 * @param argv Arguments after `record`.
 * @returns The exit code.
 */
export async function runRecord(argv: string[]): Promise<number> {
  const { args, extra } = parseCommon(argv, {
    "buffer-size": { type: "string", short: "B" },
    "no-netfilter": { type: "boolean" },
    sensor: { type: "string" },
    hostid: { type: "string" },
    comment: { type: "string" },
    "file-size": { type: "string", short: "C" },
    "rotate-seconds": { type: "string", short: "G" },
    "file-count": { type: "string", short: "W" },
    postrotate: { type: "string", short: "z" },
    append: { type: "boolean", short: "a" },
    user: { type: "string", short: "Z" },
    ...FILTER_FLAGS,
    "wireshark-process-blocks": { type: "boolean" },
    "loopback-once": { type: "boolean" },
  });
  if (args.help) {
    await Deno.stdout.write(enc.encode(RECORD_USAGE));
    return EXIT_OK;
  }
  // A tcpdump filter expression: compiled by libpcap, run on each packet.
  const prog = filterProgram(args.positionals, args.snaplen);
  const section: SectionOptions = {
    hostId: extra.hostid === undefined
      ? null
      : parseHostId(extra.hostid as string),
    comment: (extra.comment as string | undefined) ?? null,
  };
  const rot = rotationArgs(args, extra);
  const kind = extra.sensor ?? "auto";
  if (kind !== "auto" && kind !== "ebpf" && kind !== "kmod") {
    throw new UsageError(
      `invalid sensor '${kind}': must be auto, ebpf or kmod`,
    );
  }
  const spec = parseFilterFlags(extra);
  const filtered = Object.keys(spec).length > 0;
  // The module has no process filter: auto takes eBPF for one.
  const useKmod = kind === "kmod" ||
    (kind === "auto" && !filtered && kmodPresent());
  if (useKmod && kind === "kmod") {
    for (
      const flag of [
        "buffer-size",
        "no-netfilter",
        "pid",
        "children",
        "comm",
        "uid",
        "cgroup",
      ]
    ) {
      if (extra[flag] !== undefined) {
        throw new UsageError(
          `--${flag} is an option of the eBPF sensor, not of --sensor kmod`,
        );
      }
    }
  }
  const encoderOptions: EncoderOptions = {
    snaplen: args.snaplen,
    data: args.data,
    os: osString(),
    hardware: Deno.build.arch,
    ...section,
    wiresharkProcessBlocks: extra["wireshark-process-blocks"] === true,
    loopbackOnce: extra["loopback-once"] === true,
  };
  // -Z: the user hone becomes once the sensor runs (root only).
  let user: UserIds | null = null;
  if (extra.user !== undefined && Deno.uid() === 0) {
    user = lookupUser(extra.user as string);
    if (user === null) {
      printError(`record: -Z: no such user '${extra.user}'`);
      return EXIT_FAILURE;
    }
  }
  // Set once the capture runs: its counts, its stop.
  const hooks: CaptureHooks = {
    beforeOutput: () => {},
    cumulative: () => statsEvent(ZERO_COUNTS, Date.now()),
    lastFile: () => {},
  };
  // The buffers the sensor polls into, taken back once encoded.
  const pool = new BatchPool();
  let dest: Destination;
  try {
    const open = () =>
      openDestination(
        args,
        rot,
        encoderOptions,
        () => hooks.cumulative(),
        () => hooks.lastFile(),
        (b) => pool.give(b),
      );
    if (user === null) dest = open();
    else {
      // The files are made once hone is that user, as tcpdump's -Z.
      const late = lateDestination(args.write ?? "stdout", open);
      const as = user;
      hooks.beforeOutput = () => {
        try {
          dropPrivileges(as);
        } catch (e) {
          throw new Error(`-Z ${as.name}: ${reason(e)}`);
        }
        try {
          late.open();
        } catch (e) {
          throw new Error(`${args.write}: ${reason(e)}`);
        }
      };
      dest = late;
    }
  } catch (e) {
    printError(`${args.write}: ${reason(e)}`);
    return EXIT_FAILURE;
  }
  if (useKmod) return await recordKmod(args, dest, hooks, prog);
  let ringMiB = 64;
  if (extra["buffer-size"] !== undefined) {
    ringMiB = parseIntFlag(
      "buffer-size",
      extra["buffer-size"] as string,
      1,
      4096,
    );
    if (ringMiB & (ringMiB - 1)) {
      throw new UsageError(
        `invalid buffer-size '${ringMiB}': must be a power of two`,
      );
    }
  }
  const problem = checkKernel();
  if (problem) {
    dest.close();
    printError(`record: ${problem}`);
    return EXIT_FAILURE;
  }
  let filter: ResolvedFilter | null = null;
  if (filtered) {
    try {
      filter = resolveFilter(spec);
    } catch (e) {
      dest.close();
      printError(`record: ${reason(e)}`);
      return EXIT_FAILURE;
    }
  }
  let sensor: Sensor;
  try {
    sensor = openSensor({
      shimPath: defaultShim(),
      snaplen: args.snaplen,
      ringbufBytes: ringMiB * 1024 * 1024,
      netfilter: extra["no-netfilter"] !== true,
      ...(filter ? { filter: filter.sensor } : {}),
      ...(prog ? { expression: prog } : {}),
    });
  } catch (e) {
    dest.close();
    if (e instanceof SensorError) {
      printError(`record: ${e.message}`);
      if (args.verbose && e.log) {
        await Deno.stderr.write(enc.encode(e.log + "\n"));
      }
    } else {
      printError(`record: cannot start the eBPF sensor: ${reason(e)}`);
    }
    return EXIT_FAILURE;
  }
  return await capture(sensor, dest, args, hooks, filter, prog, pool);
}

/** `hone record` on the kernel module's device. */
async function recordKmod(
  args: CommonArgs,
  dest: Destination,
  hooks: CaptureHooks,
  prog: BpfInsn[] | null,
): Promise<number> {
  let k: KmodSensor;
  try {
    k = openKmod({ shimPath: defaultShim(), snaplen: args.snaplen });
  } catch (e) {
    dest.close();
    printError(
      `record: ${
        e instanceof KmodError
          ? e.message
          : `cannot start the kernel-module sensor: ${reason(e)}`
      }`,
    );
    return EXIT_FAILURE;
  }
  return await captureKmod(k, dest, args, hooks, prog);
}

/** The output flags beyond -w, checked. */
function rotationArgs(
  args: CommonArgs,
  extra: Record<string, string | boolean | undefined>,
): RotationArgs {
  const num = (flag: string, max: number) =>
    extra[flag] === undefined
      ? 0
      : parseIntFlag(flag, extra[flag] as string, 1, max);
  const rot: RotationArgs = {
    sizeMB: num("file-size", 1_000_000),
    seconds: num("rotate-seconds", 2 ** 31 - 1),
    maxFiles: num("file-count", 1_000_000),
    postRotate: (extra.postrotate as string | undefined) ?? null,
    append: extra.append === true,
  };
  const toFile = args.write !== null && args.write !== "-";
  for (
    const [flag, on] of [
      ["-C", rot.sizeMB > 0],
      ["-G", rot.seconds > 0],
      ["-W", rot.maxFiles > 0],
      ["-z", rot.postRotate !== null],
      ["-a", rot.append],
    ] as const
  ) {
    if (on && !toFile) {
      throw new UsageError(`${flag} needs -w FILE (a file, not stdout)`);
    }
  }
  if (rot.maxFiles > 0 && rot.sizeMB === 0 && rot.seconds === 0) {
    throw new UsageError("-W needs -C or -G");
  }
  if (rot.postRotate === "") throw new UsageError("-z needs a command");
  return rot;
}

async function capture(
  sensor: Sensor,
  dest: Destination,
  args: CommonArgs,
  hooks: CaptureHooks,
  filter: ResolvedFilter | null,
  prog: BpfInsn[] | null,
  pool: BatchPool,
): Promise<number> {
  const st0 = sensor.stats();
  const off = sensor.clockOffsetNs();
  const offSec = off / 1_000_000_000n;
  const names = loadNames();
  const corr = new SensorCorrelator({
    clockOffset: [Number(offSec), Number(off - offSec * 1_000_000_000n)],
    // pcapng does not print the header summaries: none kept per packet.
    keepSummaries: args.format !== "pcapng",
    // pcapng takes the packets attributed at once as runs (columns, no
    // object each), unless the expression's stage would take them apart.
    runs: args.format === "pcapng" && !prog,
    userName: names.user,
    groupName: names.group,
    argvOf: (pid) => {
      try {
        const raw = Deno.readFileSync(`/proc/${pid}/cmdline`);
        const parts = new TextDecoder().decode(raw).split("\0");
        if (parts.at(-1) === "") parts.pop();
        return parts.length ? parts : null;
      } catch {
        return null;
      }
    },
    exePath: (pid) => {
      try {
        return Deno.readLinkSync(`/proc/${pid}/exe`);
      } catch {
        return null;
      }
    },
  });
  const started = Date.now();
  corr.addProcesses(snapshotProcesses(100, filter?.matches));
  try {
    hooks.beforeOutput();
  } catch (e) {
    await sensor.close();
    printError(`record: ${reason(e)}`);
    return EXIT_FAILURE;
  }
  // Stop signals are ours before "listening on" tells anyone to send them.
  const limit = new PacketLimit(args.count);
  const { stop, hup } = captureSignals(dest, hooks);
  const snap = args.snaplen > 0 ? args.snaplen : st0.snaplen;
  printError(
    `listening on all sockets (eBPF cgroup_skb${
      st0.netfilter ? " + netfilter" : ""
    }), link-type RAW (Raw IP), snapshot length ${snap} bytes${
      prog
        ? `, filter expression ${
          st0.expressionInKernel ? "in the kernel" : "in hone"
        }`
        : ""
    }`,
  );
  notifyReady(`capturing with the eBPF sensor to ${dest.name}`);
  if (!st0.netfilter && st0.netfilterError) {
    printWarning(
      `netfilter hooks unavailable (${st0.netfilterError}): packets no socket owns are not captured`,
    );
  }

  // The counters read when the sensor stopped: the final ones.
  let final: SensorStats | null = null;
  // The expression's stage, and what it left out (never "received").
  const releaseBatch = (b: ArrayBufferLike) => pool.give(b);
  const expression = prog
    ? new PacketFilterStream(prog, { releaseBatch })
    : null;
  const countsNow = (captured = dest.written) =>
    counts(
      final ?? sensor.stats(),
      corr.counts,
      captured,
      expression?.counts.rejected ?? 0,
    );
  hooks.cumulative = () => statsEvent(countsNow(limit.packets), started);
  const usr1 = watchCountsSignal(() =>
    printError(summary(countsNow(), args.count).join(", "))
  );
  const status = liveStatus(args, () => {
    const s = sensor.stats();
    return [
      limit.packets,
      corr.counts.processes,
      s.packetsDropped + s.procDropped + s.sockDropped,
    ];
  });

  // When a batch last came out of the correlator.
  let moved = 0;
  // The capture: sensor → correlation → -c → the section's statistics at
  // the end → encoder → output.
  let failure: unknown = null;
  const events = sensorSource(sensor, {
    stop: stop.signal,
    onFinalStats: (s) => final = s,
    pool,
  })
    .pipeThrough(new CorrelatorStream(corr, { releaseBatch }))
    .pipeThrough(tap(() => moved = performance.now()))
    .pipeThrough(expression ?? passThrough())
    .pipeThrough(
      new PacketLimitStream(limit, { onDone: stop.request, end: false }),
    )
    .pipeThrough(
      appendAtEnd(() => [statsEvent(countsNow(limit.packets), started)]),
    );
  const pipeline = dest.pipeFrom(events).catch((e) => {
    failure = e;
  });
  // It ends by itself after -c or a failed write, else after a stop (the
  // ring drains, the output takes data, while it moves).
  const done = await awaitCapture(
    pipeline,
    stop,
    () => Math.max(dest.lastWrite, moved),
    () => dest.writingSince,
  );
  usr1.stop();
  status.stop();
  hup.stop();
  if (!done || failure !== null) {
    // The pipeline did not drain the ring: count what is left, unwritten.
    await sensor.idle();
    sensor.detach();
    final ??= sensor.stats();
    await drainUnwritten(sensor, corr);
  }
  return await endCapture({
    done,
    failure,
    counts: countsNow(),
    started,
    limit: args.count,
    dest,
    stop,
    closeSensor: () => sensor.close(),
  });
}

/** Reads the rest of the ring into the correlator, for the counts only. */
async function drainUnwritten(
  sensor: Sensor,
  corr: SensorCorrelator,
): Promise<void> {
  for (;;) {
    const batch = await sensor.poll(0);
    if (!batch.length) break;
    corr.pushBatch(batch, performance.now());
    corr.drain(performance.now());
  }
  corr.drain(performance.now(), true);
}

function counts(
  s: SensorStats,
  c: SensorCorrelator["counts"],
  written: number,
  rejected: number,
): Counts {
  return {
    received: s.packetsSeen - s.selfSkipped + s.nfPackets - rejected,
    dropped: s.packetsDropped,
    captured: written,
    notWritten: c.packets - rejected - written,
    noProcess: c.noProcess,
    processes: {
      received: s.procSeen,
      dropped: s.procDropped,
      delivered: c.processes,
    },
    connections: {
      received: s.sockSeen + s.snapSockets,
      dropped: s.sockDropped,
      delivered: c.connections,
    },
  };
}
