import assert from "node:assert/strict";
import {
  addCall,
  callAt,
  MAX_TIMELINE,
  newTimeline,
  seqLe,
} from "./timeline.ts";

Deno.test("callAt finds the datagram reader, and waits on the last one", () => {
  const t = newTimeline();
  addCall(t, 0, 1, 41, 41);
  addCall(t, 1, 2, 42, 43);
  assert.equal(callAt(t, 0, false, false), 0);
  assert.equal(callAt(t, 1, false, false), 1);
  // Not read yet: the last reader only when nothing better will come.
  assert.equal(callAt(t, 2, false, false), -1);
  assert.equal(callAt(t, 2, false, true), 1);
});

Deno.test("callAt works across the TCP sequence wrap", () => {
  const t = newTimeline();
  const start = 0xffff_fff0;
  addCall(t, start, (start + 0x20) >>> 0, 5, 5);
  assert.equal(callAt(t, 0x8, true, false), 0);
  assert.equal(callAt(t, 0x10, true, false), -1);
  assert.ok(seqLe(0xffff_ffff, 1));
  assert.ok(!seqLe(1, 0xffff_ffff));
});

Deno.test("a timeline keeps the newest calls only", () => {
  const t = newTimeline();
  for (let i = 0; i < MAX_TIMELINE + 10; i++) addCall(t, i, i + 1, i, i);
  assert.equal(t.starts.length, MAX_TIMELINE);
  assert.equal(t.starts[0], 10);
  assert.equal(callAt(t, 5, false, true), -1);
});
