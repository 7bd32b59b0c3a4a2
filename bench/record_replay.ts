// deno-lint-ignore-file no-console
/**
 * hone record's user side alone, without the kernel: replays ring-buffer
 * batches dumped by bench/flood_sensor_only.ts (DUMP=FILE) through the
 * record chain's stages (decode, correlate, encode) and prints the time
 * per record of each prefix of the chain: an A/B of the TypeScript side
 * without the kernel's share (issues 8 and 11); the machine's own noise
 * stays, so compare medians of several rounds.
 *
 *   DUMP=/tmp/flood.dump deno run -A bench/flood_sensor_only.ts build/ffi/libhone.so 128
 *   deno run -A bench/record_replay.ts /tmp/flood.dump [FORMAT] [ROUNDS]
 *
 * FORMAT: pcapng (default), json or text. ROUNDS: default 3 (medians).
 * Lines: the records decoded to objects (decodeRecords, what
 * SensorCorrelator.push takes); the batch correlated in place
 * (SensorCorrelator.pushBatch, what `hone record` runs); that plus the
 * encoder; the encoder alone on the events made beforehand.
 * OBJECTS=1 correlates decoded objects instead (push: the path before
 * pushBatch); ONLY_ENCODE=1 runs only the last line (to profile it);
 * NO_RUNS=1 makes one packet event per packet (no PacketRun).
 */

import { SensorCorrelator } from "../src/correlate/mod.ts";
import { decodeRecords } from "../src/records/mod.ts";
import type { ChunkEvent } from "../src/events/mod.ts";
import { type Format, makeEncoder } from "../src/writers/mod.ts";

const [path, fmtArg, roundsArg] = Deno.args;
if (!path) {
  console.error("usage: record_replay.ts DUMP [FORMAT] [ROUNDS]");
  Deno.exit(2);
}
const format = (fmtArg ?? "pcapng") as Format;
const rounds = Number(roundsArg ?? 3);
// OBJECTS=1: the correlator takes decoded record objects (the path before
// pushBatch), for an A/B in one run.
const objects = Deno.env.get("OBJECTS") === "1";
// NO_RUNS=1: one packet event per packet, not runs (as `hone record` did
// before runs, and does for JSON and text).
const runs = Deno.env.get("NO_RUNS") !== "1" && format === "pcapng";
const raw = Deno.readFileSync(path);
const rv = new DataView(raw.buffer);
const batches: Uint8Array[] = [];
for (let o = 0; o + 4 <= raw.length;) {
  const n = rv.getUint32(o, true);
  if (o + 4 + n > raw.length) break; // the dumper stopped mid-batch
  batches.push(raw.subarray(o + 4, o + 4 + n));
  o += 4 + n;
}
let records = 0;
for (const b of batches) for (const _ of decodeRecords(b)) records++;

function run(stage: number): number {
  const corr = new SensorCorrelator({
    clockOffset: [0, 0],
    keepSummaries: format !== "pcapng",
    runs,
  });
  const enc = makeEncoder(format, { snaplen: 128, data: false });
  let sink = 0;
  const t0 = performance.now();
  let now = 0;
  for (const b of batches) {
    now += 1;
    if (stage === 0) {
      for (const r of decodeRecords(b)) sink += r.kind.length;
      continue;
    }
    if (objects) corr.push(decodeRecords(b), now);
    else corr.pushBatch(b, now);
    const out = corr.drainChunk(now);
    if (stage === 2 && out.length) sink += enc.encode(out).length;
  }
  const out = corr.drainChunk(now, true);
  if (stage === 2 && out.length) sink += enc.encode(out).length;
  const ms = performance.now() - t0;
  if (sink < 0) console.log(sink);
  return ms;
}

/** Times the encoder alone on events made beforehand. */
function encodeOnly(events: ChunkEvent[][]): number {
  const enc = makeEncoder(format, { snaplen: 128, data: false });
  let sink = 0;
  const t0 = performance.now();
  for (const out of events) sink += enc.encode(out).length;
  const ms = performance.now() - t0;
  if (sink < 0) console.log(sink);
  return ms;
}

/** Prints the median of a stage's rounds, and each round, per record. */
function report(name: string, t: number[]): void {
  const each = t.map((ms) => (ms * 1e6 / records).toFixed(0));
  const ms = [...t].sort((a, b) => a - b)[Math.floor(t.length / 2)]!;
  console.log(
    `${name.padEnd(28)} ${(ms * 1e6 / records).toFixed(0)} ns per record ` +
      `(rounds: ${each.join(" ")})`,
  );
}

const names = [
  "decode to objects",
  objects ? "decode + correlate (push)" : "correlate in place",
  `… + encode (${format})`,
];
console.log(`${records} records in ${batches.length} batches`);
const onlyEncode = Deno.env.get("ONLY_ENCODE") === "1";
for (let stage = 0; stage < (onlyEncode ? 0 : 3); stage++) {
  const t: number[] = [];
  for (let i = 0; i < rounds; i++) t.push(run(stage));
  report(names[stage]!, t);
}
{
  // The encoder alone, on the events of one correlation run.
  const corr = new SensorCorrelator({
    clockOffset: [0, 0],
    keepSummaries: format !== "pcapng",
    runs,
  });
  const events: ChunkEvent[][] = [];
  let now = 0;
  for (const b of batches) {
    corr.pushBatch(b, ++now);
    events.push(corr.drainChunk(now));
  }
  events.push(corr.drainChunk(now, true));
  const t: number[] = [];
  for (let i = 0; i < rounds; i++) t.push(encodeOnly(events));
  report(`encode (${format}) alone`, t);
}
