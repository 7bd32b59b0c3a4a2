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
import { openSensor, type Sensor, SensorError } from "../sensor/shim.ts";
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
                     (0 = whole packets, up to 64 KiB; default 0)
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
      `record: unexpected argument '${
        args.positionals[0]
      }' (filters are not supported yet)`,
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
        `invalid buffer-size '${ringMiB}' (must be a power of two)`,
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
    out = await openOutput(args.write);
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

  const limit = new PacketLimit(args.count);
  let stop = false;
  const onStop = () => stop = true;
  const printCounts = () => printError(summary(sensor, limit).join(", "));
  Deno.addSignalListener("SIGINT", onStop);
  Deno.addSignalListener("SIGTERM", onStop);
  const usr1 = watchCountsSignal(printCounts);
  const live = args.write !== null && args.write !== "-" &&
    Deno.stderr.isTerminal();
  let lastStatus = 0;
  let failure: unknown = null;
  const write = async (events: HoneEvent[]): Promise<boolean> => {
    const b = limit.take(events);
    if (b.length) await out.write(encoder.encode(b));
    return limit.done;
  };
  try {
    if (await write(corr.drain(performance.now()))) stop = true;
    while (!stop) {
      const batch = await sensor.poll(100);
      const now = performance.now();
      if (batch.length) corr.push(decodeRecords(batch), now);
      if (await write(corr.drain(now))) break;
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
    failure = e;
  }
  Deno.removeSignalListener("SIGINT", onStop);
  Deno.removeSignalListener("SIGTERM", onStop);
  usr1.stop();
  if (live) Deno.stderr.writeSync(enc.encode("\r\x1b[K"));
  // Read what is still in the ring, flush what is held, close the section
  // with its statistics.
  try {
    if (failure === null && !limit.done) {
      for (let i = 0; i < 64; i++) {
        const batch = await sensor.poll(0);
        if (!batch.length) break;
        corr.push(decodeRecords(batch), performance.now());
        if (await write(corr.drain(performance.now()))) break;
      }
    }
    if (failure === null) {
      const rest = corr.drain(performance.now(), true);
      if (limit.done) {
        const nonPackets = rest.filter((e) => e.type !== "packet");
        await out.write(encoder.encode(nonPackets));
      } else await write(rest);
    }
    await out.write(
      encoder.encode([
        statsEvent(sensor, corr.counts, limit.packets, started),
      ]),
    );
    await out.write(encoder.finish());
  } catch (e) {
    failure ??= e;
  }
  const counts = summary(sensor, limit);
  await sensor.close();
  out.close();
  if (failure !== null && !(failure instanceof Deno.errors.BrokenPipe)) {
    printError(`record: write ${out.name}: ${reason(failure)}`);
    for (const line of counts) printError(line);
    return EXIT_FAILURE;
  }
  Deno.stderr.writeSync(enc.encode(counts.join("\n") + "\n"));
  return EXIT_OK;
}

function summary(sensor: Sensor, limit: PacketLimit): string[] {
  const s = sensor.stats();
  return [
    `${plural(limit.packets, "packet")} captured`,
    `${plural(s.packetsSeen + s.nfPackets, "packet")} received by filter`,
    `${plural(s.packetsDropped, "packet")} dropped by kernel`,
    `${plural(limit.noProcess, "packet")} without a process`,
    `${
      plural(s.procDropped + s.sockDropped, "process and socket event")
    } dropped by kernel`,
  ];
}

function statsEvent(
  sensor: Sensor,
  c: SensorCorrelator["counts"],
  packets: number,
  startedMs: number,
): StatsEvent {
  const s = sensor.stats();
  const now = Date.now();
  return {
    type: "stats",
    sec: Math.floor(now / 1000),
    nsec: (now % 1000) * 1e6,
    start: [Math.floor(startedMs / 1000), (startedMs % 1000) * 1e6],
    received: {
      process: s.procSeen,
      connection: s.sockSeen + s.snapSockets,
      packet: s.packetsSeen + s.nfPackets,
    },
    dropped: {
      process: s.procDropped,
      connection: s.sockDropped,
      packet: s.packetsDropped,
    },
    delivered: {
      process: c.processes,
      connection: c.connections,
      packet: packets,
    },
  };
}
