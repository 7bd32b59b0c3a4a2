import assert from "node:assert/strict";
import {
  expandRuns,
  HOW_FLAGS,
  packetCount,
  PacketLimit,
  PacketRun,
  partsOf,
  RUN_IN,
  RUN_KEPT,
  RUN_NONE,
  RUN_OUT,
} from "./mod.ts";

function run(n: number, start = 3): PacketRun {
  const batch = new Uint32Array(64).map((_, i) => i);
  const r = new PacketRun(batch, new Uint32Array(start + 10 * n), start, n);
  for (let i = 0; i < n; i++) {
    r.push(
      1000 + i,
      i,
      60,
      4 * i,
      8,
      i === 0 ? 0 : 5,
      i === 1 ? 2 : 0,
      (i % 2 ? RUN_IN : RUN_OUT | RUN_KEPT) |
        (i % 3 ? HOW_FLAGS.reader : 0),
      i === 2 ? RUN_NONE : 40 + i,
      i % 2 ? RUN_NONE : 50 + i,
    );
  }
  return r;
}

Deno.test("PacketRun gives each packet back as the event it stands for", () => {
  const r = run(4);
  assert(r.full);
  assert.equal(r.noProcess, 1);
  const p = expandRuns([r]);
  assert.deepEqual(
    p.map((e) =>
      e.type === "packet" &&
      [e.sec, e.nsec, e.dir, e.pid, e.tid, e.conn, e.len, e.how, e.kept, [
        ...e.data,
      ]]
    ),
    [
      [1000, 0, "out", 40, 50, null, 60, null, true, [0, 0, 0, 0, 1, 0, 0, 0]],
      [1001, 1, "in", 41, null, 2 * 2 ** 32 + 5, 60, "reader", false, [
        1,
        0,
        0,
        0,
        2,
        0,
        0,
        0,
      ]],
      [1002, 2, "out", null, 52, 5, 60, "reader", true, [
        2,
        0,
        0,
        0,
        3,
        0,
        0,
        0,
      ]],
      [1003, 3, "in", 43, null, 5, 60, null, false, [3, 0, 0, 0, 4, 0, 0, 0]],
    ],
  );
  assert.equal(packetCount([r, p[0]!]), 5);
});

Deno.test("PacketLimit cuts a run at the limit, counting its packets without a process", () => {
  const limit = new PacketLimit(3);
  const r = run(4);
  const out = limit.take([r, r]);
  assert.equal(out.length, 1);
  assert.equal(r.length, 3);
  assert.equal(limit.packets, 3);
  assert.equal(limit.noProcess, 1);
  assert(limit.done);
  assert.equal(expandRuns([r]).length, 3);
});

Deno.test("partsOf weighs a run by its packets and never cuts one", () => {
  const a = run(4), b = run(4);
  const c = expandRuns([run(2)]);
  assert.deepEqual(partsOf([a, ...c, b], 16), [[a, ...c, b]]);
  assert.deepEqual(partsOf([a, ...c, b], 6), [[a, ...c], [b]]);
  assert.deepEqual(partsOf([a, b], 3), [[a], [b]]);
});
