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
 */

import { SensorCorrelator } from "../src/correlate/mod.ts";
import { decodeRecords } from "../src/records/mod.ts";
import { type Format, makeEncoder } from "../src/writers/mod.ts";

const [path, fmtArg, roundsArg] = Deno.args;
if (!path) {
  console.error("usage: record_replay.ts DUMP [FORMAT] [ROUNDS]");
  Deno.exit(2);
}
const format = (fmtArg ?? "pcapng") as Format;
const rounds = Number(roundsArg ?? 3);
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
    corr.push(decodeRecords(b), now);
    const out = corr.drain(now);
    if (stage === 2 && out.length) sink += enc.encode(out).length;
  }
  const out = corr.drain(now, true);
  if (stage === 2 && out.length) sink += enc.encode(out).length;
  const ms = performance.now() - t0;
  if (sink < 0) console.log(sink);
  return ms;
}

const names = ["decode", "decode + correlate", `… + encode (${format})`];
console.log(`${records} records in ${batches.length} batches`);
for (let stage = 0; stage < 3; stage++) {
  const t: number[] = [];
  for (let i = 0; i < rounds; i++) t.push(run(stage));
  t.sort((a, b) => a - b);
  const ms = t[Math.floor(t.length / 2)]!;
  console.log(
    `${names[stage]!.padEnd(28)} ${
      (ms * 1e6 / records).toFixed(0)
    } ns per record`,
  );
}
