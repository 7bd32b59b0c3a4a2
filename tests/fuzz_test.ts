// Mutated captures, from a fixed seed: hone read fails only with its one
// documented line, and what it writes stays readable by tshark.
//
// Seeds: tests/testdata/sample.pcapng (hone's writer), sample_be.pcapng (the
// original Hone's blocks, big-endian) and sample.pcap (classic pcap,
// Ethernet). Mutations: bit flips, truncations, bad block lengths (alone or
// with a matching trailer), bad option lengths, byte-order swaps of the
// magic, huge captured lengths, dropped and repeated blocks, and pairs of
// these.
//
// Most mutants are decoded in-process (spawning dist/hone costs ~0.4 s, and
// tshark ~0.6 s, a file): every error must be a HoneFormatError in the
// documented form, the same wherever the input is split, and the events
// must encode as JSON, text and pcapng, the pcapng reading back cleanly. A
// smaller set runs the real `hone read F -w out.pcapng`, then `tshark -r`.
import assert from "node:assert/strict";
import { makeEncoder } from "../src/writers/mod.ts";
import { ConnPids } from "../src/correlate/conn_pids.ts";
import type { HoneEvent } from "../src/events/types.ts";
import { HoneFormatError } from "../src/format/errors.ts";
import { CaptureDecoder } from "../src/readers/capture_decoder.ts";
import { hone, run } from "./_helpers.ts";

/** The run's seed: the same mutants every run. */
const SEED = 0x5eed_0013;
/** Mutants decoded in-process, per seed capture. */
const IN_PROCESS = 200;
/** Mutants run through dist/hone and tshark, per seed capture. */
const SPAWNED = 10;
/** Generous bound for one mutant decoded in-process (they take ms). */
const TIME_LIMIT_MS = 10_000;
/**
 * Bound for one run of dist/hone on a mutant: a hang detector only, since a
 * loaded machine can take many seconds just to start a process.
 */
const SPAWN_LIMIT_MS = 120_000;

const SEEDS = ["sample.pcapng", "sample_be.pcapng", "sample.pcap"];
const seeds = await Promise.all(
  SEEDS.map((f) => Deno.readFile(new URL(`./testdata/${f}`, import.meta.url))),
);

/** mulberry32: a small, fast, seeded PRNG; returns [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks from a seeded stream. */
class Rng {
  #next: () => number;

  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.#next() * n);
  }

  /** One of `xs`. */
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

/** A field the mutations aim at: its offset and byte order. */
interface Field {
  at: number;
  le: boolean;
}

/** Where a capture's blocks, lengths and options are, read independently. */
interface Layout {
  /** Blocks (pcapng) or records (pcap): start and length. */
  blocks: { at: number; len: number }[];
  /** u32 block length fields (pcapng) and record captured lengths (pcap). */
  lengths: Field[];
  /** u32 captured lengths of packets (EPB, pcap records). */
  caplens: Field[];
  /** Option headers (their u16 length is at +2). */
  options: Field[];
  /** u32 magics: the pcap file's, or each SHB's byte-order magic. */
  magics: number[];
}

const pad4 = (n: number) => n + ((4 - (n % 4)) % 4);

function layout(b: Uint8Array): Layout {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const l: Layout = {
    blocks: [],
    lengths: [],
    caplens: [],
    options: [],
    magics: [],
  };
  if (b.length < 24) return l;
  const m = v.getUint32(0, true);
  if (m === 0xa1b2c3d4 || m === 0xd4c3b2a1) {
    const le = m === 0xa1b2c3d4;
    l.magics.push(0);
    for (let at = 24; at + 16 <= b.length;) {
      const len = 16 + v.getUint32(at + 8, le);
      if (at + len > b.length) break;
      l.blocks.push({ at, len });
      l.lengths.push({ at: at + 8, le });
      l.caplens.push({ at: at + 8, le });
      at += len;
    }
    return l;
  }
  let le = true;
  for (let at = 0; at + 12 <= b.length;) {
    const type = v.getUint32(at, le);
    if (type === 0x0a0d0d0a) {
      const magic = v.getUint32(at + 8, true);
      if (magic !== 0x1a2b3c4d && magic !== 0x4d3c2b1a) break;
      le = magic === 0x1a2b3c4d;
      l.magics.push(at + 8);
    }
    const len = v.getUint32(at + 4, le);
    if (len < 12 || len % 4 !== 0 || at + len > b.length) break;
    l.blocks.push({ at, len });
    l.lengths.push({ at: at + 4, le });
    const body = at + 8, end = at + len - 4;
    let opt = -1;
    if (type === 0x0a0d0d0a) opt = body + 16;
    else if (type === 1) opt = body + 8;
    else if (type === 6 && len >= 32) {
      l.caplens.push({ at: body + 12, le });
      opt = body + 20 + pad4(v.getUint32(body + 12, le));
    } else if (type === 5 || type === 0x101) opt = body + 12;
    else if (type === 0x102) opt = body + 16;
    while (opt >= 0 && opt + 4 <= end) {
      l.options.push({ at: opt, le });
      if (v.getUint16(opt, le) === 0) break;
      opt += 4 + pad4(v.getUint16(opt + 2, le));
    }
    at += len;
  }
  return l;
}

const HUGE = [0x80000000, 0xfffffff0, 0xfffffffc, 0xffffffff, 0x7ffffff0];
const MUTATIONS = [
  "bit flips",
  "truncation",
  "block length",
  "option length",
  "magic byte-order swap",
  "huge length",
  "dropped or repeated block",
] as const;
type Mutation = typeof MUTATIONS[number];

function setU32(b: Uint8Array, f: Field, x: number): void {
  new DataView(b.buffer, b.byteOffset).setUint32(f.at, x >>> 0, f.le);
}

/** Applies one mutation of kind `kind` to a copy of `src`. */
function mutate(src: Uint8Array, kind: Mutation, r: Rng): Uint8Array {
  const l = layout(src);
  const b = src.slice();
  const v = new DataView(b.buffer);
  switch (kind) {
    case "truncation":
      return b.slice(0, r.int(b.length));
    case "block length": {
      if (l.blocks.length === 0) break;
      const i = r.int(l.blocks.length);
      const blk = l.blocks[i]!, f = l.lengths[i]!;
      const x = r.pick([
        0,
        4,
        8,
        12,
        13,
        blk.len - 4,
        blk.len + 4,
        blk.len + 64,
        r.int(4096),
        r.int(2 ** 32),
        ...HUGE,
      ]);
      setU32(b, f, x);
      // Half the time the trailer agrees, so the lie goes further.
      if (f.at === blk.at + 4 && r.int(2) === 0) {
        const t = blk.at + blk.len - 4;
        setU32(b, { at: t, le: f.le }, x);
      }
      return b;
    }
    case "option length": {
      if (l.options.length === 0) break;
      const f = r.pick(l.options);
      const n = v.getUint16(f.at + 2, f.le);
      const x = r.pick([0xffff, 0xfffc, 0x8000, n + 1, n + 4, r.int(0x10000)]);
      v.setUint16(f.at + 2, x & 0xffff, f.le);
      if (r.int(4) === 0) v.setUint16(f.at, 0, f.le); // opt_endofopt, nonzero
      return b;
    }
    case "magic byte-order swap": {
      if (l.magics.length === 0) break;
      const at = r.pick(l.magics);
      b.set(src.slice(at, at + 4).reverse(), at);
      return b;
    }
    case "huge length": {
      const fs = [...l.caplens, ...l.lengths];
      if (fs.length === 0) break;
      setU32(b, r.pick(fs), r.pick([...HUGE, 262145, 65536, 0x01000000]));
      return b;
    }
    case "dropped or repeated block": {
      if (l.blocks.length === 0) break;
      const blk = r.pick(l.blocks);
      const cut = src.subarray(blk.at, blk.at + blk.len);
      const rest = src.subarray(blk.at + blk.len);
      const out = new Uint8Array(src.length + (r.int(2) ? blk.len : -blk.len));
      out.set(src.subarray(0, blk.at));
      if (out.length > src.length) {
        out.set(cut, blk.at);
        out.set(cut, blk.at + blk.len);
        out.set(rest, blk.at + 2 * blk.len);
      } else out.set(rest, blk.at);
      return out;
    }
    case "bit flips":
      break;
  }
  for (let k = 1 + r.int(8); k > 0; k--) b[r.int(b.length)]! ^= 1 << r.int(8);
  return b;
}

interface Mutant {
  name: string;
  bytes: Uint8Array;
}

/** `n` mutants of each seed; the first ones cycle through every kind. */
function mutants(n: number, seed: number): Mutant[] {
  const r = new Rng(seed);
  const out: Mutant[] = [];
  seeds.forEach((src, s) => {
    for (let i = 0; i < n; i++) {
      const kind = i < MUTATIONS.length ? MUTATIONS[i]! : r.pick(MUTATIONS);
      let bytes = mutate(src, kind, r);
      let how: string = kind;
      if (i >= MUTATIONS.length && r.int(5) === 0) {
        const second = r.pick(MUTATIONS);
        bytes = mutate(bytes, second, r);
        how += ` + ${second}`;
      }
      out.push({ name: `${SEEDS[s]} #${i} (${how})`, bytes });
    }
  });
  return out;
}

const MESSAGE = /^Cannot [^\n]+: [^\n]+ at byte \d+$/;

/** Decodes in chunks of `size` (0 = whole); the error, if any, and events. */
function decode(
  bytes: Uint8Array,
  size: number,
): { events: HoneEvent[]; err: HoneFormatError | null } {
  const d = new CaptureDecoder();
  const events: HoneEvent[] = [];
  try {
    const step = size || bytes.length || 1;
    for (let i = 0; i < bytes.length; i += step) {
      // A copy per chunk, as a reader with a reused buffer would give.
      d.push(bytes.slice(i, i + step), events);
    }
    d.finish(events);
  } catch (e) {
    if (!(e instanceof HoneFormatError)) throw e;
    return { events, err: e };
  }
  return { events, err: null };
}

Deno.test("CaptureDecoder fails on mutated captures only with its documented one-line error", () => {
  const r = new Rng(SEED ^ 0xdec0de);
  const counts = { ok: 0, failed: 0 };
  const t0 = performance.now();
  for (const m of mutants(IN_PROCESS, SEED)) {
    const t = performance.now();
    const whole = decode(m.bytes, 0);
    const split = decode(m.bytes, r.pick([1, 3, 64, 1000, 4096]));
    if (whole.err) {
      counts.failed++;
      assert.match(whole.err.message, MESSAGE, m.name);
      assert.doesNotMatch(whole.err.message, /internal error/, m.name);
      assert.ok(whole.err.offset <= m.bytes.length, m.name);
    } else counts.ok++;
    assert.equal(split.err?.message, whole.err?.message, m.name);
    assert.equal(split.events.length, whole.events.length, m.name);
    // What was read encodes in every format; hone's pcapng reads back.
    new ConnPids().apply(whole.events);
    for (const format of ["json", "text"] as const) {
      const e = makeEncoder(format, { snaplen: 0, data: true });
      e.encode(whole.events);
      e.finish();
    }
    const w = makeEncoder("pcapng", { snaplen: 0, data: false });
    const out = [w.encode(whole.events).slice(), w.finish().slice()];
    const back = decode(new Uint8Array([...out[0]!, ...out[1]!]), 0);
    assert.equal(back.err, null, `${m.name}: ${back.err?.message}`);
    assert.ok(performance.now() - t < TIME_LIMIT_MS, `${m.name}: too slow`);
  }
  // Both outcomes must be common, or the mutations test little.
  assert.ok(counts.ok > 20 && counts.failed > 100, JSON.stringify(counts));
  // deno-lint-ignore no-console
  console.log(
    `${counts.ok + counts.failed} mutants in-process: ${counts.ok} read, ` +
      `${counts.failed} rejected, ${(performance.now() - t0).toFixed(0)} ms`,
  );
});

const ERROR_LINE = /^hone: read .*: .* at byte \d+$/;

Deno.test("hone read -w of mutated captures: exit 0 or 1, one error line, output tshark reads", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hone_fuzz_" });
  const t0 = performance.now();
  const list = mutants(SPAWNED, SEED ^ 0xb1a5ed);
  const check = async (m: Mutant, i: number) => {
    const f = `${dir}/m${i}.cap`, out = `${dir}/m${i}.pcapng`;
    await Deno.writeFile(f, m.bytes);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${m.name}: no exit in ${SPAWN_LIMIT_MS} ms`)),
        SPAWN_LIMIT_MS,
      );
    });
    const h = await Promise.race([hone(["read", f, "-w", out]), hung])
      .finally(() => clearTimeout(timer));
    assert.ok(h.code === 0 || h.code === 1, `${m.name}: exit ${h.code}`);
    const lines = h.stderr.split("\n").filter((l) => l.length > 0);
    for (const l of lines) assert.match(l, /^hone: /, `${m.name}: ${l}`);
    const errors = lines.filter((l) => !l.startsWith("hone: WARNING: "));
    assert.equal(errors.length, h.code, `${m.name}:\n${h.stderr}`);
    if (h.code === 1) assert.match(errors[0]!, ERROR_LINE, m.name);
    const ts = await run("tshark", ["-r", out]);
    const warnings = ts.stderr.split("\n").filter((l) =>
      l.length > 0 && !l.startsWith("Running as user")
    );
    assert.equal(ts.code, 0, `${m.name}: tshark:\n${ts.stderr}`);
    assert.deepEqual(warnings, [], `${m.name}: tshark warned`);
    return h.code;
  };
  // Two at a time: most of each run is process start-up.
  const codes: number[] = [];
  for (let i = 0; i < list.length; i += 2) {
    codes.push(
      ...await Promise.all(list.slice(i, i + 2).map((m, k) => check(m, i + k))),
    );
  }
  await Deno.remove(dir, { recursive: true });
  // deno-lint-ignore no-console
  console.log(
    `${list.length} mutants through dist/hone and tshark: ` +
      `${codes.filter((c) => c === 0).length} read, ` +
      `${codes.filter((c) => c === 1).length} rejected, ` +
      `${(performance.now() - t0).toFixed(0)} ms`,
  );
});
