import assert from "node:assert/strict";
import type { ChunkEvent, PacketEvent } from "../events/mod.ts";
import { type Held, HoldQueue } from "./hold_queue.ts";

function packet(n: number): PacketEvent {
  return {
    type: "packet",
    sec: n,
    nsec: 0,
    dir: "in",
    pid: null,
    tid: null,
    conn: 7,
    len: 1,
    data: new Uint8Array([n]),
    how: null,
  };
}

const secs = (es: ChunkEvent[]) => es.map((e) => (e as PacketEvent).sec);

Deno.test("HoldQueue keeps order behind a waiting packet and lets it go at its deadline", () => {
  const q = new HoldQueue();
  const never = () => false;
  q.pass(packet(1));
  q.hold(packet(2), 7, 100);
  q.pass(packet(3));
  assert.deepEqual(secs(q.drain(50, false, never)), [1]);
  let finals = 0;
  const atDeadline = (_h: Held, final: boolean) => final && ++finals > 0;
  assert.deepEqual(secs(q.drain(100, false, atDeadline)), [2, 3]);
  assert.equal(finals, 1);
});

Deno.test("HoldQueue settles a waiting packet as soon as its owner is known", () => {
  const q = new HoldQueue();
  q.hold(packet(1), 7, 1000);
  q.pass(packet(2));
  q.resolve((h) => {
    (h.event as PacketEvent).pid = 42;
    return true;
  });
  const out = q.drain(0, false, () => false);
  assert.deepEqual(secs(out), [1, 2]);
  assert.equal((out[0] as PacketEvent).pid, 42);
});

Deno.test("HoldQueue lets the oldest go when more than its bound wait", () => {
  const q = new HoldQueue(3);
  for (let i = 0; i < 5; i++) q.hold(packet(i), 7, 1000);
  assert.deepEqual(secs(q.drain(0, false, () => true)), [0, 1]);
  assert.deepEqual(secs(q.drain(0, true, () => true)), [2, 3, 4]);
});

Deno.test("HoldQueue copies a queued packet's bytes out of the batch buffer", () => {
  const q = new HoldQueue();
  const p = packet(9);
  const batch = p.data;
  q.hold(p, 7, 1000);
  batch[0] = 0;
  const out = q.drain(0, true, () => true) as PacketEvent[];
  assert.equal(out[0]!.data[0], 9);
});
