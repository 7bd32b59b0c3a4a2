/**
 * `hone record`: live capture. Every packet entering or leaving a local
 * socket, with the process that sent or read it, plus process and
 * connection events, as JSON lines, text or pcapng. The eBPF sensor's
 * chain is here; the kernel module's is in record_kmod.ts.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { CorrelatorStream, SensorCorrelator } from "../correlate/mod.ts";
import { PacketLimit, PacketLimitStream } from "../events/mod.ts";
import { decodeRecords } from "../records/mod.ts";
import {
  KmodError,
  kmodPresent,
  type KmodSensor,
  loadNames,
  openKmod,
  openSensor,
  type Sensor,
  SensorError,
  sensorSource,
  type SensorStats,
  snapshotProcesses,
} from "../sensor/mod.ts";
import { EncoderStream, makeEncoder } from "../writers/mod.ts";
import {
  type CommonArgs,
  parseCommon,
  parseHostId,
  parseIntFlag,
} from "./args.ts";
import { printError, printWarning, reason, UsageError } from "./errors.ts";
import { EXIT_FAILURE, EXIT_OK } from "./exit_codes.ts";
import { openOutput, type Output, OutputSink } from "./output.ts";
import { watchCountsSignal } from "./usr1.ts";
import {
  appendAtEnd,
  awaitCapture,
  type Counts,
  liveStatus,
  plural,
  type SectionOptions,
  statsEvent,
  STOP_GRACE_MS,
  stopSignals,
  summary,
  tap,
  writeBy,
} from "./_capture.ts";
import { captureKmod } from "./record_kmod.ts";

/** Help for `hone record`. */
export const RECORD_USAGE = `Usage: hone record [OPTIONS]

Capture live: every packet entering or leaving a local socket (IPv4, IPv6,
loopback included) with the process that sent or read it, and process and
connection events. The eBPF sensor needs root (CAP_BPF, CAP_PERFMON,
CAP_NET_ADMIN) and a kernel with BPF and BTF; the kernel module's (kmod/)
needs read access to /dev/hone. Stop with Ctrl-C (SIGINT) or SIGTERM.

Options:
      --sensor KIND  auto (default: the kernel module's /dev/hone when it
                     is there, else eBPF), ebpf, or kmod
  -s, --snaplen N    keep N bytes of each packet from the IP header
                     (0 = whole packets, at most 65536; default 0)
  -w, --write FILE   write pcapng to FILE ('-' = stdout), mode 0600
  -F, --format FMT   json (default), text, or pcapng
  -c, --count N      stop after N packets
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

function defaultShim(): string {
  return fileURLToPath(new URL("../../build/ffi/libhone.so", import.meta.url));
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
  });
  if (args.help) {
    await Deno.stdout.write(enc.encode(RECORD_USAGE));
    return EXIT_OK;
  }
  if (args.positionals.length > 0) {
    throw new UsageError(
      `unexpected argument '${
        args.positionals[0]
      }': filters are not supported yet`,
    );
  }
  const section: SectionOptions = {
    hostId: extra.hostid === undefined
      ? null
      : parseHostId(extra.hostid as string),
    comment: (extra.comment as string | undefined) ?? null,
  };
  const kind = extra.sensor ?? "auto";
  if (kind !== "auto" && kind !== "ebpf" && kind !== "kmod") {
    throw new UsageError(
      `invalid sensor '${kind}': must be auto, ebpf or kmod`,
    );
  }
  const useKmod = kind === "kmod" || (kind === "auto" && kmodPresent());
  if (useKmod && kind === "kmod") {
    for (const flag of ["buffer-size", "no-netfilter"]) {
      if (extra[flag] !== undefined) {
        throw new UsageError(
          `--${flag} is an option of the eBPF sensor, not of --sensor kmod`,
        );
      }
    }
  }
  if (useKmod) return await recordKmod(args, section);
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
    printError(`record: ${problem}`);
    return EXIT_FAILURE;
  }
  let out: Output;
  try {
    out = openOutput(args.write);
  } catch (e) {
    printError(`${args.write}: ${reason(e)}`);
    return EXIT_FAILURE;
  }
  let sensor: Sensor;
  try {
    sensor = openSensor({
      shimPath: defaultShim(),
      snaplen: args.snaplen,
      ringbufBytes: ringMiB * 1024 * 1024,
      netfilter: extra["no-netfilter"] !== true,
    });
  } catch (e) {
    out.close();
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
  return await capture(sensor, out, args, section);
}

/** `hone record` on the kernel module's device. */
async function recordKmod(
  args: CommonArgs,
  section: SectionOptions,
): Promise<number> {
  let out: Output;
  try {
    out = openOutput(args.write);
  } catch (e) {
    printError(`${args.write}: ${reason(e)}`);
    return EXIT_FAILURE;
  }
  let k: KmodSensor;
  try {
    k = openKmod({ shimPath: defaultShim(), snaplen: args.snaplen });
  } catch (e) {
    out.close();
    printError(
      `record: ${
        e instanceof KmodError
          ? e.message
          : `cannot start the kernel-module sensor: ${reason(e)}`
      }`,
    );
    return EXIT_FAILURE;
  }
  return await captureKmod(k, out, args, {
    ...section,
    os: osString(),
    hardware: Deno.build.arch,
  });
}

async function capture(
  sensor: Sensor,
  out: Output,
  args: CommonArgs,
  section: SectionOptions,
): Promise<number> {
  const st0 = sensor.stats();
  const off = sensor.clockOffsetNs();
  const offSec = off / 1_000_000_000n;
  const names = loadNames();
  const corr = new SensorCorrelator({
    clockOffset: [Number(offSec), Number(off - offSec * 1_000_000_000n)],
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
  corr.addProcesses(snapshotProcesses());
  const encoder = makeEncoder(args.format, {
    snaplen: args.snaplen,
    data: args.data,
    os: osString(),
    hardware: Deno.build.arch,
    ...section,
  });
  // Stop signals are ours before "listening on" tells anyone to send them.
  const limit = new PacketLimit(args.count);
  const stop = stopSignals(() => {
    // A second stop signal: end at once, the file cut back to its last
    // whole write.
    printError("record: second stop signal: exiting at once");
    out.abort();
    Deno.exit(EXIT_FAILURE);
  });
  const snap = args.snaplen > 0 ? args.snaplen : st0.snaplen;
  printError(
    `listening on all sockets (eBPF cgroup_skb${
      st0.netfilter ? " + netfilter" : ""
    }), link-type RAW (Raw IP), snapshot length ${snap} bytes`,
  );
  if (!st0.netfilter && st0.netfilterError) {
    printWarning(
      `netfilter hooks unavailable (${st0.netfilterError}): packets no socket owns are not captured`,
    );
  }

  const sink = new OutputSink(out);
  // The counters read when the sensor stopped: the final ones.
  let final: SensorStats | null = null;
  const countsNow = (captured = sink.written) =>
    counts(final ?? sensor.stats(), corr.counts, captured);
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
  const pipeline = sensorSource(sensor, {
    stop: stop.signal,
    onFinalStats: (s) => final = s,
  })
    .pipeThrough(new CorrelatorStream(corr))
    .pipeThrough(tap(() => moved = performance.now()))
    .pipeThrough(
      new PacketLimitStream(limit, { onDone: stop.request, end: false }),
    )
    .pipeThrough(
      appendAtEnd(() => [statsEvent(countsNow(limit.packets), started)]),
    )
    .pipeThrough(new EncoderStream(encoder))
    .pipeTo(sink)
    .catch((e) => {
      failure = e;
    });
  // It ends by itself after -c or a failed write, else after a stop (the
  // ring drains, the output takes data, while it moves).
  const done = await awaitCapture(
    pipeline,
    stop,
    () => Math.max(sink.lastWrite, moved),
  );
  usr1.stop();
  status.stop();
  if (!done || failure !== null) {
    // The pipeline did not drain the ring: count what is left, unwritten.
    await sensor.idle();
    sensor.detach();
    final ??= sensor.stats();
    await drainUnwritten(sensor, corr);
  }
  const c = countsNow();
  if (
    done && failure !== null && !(failure instanceof Deno.errors.BrokenPipe)
  ) {
    // The file was cut back to its last whole batch: end it with the
    // section's statistics where there is room.
    try {
      await writeBy(
        out,
        encoder.encode([statsEvent(c, started)]).slice(),
        performance.now() + STOP_GRACE_MS,
      );
      await writeBy(out, encoder.finish(), performance.now() + STOP_GRACE_MS);
    } catch { /* no room: the file ends with its last whole batch */ }
  }
  stop.dispose();
  await sensor.close();
  if (done) out.close();
  const lines = summary(c, args.count);
  if (failure !== null && !(failure instanceof Deno.errors.BrokenPipe)) {
    printError(
      `record: write ${out.name}: ${reason(failure)} (${
        plural(c.captured, "packet")
      } written)`,
    );
    for (const line of lines) printError(line);
    return EXIT_FAILURE;
  }
  if (!done) {
    printWarning(
      `${out.name} took no data for ${STOP_GRACE_MS} ms after the stop: the rest is not written`,
    );
  }
  Deno.stderr.writeSync(enc.encode(lines.join("\n") + "\n"));
  return EXIT_OK;
}

/** Reads the rest of the ring into the correlator, for the counts only. */
async function drainUnwritten(
  sensor: Sensor,
  corr: SensorCorrelator,
): Promise<void> {
  for (;;) {
    const batch = await sensor.poll(0);
    if (!batch.length) break;
    corr.push(decodeRecords(batch), performance.now());
    corr.drain(performance.now());
  }
  corr.drain(performance.now(), true);
}

function counts(
  s: SensorStats,
  c: SensorCorrelator["counts"],
  written: number,
): Counts {
  return {
    received: s.packetsSeen - s.selfSkipped + s.nfPackets,
    dropped: s.packetsDropped,
    captured: written,
    notWritten: c.packets - written,
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
