import assert from "node:assert/strict";
import { BatchedPacket, type HoneEvent } from "../events/mod.ts";
import { PacketFilterStream } from "./filter_stream.ts";

Deno.test("PacketFilterStream gives back a sensor batch whose packets it all left out", async () => {
  const a = new Uint32Array(8), b = new Uint32Array(8);
  a[0] = b[0] = 0x45;
  const p = (words: Uint32Array, kept: boolean) =>
    new BatchedPacket(0, 0, "out", 1, 20, words, 0, 20, kept);
  const rejectAll = [{ code: 0x06, jt: 0, jf: 0, k: 0 }]; // ret #0
  const given: ArrayBufferLike[] = [];
  const s = new PacketFilterStream(rejectAll, {
    releaseBatch: (x) => given.push(x),
  });
  // b keeps a packet the kernel's filter passed: still pointed into.
  const chunk: HoneEvent[] = [
    p(a, false),
    p(a, false),
    p(b, false),
    p(b, true),
  ];
  const out = await Array.fromAsync(
    ReadableStream.from([chunk]).pipeThrough(s),
  );
  assert.equal(out.flat().length, 1);
  assert.equal(s.counts.rejected, 3);
  assert.deepEqual(given, [a.buffer]);
});
