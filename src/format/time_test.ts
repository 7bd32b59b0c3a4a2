import assert from "node:assert/strict";
import {
  joinNanoseconds,
  joinTimestamp,
  MICROSECONDS,
  NANOSECONDS,
  resolutionFromByte,
  splitTimestamp,
} from "./time.ts";

Deno.test("splitTimestamp matches bigint arithmetic for ns and us", () => {
  const out = new Float64Array(2);
  const cases = [0n, 1n, 999_999_999n, 1_764_134_800_123_456_789n, 2n ** 63n];
  for (const v of cases) {
    const hi = Number(v >> 32n), lo = Number(v & 0xffffffffn);
    splitTimestamp(hi, lo, NANOSECONDS, out);
    assert.equal(BigInt(out[0]!), v / 1_000_000_000n);
    assert.equal(BigInt(out[1]!), v % 1_000_000_000n);
    splitTimestamp(hi, lo, MICROSECONDS, out);
    assert.equal(BigInt(out[0]!), v / 1_000_000n);
    assert.equal(BigInt(out[1]!), (v % 1_000_000n) * 1000n);
  }
});

Deno.test("joinNanoseconds inverts splitTimestamp", () => {
  const out = new Float64Array(2);
  for (
    const [s, n] of [[0, 0], [1764134800, 123456789], [4294967295, 999999999]]
  ) {
    joinNanoseconds(s!, n!, out);
    const v = (BigInt(out[0]!) << 32n) | BigInt(out[1]!);
    assert.equal(v, BigInt(s!) * 1_000_000_000n + BigInt(n!));
    assert.ok(out[1]! < 2 ** 32);
  }
});

Deno.test("joinTimestamp truncates to microseconds", () => {
  const out = new Float64Array(2);
  joinTimestamp(1764134800, 123456789, MICROSECONDS, out);
  const v = (BigInt(out[0]!) << 32n) | BigInt(out[1]!);
  assert.equal(v, 1764134800123456n);
});

Deno.test("resolutionFromByte handles decimal and binary units", () => {
  assert.equal(resolutionFromByte(6)?.unitsPerSec, 1e6);
  assert.equal(resolutionFromByte(0x80 | 10)?.unitsPerSec, 1024);
  assert.equal(resolutionFromByte(12), null);
});
