import assert from "node:assert/strict";
import { BatchPool } from "./batch_pool.ts";

Deno.test("BatchPool lends at most max buffers and takes back only its own, once", () => {
  const pool = new BatchPool(64, 2);
  const a = pool.take()!, b = pool.take()!;
  assert.equal(a.length, 64);
  assert.notEqual(a.buffer, b.buffer);
  assert.equal(pool.take(), null, "all out: the caller copies instead");
  pool.give(new ArrayBuffer(64)); // not the pool's
  assert.equal(pool.take(), null);
  pool.give(a.subarray(8).buffer); // a view's buffer is the buffer's
  pool.give(a.buffer); // twice: ignored
  assert.equal(pool.take(), a);
  assert.equal(pool.take(), null, "given back once, lent once");
  pool.give(b.buffer);
  pool.give(a.buffer);
  const again = [pool.take(), pool.take()];
  assert.deepEqual(new Set(again), new Set([a, b]));
});
