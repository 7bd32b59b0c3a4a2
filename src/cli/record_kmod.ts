/**
 * `hone record --sensor kmod`: live capture from the kernel module's
 * device. The module tags each packet with its process itself, so the
 * chain is `hone read`'s: device → decoder → -c → encoder → output, with
 * the module's own statistics (its ISB) ending the section.
 *
 * @module
 */

import type { HoneEvent, StatsEvent } from "../events/mod.ts";
import { PacketLimit, PacketLimitStream } from "../events/mod.ts";
import { CaptureDecoderStream } from "../readers/mod.ts";
import { type BpfInsn, PacketFilterStream } from "../filter/mod.ts";
import { type KmodSensor, kmodSource } from "../sensor/mod.ts";
import type { CommonArgs } from "./args.ts";
import { printError, reason } from "./errors.ts";
import { EXIT_FAILURE } from "./exit_codes.ts";
import { watchCountsSignal } from "./usr1.ts";
import { notifyReady } from "./service.ts";
import {
  awaitCapture,
  type CaptureHooks,
  captureSignals,
  type Counts,
  type Destination,
  endCapture,
  liveStatus,
  passThrough,
  statsEvent,
  summary,
  tap,
} from "./_capture.ts";

/**
 * Captures from an open reader of the device until a stop, -c or a failed
 * write, then prints the counts.
 *
 * @param k The reader.
 * @param dest Where the events go.
 * @param args The parsed arguments.
 * @param hooks Set here: the counts and the stop, for the destination.
 * @param prog A filter expression's program, run on each packet.
 * @returns The exit code.
 */
export async function captureKmod(
  k: KmodSensor,
  dest: Destination,
  args: CommonArgs,
  hooks: CaptureHooks,
  prog: BpfInsn[] | null = null,
): Promise<number> {
  const started = Date.now();
  try {
    hooks.beforeOutput();
  } catch (e) {
    await k.close();
    printError(`record: ${reason(e)}`);
    return EXIT_FAILURE;
  }
  const limit = new PacketLimit(args.count);
  const { stop, hup } = captureSignals(dest, hooks);
  printError(
    `listening on all sockets (kernel module, ${k.device}), link-type RAW (Raw IP), snapshot length ${
      k.snaplen || 65535
    } bytes`,
  );
  notifyReady(`capturing from ${k.device} to ${dest.name}`);
  // Packets, process and connection events decoded from the device; the
  // module's statistics once its section ended.
  const seen = { packets: 0, noProcess: 0, processes: 0, connections: 0 };
  let moduleStats: StatsEvent | null = null;
  const countsNow = (captured = dest.written) =>
    kmodCounts(seen, moduleStats, captured);
  hooks.cumulative = () => statsEvent(countsNow(limit.packets), started);
  const usr1 = watchCountsSignal(() =>
    printError(summary(countsNow(), args.count).join(", "))
  );
  const status = liveStatus(args, () => [limit.packets, seen.processes, 0]);
  let moved = 0;
  // As in `hone read`: pcapng copies each packet's bytes from the device's
  // chunk as words, with no view made.
  const decoder = new CaptureDecoderStream({
    batched: args.format === "pcapng",
  });
  let failure: unknown = null;
  const events = kmodSource(k, { stop: stop.signal })
    .pipeThrough(decoder)
    .pipeThrough(prog ? new PacketFilterStream(prog) : passThrough())
    .pipeThrough(tap((batch: HoneEvent[]) => {
      moved = performance.now();
      for (const e of batch) {
        if (e.type === "packet") {
          seen.packets++;
          if (e.pid === null) seen.noProcess++;
        } else if (e.type === "process") seen.processes++;
        else if (e.type === "connection") seen.connections++;
      }
    }))
    .pipeThrough(
      new PacketLimitStream(limit, { onDone: stop.request, end: false }),
    )
    .pipeThrough(ownStats(limit, (s) => moduleStats = s, countsNow, started));
  const pipeline = dest.pipeFrom(events).catch((e) => {
    failure = e;
  });
  const done = await awaitCapture(
    pipeline,
    stop,
    () => Math.max(dest.lastWrite, moved),
    () => dest.writingSince,
  );
  usr1.stop();
  status.stop();
  hup.stop();
  return await endCapture({
    done,
    failure,
    counts: countsNow(),
    started,
    limit: args.count,
    dest,
    stop,
    closeSensor: () => k.close(),
    sourceError: decoder.error === null
      ? null
      : `${k.device}: ${reason(decoder.error)}`,
    describe: (e) =>
      e instanceof Error && e.name === "KmodError" ? e.message : null,
  });
}

/**
 * The counts of a capture from the device, with the definitions of the
 * eBPF sensor's: received = captured + dropped + not written, where
 * received is what the module had for this reader (delivered or lost) and
 * dropped is the module's loss (its own and this reader's ring's).
 */
function kmodCounts(
  seen: {
    packets: number;
    noProcess: number;
    processes: number;
    connections: number;
  },
  s: StatsEvent | null,
  captured: number,
): Counts {
  // This reader's share: what the module delivered to it, and what it lost
  // (the module's counts since its load cover every reader).
  const dropped = s?.dropped.packet ?? 0;
  const procDropped = s?.dropped.process ?? 0;
  const connDropped = s?.dropped.connection ?? 0;
  return {
    received: seen.packets + dropped,
    dropped,
    captured,
    notWritten: seen.packets - captured,
    noProcess: seen.noProcess,
    processes: {
      received: seen.processes + procDropped,
      dropped: procDropped,
      delivered: seen.processes,
    },
    connections: {
      received: seen.connections + connDropped,
      dropped: connDropped,
      delivered: seen.connections,
    },
  };
}

/**
 * Replaces each statistics event from the device by hone's: the module's
 * received and dropped counts, with what hone delivered; the section's
 * start as hone's. Keeps the module's for the closing counts.
 */
function ownStats(
  limit: PacketLimit,
  keep: (s: StatsEvent) => void,
  countsNow: (captured: number) => Counts,
  started: number,
): TransformStream<HoneEvent[], HoneEvent[]> {
  return new TransformStream({
    transform(batch, controller) {
      const out = batch.map((e) => {
        if (e.type !== "stats") return e;
        keep(e);
        return statsEvent(countsNow(limit.packets), started);
      });
      controller.enqueue(out);
    },
  });
}
