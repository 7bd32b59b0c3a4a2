// deno-lint-ignore-file no-console
/**
 * Helper of bench/flood_bench.sh (configuration "devts"): the least any
 * TypeScript reader of the kernel module's device does. It reads
 * /dev/hone in 1 MiB reads, as `hone record --sensor kmod` does, finds
 * each PCAP-NG block (its length, also across reads) and writes the bytes
 * to /dev/null. No decoding, no correlation, no streams: the floor under
 * hone's user side on the module (issue 9).
 *
 *   [SYNC=1] [GATHER=1] deno run -A bench/kmod_read_only.ts [DEVICE]
 *
 * Runs until killed; the module's statistics count what it read.
 */

const device = Deno.args[0] ?? "/dev/hone";
const dev = Deno.openSync(device, { read: true });
const out = Deno.openSync("/dev/null", { write: true });
const buf = new Uint8Array(1 << 20);
const view = new DataView(buf.buffer);
// SYNC=1: blocking reads on the main thread, no thread hop per read.
const sync = Deno.env.get("SYNC") === "1";
// GATHER=1: after a read under 256 KiB, let records gather 5 ms (as hone
// record's sensor source does), so that each read carries many.
const gather = Deno.env.get("GATHER") === "1";
const nap = new Int32Array(new SharedArrayBuffer(4));
console.error(`devts: listening on ${device}`);
// Bytes of the current block still to come in later reads; bytes of a
// block header cut by a read, kept at the buffer's start.
let skip = 0;
let have = 0;
for (;;) {
  const into = buf.subarray(have);
  const n = sync ? dev.readSync(into) : await dev.read(into);
  if (n === null) {
    // HEIO_RESTART or the end of a section: the next read starts anew.
    skip = have = 0;
    continue;
  }
  if (gather && n < 256 * 1024) {
    if (sync) Atomics.wait(nap, 0, 0, 5);
    else await new Promise((r) => setTimeout(r, 5));
  }
  const total = have + n;
  let o = Math.min(skip, total);
  skip -= o;
  while (o + 8 <= total) {
    const len = view.getUint32(o + 4, true);
    if (len < 12 || len & 3) throw new Error(`devts: bad block length ${len}`);
    if (o + len > total) {
      skip = o + len - total;
      o = total;
      break;
    }
    o += len;
  }
  for (let w = have; w < total;) w += out.writeSync(buf.subarray(w, total));
  have = total - o;
  buf.copyWithin(0, o, total);
}
