/**
 * `hone record`: live capture with the eBPF sensor. Every packet entering or
 * leaving a local socket, with the process that sent or read it, plus
 * process and connection events, as JSON lines, text or pcapng.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import type { HoneEvent, StatsEvent } from "../events/types.ts";
import { SensorCorrelator } from "../correlate/sensor_correlator.ts";
import { decodeRecords } from "../records/decode.ts";
import { loadNames } from "../sensor/names.ts";
import { snapshotProcesses } from "../sensor/proc_snapshot.ts";
import {
  openSensor,
  type Sensor,
  SensorError,
  type SensorStats,
} from "../sensor/shim.ts";
import { parseCommon, parseIntFlag } from "./args.ts";
import { makeEncoder } from "./encoder.ts";
import { printError, printWarning, reason, UsageError } from "./errors.ts";
import { EXIT_FAILURE, EXIT_OK } from "./exit_codes.ts";
import { openOutput, type Output } from "./output.ts";
import { PacketLimit } from "./packet_limit.ts";
import { watchCountsSignal } from "./usr1.ts";

/** Help for `hone record`. */
export const RECORD_USAGE = `Usage: hone record [OPTIONS]

Capture live: every packet entering or leaving a local socket (IPv4, IPv6,
loopback included) with the process that sent or read it, and process and
connection events. Needs root (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN) and a
kernel with BPF and BTF. Stop with Ctrl-C (SIGINT) or SIGTERM.

Options:
  -s, --snaplen N    keep N bytes of each packet from the IP header
                     (0 = whole packets, at most 65536; default 0)
  -w, --write FILE   write pcapng to FILE ('-' = stdout), mode 0600
  -F, --format FMT   json (default), text, or pcapng
  -c, --count N      stop after N packets
  -B, --buffer-size MIB  kernel ring buffer in MiB, a power of two (default 64)
      --no-netfilter do not hook netfilter for packets no socket owns
      --data         include packet bytes (hex) in JSON
  -v, --verbose      more detail on errors
  -h, --help         print this help
`;

const enc = new TextEncoder();
/** Below this many bytes a batch counts as small. */
const BATCH_BYTES = 256 * 1024;
/** How long records gather after a small batch, in milliseconds. */
const BATCH_WAIT_MS = 5;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

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

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
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
  return await capture(sensor, out, args);
}

async function capture(
  sensor: Sensor,
  out: Output,
  args: ReturnType<typeof parseCommon>["args"],
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

  const printCounts = () =>
    printError(
      summary(countsNow(sensor, corr.counts, written), args.count).join(", "),
    );
  const usr1 = watchCountsSignal(printCounts);
  const live = args.write !== null && args.write !== "-" &&
    Deno.stderr.isTerminal();
  let lastStatus = 0;
  let failure: unknown = null;
  // Packets in the output: counted when their write has completed.
  let written = 0;
  // The write under way. The loop waits for it, or for a stop signal: a
  // blocked stdout must not keep a stop from ending the capture.
  let pending: Promise<void> = Promise.resolve();
  // Encodes and starts writing a batch; false when the capture must end.
  const emit = async (events: HoneEvent[], packets = true) => {
    const b = limit.take(packets ? events : events.filter(notPacket));
    if (failure !== null) return false;
    if (b.length === 0) return !limit.done;
    const n = countPackets(b);
    pending = out.write(encoder.encode(b)).then(
      () => {
        written += n;
      },
      (e) => {
        failure ??= e;
      },
    );
    await Promise.race([pending, stop.requested]);
    return failure === null && !limit.done;
  };
  try {
    if (!await emit(corr.drain(performance.now()))) stop.request();
    while (!stop.isRequested) {
      const batch = await sensor.poll(100);
      const now = performance.now();
      if (batch.length) corr.push(decodeRecords(batch), now);
      if (!await emit(corr.drain(now))) break;
      // A small batch under load: let records gather for a moment, so each
      // round trip (poll, decode, write) carries many of them.
      if (batch.length > 0 && batch.length < BATCH_BYTES) {
        await sleep(BATCH_WAIT_MS);
      }
      if (live && now - lastStatus > 1000) {
        lastStatus = now;
        const s = sensor.stats();
        Deno.stderr.writeSync(enc.encode(
          `\r${plural(limit.packets, "packet")}, ${
            plural(corr.counts.processes, "process event")
          }, ${s.packetsDropped + s.procDropped + s.sockDropped} dropped\x1b[K`,
        ));
      }
    }
  } catch (e) {
    failure ??= e;
  }
  usr1.stop();
  if (live) Deno.stderr.writeSync(enc.encode("\r\x1b[K"));

  // The end: no new record from here on, so the counts read now are the
  // final ones, and every record they count is in the ring or read.
  const deadline = (stop.at ?? performance.now()) + STOP_GRACE_MS;
  sensor.detach();
  const stats = sensor.stats();
  let stuck = !await settledBy(pending, deadline);
  try {
    for (;;) {
      const batch = await sensor.poll(0);
      if (!batch.length) break;
      corr.push(decodeRecords(batch), performance.now());
      const events = corr.drain(performance.now());
      if (stuck || failure !== null) continue;
      await emit(events, !limit.done);
      stuck = !await settledBy(pending, deadline);
    }
    const rest = corr.drain(performance.now(), true);
    if (!stuck && failure === null) {
      await emit(rest, !limit.done);
      stuck = !await settledBy(pending, deadline);
    }
  } catch (e) {
    failure ??= e;
  }
  const counts = countsNow(sensor, corr.counts, written, stats);
  if (!stuck) {
    // The section's statistics, even after a failed write: the file was cut
    // back to its last whole block, and there may be room for these.
    const tail = encoder.encode([statsEvent(counts, started)]);
    const end = encoder.finish();
    try {
      await writeBy(out, tail, deadline);
      await writeBy(out, end, deadline);
    } catch (e) {
      if (e instanceof TimeoutError) stuck = true;
      else failure ??= e;
    }
  }
  stop.dispose();
  await sensor.close();
  if (!stuck) out.close();
  const lines = summary(counts, args.count);
  if (failure !== null && !(failure instanceof Deno.errors.BrokenPipe)) {
    printError(
      `record: write ${out.name}: ${reason(failure)} (${
        plural(written, "packet")
      } written)`,
    );
    for (const line of lines) printError(line);
    return EXIT_FAILURE;
  }
  if (stuck) {
    printWarning(
      `${out.name} took no data for ${STOP_GRACE_MS} ms after the stop: the rest is not written`,
    );
  }
  Deno.stderr.writeSync(enc.encode(lines.join("\n") + "\n"));
  return EXIT_OK;
}

function notPacket(e: HoneEvent): boolean {
  return e.type !== "packet";
}

function countPackets(events: readonly HoneEvent[]): number {
  let n = 0;
  for (const e of events) if (e.type === "packet") n++;
  return n;
}

/** How long a stop waits for the output before it gives up on it. */
const STOP_GRACE_MS = 700;

class TimeoutError extends Error {}

/** Resolves true when `p` has settled, false at `deadline` (ms). */
async function settledBy(p: Promise<void>, deadline: number): Promise<boolean> {
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

async function writeBy(
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
interface StopSignals {
  /** Resolves at the first stop request. */
  requested: Promise<void>;
  /** Whether a stop was asked for. */
  readonly isRequested: boolean;
  /** When it was asked for (performance.now()), or null. */
  readonly at: number | null;
  /** Asks for a stop (the end of -c, a failed write). */
  request(): void;
  /** Removes the signal listeners. */
  dispose(): void;
}

function stopSignals(onSecond: () => void): StopSignals {
  let wake = () => {};
  let at: number | null = null;
  const requested = new Promise<void>((r) => wake = r);
  const request = () => {
    at ??= performance.now();
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
    get isRequested() {
      return at !== null;
    },
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
interface Counts {
  received: number;
  dropped: number;
  captured: number;
  notWritten: number;
  noProcess: number;
  processes: { received: number; dropped: number; delivered: number };
  connections: { received: number; dropped: number; delivered: number };
}

function countsNow(
  sensor: Sensor,
  c: SensorCorrelator["counts"],
  written: number,
  s: SensorStats = sensor.stats(),
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

function summary(c: Counts, limit: number): string[] {
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

function statsEvent(c: Counts, startedMs: number): StatsEvent {
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
