/**
 * Where `hone read X -w OUT` (pcapng → pcapng) spends its time, stage by
 * stage, in one process (no start-up cost):
 *
 *     deno run -A bench/profile_read.ts CAPTURE [RUNS]
 *
 * - read:        readChunks() over the file, nothing else (the CLI's I/O)
 * - decode:      CaptureDecoder.push() over the file in memory, 1 MiB chunks
 * - connpids:    ConnPids.apply() over the decoded batches
 * - encode:      PcapngWriter.encode() of the decoded batches
 * - pipeline:    read + decode + connpids + encode + write to /dev/null, as
 *                `hone read` does it
 *
 * Each stage runs RUNS times (default 3); the best time is shown.
 *
 * @module
 */

import type { HoneEvent } from "../src/events/types.ts";
import { ConnPids } from "../src/correlate/conn_pids.ts";
import { CaptureDecoder } from "../src/readers/capture_decoder.ts";
import { decodeCapture, readChunks } from "../src/readers/read_capture.ts";
import { PcapngWriter } from "../src/writers/pcapng/pcapng_writer.ts";
import { writeAll } from "../src/cli/output.ts";

const CHUNK = 1 << 20;
const te = new TextEncoder();
const say = (s: string) => Deno.stdout.writeSync(te.encode(s + "\n"));

function packetsIn(batches: HoneEvent[][]): number {
  let n = 0;
  for (const b of batches) for (const e of b) if (e.type === "packet") n++;
  return n;
}

function decodeAll(bytes: Uint8Array, keep = true): HoneEvent[][] {
  const dec = new CaptureDecoder();
  const batches: HoneEvent[][] = [];
  for (let at = 0; at < bytes.length; at += CHUNK) {
    const out: HoneEvent[] = [];
    dec.push(bytes.subarray(at, Math.min(at + CHUNK, bytes.length)), out);
    if (keep) batches.push(out);
  }
  const out: HoneEvent[] = [];
  dec.finish(out);
  batches.push(out);
  return batches;
}

async function best(
  name: string,
  runs: number,
  packets: number,
  f: () => unknown,
): Promise<number> {
  let min = Infinity;
  const all: string[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await f();
    const ms = performance.now() - t;
    all.push(ms.toFixed(0));
    min = Math.min(min, ms);
  }
  const pps = packets / (min / 1000);
  say(
    `${name.padEnd(12)} ${min.toFixed(0).padStart(6)} ms  ${
      (pps / 1e6).toFixed(2).padStart(6)
    } M packets/s  ${(1e6 * min / packets).toFixed(0).padStart(5)} ns/packet  (runs: ${all.join(" ")} ms)`,
  );
  return min;
}

if (import.meta.main) {
  const [path, runsArg] = Deno.args;
  if (!path) {
    Deno.stderr.writeSync(
      te.encode("usage: deno run -A bench/profile_read.ts CAPTURE [RUNS]\n"),
    );
    Deno.exit(2);
  }
  const runs = Number(runsArg ?? 3);
  const bytes = await Deno.readFile(path);
  const batches = decodeAll(bytes);
  const packets = packetsIn(batches);
  say(`${path}: ${bytes.length} bytes, ${packets} packets, best of ${runs}`);

  await best("read", runs, packets, async () => {
    using f = await Deno.open(path);
    let n = 0;
    for await (const c of readChunks(f)) n += c.length;
    return n;
  });
  await best("decode", runs, packets, () => decodeAll(bytes, false));
  await best("connpids", runs, packets, () => {
    const c = new ConnPids();
    for (const b of batches) c.apply(b);
  });
  await best("encode", runs, packets, () => {
    const w = new PcapngWriter({ snaplen: 0 });
    let n = 0;
    for (const b of batches) n += w.encode(b).length;
    return n;
  });
  await best("pipeline", runs, packets, async () => {
    using f = await Deno.open(path);
    using o = await Deno.open("/dev/null", { write: true });
    const w = new PcapngWriter({ snaplen: 0 });
    const c = new ConnPids();
    for await (const b of decodeCapture(readChunks(f))) {
      c.apply(b);
      await writeAll(o, w.encode(b));
    }
    await writeAll(o, w.encode([]));
  });
}
