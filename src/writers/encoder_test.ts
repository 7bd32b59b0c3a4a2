import assert from "node:assert/strict";
import { BatchedPacket, type HoneEvent } from "../events/mod.ts";
import { EncoderStream, hostIdText, makeEncoder } from "./encoder.ts";

const events: HoneEvent[] = [
  {
    type: "connection",
    sec: 1,
    nsec: 0,
    event: "open",
    conn: 7,
    pid: 42,
    proto: 6,
    local: null,
    remote: null,
  },
  {
    type: "connection",
    sec: 2,
    nsec: 0,
    event: "close",
    conn: 7,
    pid: 42,
    proto: 6,
    local: null,
    remote: null,
  },
];

Deno.test("with a host id every JSON line starts with host, the rest unchanged", () => {
  const dec = new TextDecoder();
  const plain = dec.decode(
    makeEncoder("json", { snaplen: 0, data: false }).encode(events),
  );
  const withHost = dec.decode(
    makeEncoder("json", {
      snaplen: 0,
      data: false,
      hostId: { kind: "string", value: 'web"1\n' },
    }).encode(events),
  );
  const a = plain.split("\n"), b = withHost.split("\n");
  assert.equal(b.length, a.length);
  for (let i = 0; i < a.length - 1; i++) {
    assert.equal(b[i], `{"host":"web\\"1\\n",` + a[i]!.slice(1));
    assert.equal(JSON.parse(b[i]!).host, 'web"1\n');
  }
  assert.equal(b.at(-1), "");
});

Deno.test("hostIdText prints a GUID as 8-4-4-4-12 hex digits", () => {
  const value = new Uint8Array(16).map((_, i) => i * 17);
  assert.equal(
    hostIdText({ kind: "guid", value }),
    "00112233-4455-6677-8899-aabbccddeeff",
  );
});

Deno.test("EncoderStream hands pcapng buffers over: a batch stays whole until released", async () => {
  const enc = makeEncoder("pcapng", { snaplen: 0, data: false });
  const out = await Array.fromAsync(
    ReadableStream.from([events, events, events]).pipeThrough(
      new EncoderStream(enc),
    ),
  );
  assert.equal(out.length, 3);
  // No batch was written over by the next ones: each decodes alone.
  const plain = makeEncoder("pcapng", { snaplen: 0, data: false });
  const want = [events, events, events].map((e) => plain.encode(e).slice());
  assert.deepEqual(out.map((b) => b.bytes), want);
  assert.equal(new Set(out.map((b) => b.bytes.buffer)).size, 3);
  for (const b of out) assert.equal(typeof b.release, "function");
  // Released, a buffer is written into again (after the one in use).
  out[0]!.release!();
  const more = await Array.fromAsync(
    ReadableStream.from([events, events]).pipeThrough(new EncoderStream(enc)),
  );
  assert.equal(more[1]!.bytes.buffer, out[0]!.bytes.buffer);
});

Deno.test("EncoderStream hands JSON and text buffers over too: each batch stays whole", async () => {
  for (const format of ["json", "text"] as const) {
    const enc = makeEncoder(format, { snaplen: 0, data: false });
    const out = await Array.fromAsync(
      ReadableStream.from([events, events, events]).pipeThrough(
        new EncoderStream(enc),
      ),
    );
    const plain = makeEncoder(format, { snaplen: 0, data: false });
    const want = [events, events, events].map((e) => plain.encode(e).slice());
    // (text ends with its TAIL line, a batch of its own)
    const body = out.slice(0, 3);
    assert.deepEqual(body.map((b) => b.bytes), want, format);
    assert.equal(new Set(body.map((b) => b.bytes.buffer)).size, 3, format);
    out[0]!.release!();
    const more = await Array.fromAsync(
      ReadableStream.from([events, events]).pipeThrough(
        new EncoderStream(enc),
      ),
    );
    assert.equal(more[1]!.bytes.buffer, out[0]!.bytes.buffer, format);
  }
});

Deno.test("EncoderStream gives back each sensor batch its packets point into, once encoded", async () => {
  const batchA = new Uint32Array(16), batchB = new Uint32Array(16);
  batchA[0] = 0x45;
  batchB[0] = 0x45;
  const p = (words: Uint32Array) =>
    new BatchedPacket(1, 0, "out", 7, 20, words, 0, 20, false);
  const owned = p(batchB);
  owned.data = new Uint8Array(20); // a held packet's own copy
  const given: ArrayBufferLike[] = [];
  for (const format of ["pcapng", "json"] as const) {
    given.length = 0;
    const enc = makeEncoder(format, { snaplen: 0, data: false });
    const out = await Array.fromAsync(
      ReadableStream.from([[p(batchA), p(batchA), owned], [events[0]!]])
        .pipeThrough(
          new EncoderStream(enc, { releaseBatch: (b) => given.push(b) }),
        ),
    );
    assert.equal(out.length, 2);
    assert.deepEqual(given, [batchA.buffer], format);
  }
});
