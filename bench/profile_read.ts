/**
 * Where `hone read X -w OUT` (pcapng → pcapng) spends its time, stage by
 * stage, in one process (no start-up cost):
 *
 *     deno run -A bench/profile_read.ts CAPTURE [RUNS] [CHUNK_BYTES]
 *
 * - read:      readChunks() over the file and nothing else (the CLI's input)
 * - decode:    CaptureDecoder.push() of the file, already in memory, in
 *              CHUNK_BYTES pieces (default 1 MiB, as readChunks() yields)
 * - connpids:  ConnPids.apply() of each decoded batch
 * - encode:    PcapngWriter.encode() of each decoded batch
 * - pipeline:  read + decode + connpids + encode + write to /dev/null, as
 *              `hone read X -w /dev/null` does it
 *
 * decode, connpids and encode are timed batch by batch in one streaming
 * pass, so no batch outlives its encoding (as in the CLI). Each line is the
 * best of RUNS passes (default 5), with every pass listed.
 *
 * @module
 */

import type { HoneEvent } from "../src/events/types.ts";
import { ConnPids } from "../src/correlate/conn_pids.ts";
import { CaptureDecoder } from "../src/readers/capture_decoder.ts";
import { decodeCapture, readChunks } from "../src/readers/read_capture.ts";
import { PcapngWriter } from "../src/writers/pcapng/pcapng_writer.ts";
import { writeAll } from "../src/cli/output.ts";

const te = new TextEncoder();
const say = (s: string) => Deno.stdout.writeSync(te.encode(s + "\n"));

interface Pass {
  decode: number;
  connpids: number;
  encode: number;
  packets: number;
}

/** One streaming pass over the in-memory capture, timing each stage. */
function streamPass(bytes: Uint8Array, chunk: number): Pass {
  const dec = new CaptureDecoder();
  const conns = new ConnPids();
  const w = new PcapngWriter();
  const r: Pass = { decode: 0, connpids: 0, encode: 0, packets: 0 };
  let sink = 0;
  for (let at = 0; at <= bytes.length; at += chunk) {
    const out: HoneEvent[] = [];
    const t0 = performance.now();
    if (at < bytes.length) {
      dec.push(bytes.subarray(at, Math.min(at + chunk, bytes.length)), out);
    } else dec.finish(out);
    const t1 = performance.now();
    conns.apply(out);
    const t2 = performance.now();
    sink += w.encode(out).length;
    const t3 = performance.now();
    r.decode += t1 - t0;
    r.connpids += t2 - t1;
    r.encode += t3 - t2;
    for (const e of out) if (e.type === "packet") r.packets++;
  }
  if (sink === 0) throw new Error("nothing encoded");
  return r;
}

function line(name: string, packets: number, runs: number[]): void {
  const min = Math.min(...runs);
  const pps = packets / (min / 1000);
  say(
    `${name.padEnd(9)} ${min.toFixed(0).padStart(6)} ms ${
      (pps / 1e6).toFixed(2).padStart(6)
    } M packets/s ${(1e6 * min / packets).toFixed(0).padStart(5)} ns/packet` +
      `  (runs: ${runs.map((x) => x.toFixed(0)).join(" ")})`,
  );
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

if (import.meta.main) {
  const [path, runsArg, chunkArg] = Deno.args;
  if (!path) {
    Deno.stderr.writeSync(
      te.encode(
        "usage: deno run -A bench/profile_read.ts CAPTURE [RUNS] [CHUNK_BYTES]\n",
      ),
    );
    Deno.exit(2);
  }
  const runs = Number(runsArg ?? 5);
  const chunk = Number(chunkArg ?? 1 << 20);

  const read: number[] = [];
  for (let i = 0; i < runs; i++) {
    read.push(
      await timed(async () => {
        using f = await Deno.open(path);
        let n = 0;
        for await (const c of readChunks(f)) n += c.length;
        return n;
      }),
    );
  }

  const bytes = await Deno.readFile(path);
  const passes: Pass[] = [];
  for (let i = 0; i < runs; i++) passes.push(streamPass(bytes, chunk));
  const packets = passes[0]!.packets;

  const pipeline: number[] = [];
  for (let i = 0; i < runs; i++) {
    pipeline.push(
      await timed(async () => {
        using f = await Deno.open(path);
        using o = await Deno.open("/dev/null", { write: true });
        const w = new PcapngWriter();
        const c = new ConnPids();
        for await (const b of decodeCapture(readChunks(f))) {
          c.apply(b);
          await writeAll(o, w.encode(b));
        }
        await writeAll(o, w.encode([]));
      }),
    );
  }

  say(
    `${path}: ${bytes.length} bytes, ${packets} packets, ` +
      `${chunk}-byte chunks, best of ${runs}`,
  );
  line("read", packets, read);
  line("decode", packets, passes.map((p) => p.decode));
  line("connpids", packets, passes.map((p) => p.connpids));
  line("encode", packets, passes.map((p) => p.encode));
  line("pipeline", packets, pipeline);
}
