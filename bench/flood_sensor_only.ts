// deno-lint-ignore-file no-console
/**
 * Helper of bench/flood_bench.sh (configuration "sensor"): hone's eBPF
 * sensor with a consumer that only counts, to split the cost of a capture
 * into the kernel side (BPF programs, ring buffer, wake-ups) and hone's
 * user space (decode, correlate, encode).
 *
 *   deno run -A bench/flood_sensor_only.ts LIBHONE.so [SNAPLEN]
 *
 * Environment: WAKEUP_BYTES (0 = the shim's default, 256 KiB; 1 = every
 * record), RINGBUF_MIB (default 16), NETFILTER (1; 0 = off), DUMP (a file:
 * every batch read is appended to it as a little-endian u32 length and the
 * bytes; a new file, 0600, for bench/record_replay.ts).
 * Stops at SIGINT and prints hone record's counters to stderr.
 * Sets only the fixed start of struct hone_options (every ABI has it) in a
 * buffer of the library's own size of the struct, the rest zero (no
 * filter, no expression); reads the fixed start of hone_stats.
 *
 * FRAME=1 makes it the floor of any TypeScript framing instead: it polls
 * as hone record does (a 5 ms gather after a batch under 256 KiB, on the
 * FFI call's worker thread) and writes each packet record as an EPB with
 * no options (header, data copied a word at a time, trailer) into a
 * reused buffer that goes to /dev/null; FRAME=2 adds the options hone
 * writes on a loopback packet (connection, pid, flags, pid/tid and a
 * 64-byte process comment): the same bytes per packet as hone's pcapng,
 * with no correlation, no streams and no objects.
 */

const [lib, snapArg] = Deno.args;
if (!lib) {
  console.error("usage: flood_sensor_only.ts LIBHONE.so [SNAPLEN]");
  Deno.exit(2);
}
const dl = Deno.dlopen(lib, {
  hone_start: { parameters: ["buffer"], result: "i32" },
  hone_poll: {
    parameters: ["buffer", "u32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  hone_poll_after: {
    parameters: ["buffer", "u32", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  hone_stats: { parameters: ["buffer"], result: "i32" },
  hone_abi_version: { parameters: [], result: "u32" },
  hone_record_size: { parameters: ["u32"], result: "u32" },
  hone_strerror_step: { parameters: [], result: "pointer" },
  hone_stop: { parameters: [], result: "void" },
});
const s = dl.symbols;
// HONE_SIZEOF_OPTIONS: the whole struct, which hone_start() reads.
const opts = new Uint8Array(s.hone_record_size(0x101));
const ov = new DataView(opts.buffer);
ov.setUint32(0, s.hone_abi_version(), true);
ov.setUint32(4, Deno.env.get("NETFILTER") === "0" ? 0 : 1, true);
ov.setUint32(8, Number(snapArg ?? 128), true);
ov.setUint32(12, Deno.pid, true);
ov.setBigUint64(
  16,
  BigInt(Number(Deno.env.get("RINGBUF_MIB") ?? 16) << 20),
  true,
);
ov.setBigUint64(24, BigInt(Deno.env.get("WAKEUP_BYTES") ?? 0), true);
const rc = s.hone_start(opts);
if (rc < 0) {
  const p = s.hone_strerror_step();
  const step = p ? new Deno.UnsafePointerView(p).getCString() : "start";
  console.error(`sensor: ${step} failed: errno ${-rc}`);
  Deno.exit(1);
}
console.error("sensor: listening on all sockets (null consumer)");
let stop = false;
Deno.addSignalListener("SIGINT", () => stop = true);
Deno.addSignalListener("SIGTERM", () => stop = true);
const buf = new Uint8Array(8 << 20);
const bv = new DataView(buf.buffer);
let packets = 0;
const dumpPath = Deno.env.get("DUMP");
const dump = dumpPath
  ? Deno.openSync(dumpPath, {
    write: true,
    createNew: true,
    mode: 0o600,
  })
  : null;
const dumpLen = new Uint8Array(4);
const frame = Number(Deno.env.get("FRAME") ?? 0);
const out32 = new Uint32Array(8 << 20);
const words = new Uint32Array(buf.buffer);
const comment = new Uint32Array(17).fill(0x41414141);
comment[0] = 1 | (64 << 16);
const devNull = frame ? Deno.openSync("/dev/null", { write: true }) : null;
const out8 = new Uint8Array(out32.buffer);
// One EPB per packet record, as little as hone's format asks for.
const frameBatch = (n: number) => {
  let q = 0;
  for (let o = 0; o < n; o += words[(o >> 2) + 1]!) {
    const w = o >> 2;
    if (words[w] === 1) {
      packets++;
      const cap = words[w + 10]!;
      const pad = (cap + 3) >> 2;
      const total = 36 + (pad << 2) + (frame >= 2 ? 40 + 68 : 0);
      out32[q] = 6;
      out32[q + 1] = total;
      out32[q + 2] = 0;
      out32[q + 3] = words[w + 3]!;
      out32[q + 4] = words[w + 2]!;
      out32[q + 5] = cap;
      out32[q + 6] = words[w + 9]!;
      q += 7;
      const from = w + 14;
      for (let k = 0; k < pad; k++) out32[q + k] = words[from + k]!;
      q += pad;
      if (frame >= 2) {
        out32[q] = 0x102 | (8 << 16);
        out32[q + 1] = words[w + 4]!;
        out32[q + 2] = words[w + 5]!;
        out32[q + 3] = 0x101 | (4 << 16);
        out32[q + 4] = words[w + 6]!;
        out32[q + 5] = 2 | (4 << 16);
        out32[q + 6] = words[w + 11]!;
        out32[q + 7] = 8 | (8 << 16);
        out32[q + 8] = words[w + 6]!;
        out32[q + 9] = words[w + 7]!;
        q += 10;
        for (let k = 0; k < 17; k++) out32[q + k] = comment[k]!;
        q += 17;
      }
      out32[q] = 0;
      out32[q + 1] = total;
      q += 2;
    }
  }
  for (let o = 0, end = q << 2; o < end;) {
    o += devNull!.writeSync(out8.subarray(o, end));
  }
};
const count = (n: number) => {
  if (frame) return frameBatch(n);
  if (dump && n > 0) {
    new DataView(dumpLen.buffer).setUint32(0, n, true);
    for (let o = 0; o < 4;) o += dump.writeSync(dumpLen.subarray(o));
    for (let o = 0; o < n;) o += dump.writeSync(buf.subarray(o, n));
  }
  for (let o = 0; o < n;) {
    if (bv.getUint32(o, true) === 1) packets++;
    o += bv.getUint32(o + 4, true);
  }
};
let gather = false;
while (!stop) {
  const n = frame
    ? await s.hone_poll_after(buf, 2 << 20, gather ? 5 : 0, 100)
    : await s.hone_poll(buf, buf.length, 100);
  gather = n > 0 && n < 256 * 1024;
  if (n < 0) {
    console.error(`sensor: poll: errno ${-n}`);
    break;
  }
  count(n);
}
for (let i = 0; i < 64; i++) {
  const n = await s.hone_poll(buf, buf.length, 0);
  if (n <= 0) break;
  count(n);
}
const st = new Uint8Array(96);
s.hone_stats(st);
const sv = new DataView(st.buffer);
const u = (i: number) => Number(sv.getBigUint64(i * 8, true));
console.error(
  [
    `${packets} packets captured`,
    `${u(0) + u(2)} packets received by filter`,
    `${u(1)} packets dropped by kernel`,
    `0 packets without a process`,
    `${u(5) + u(7)} process and socket events dropped by kernel`,
  ].join("\n"),
);
s.hone_stop();
dl.close();
dump?.close();
