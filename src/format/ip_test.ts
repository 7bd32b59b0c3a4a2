import assert from "node:assert/strict";
import { emptySummary, formatIpv6, formatIpv6Full, summarizeIp } from "./ip.ts";

function v6(bytes: number[]): Uint8Array {
  const a = new Uint8Array(16);
  a.set(bytes);
  return a;
}

Deno.test("formatIpv6 compresses the longest zero run", () => {
  assert.equal(formatIpv6(v6([0, 0]), 0), "::");
  assert.equal(
    formatIpv6(v6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1]), 0),
    "2001:db8:0:0:1::",
  );
  assert.equal(
    formatIpv6(v6([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), 0),
    "fe80::1",
  );
  assert.equal(
    formatIpv6(v6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]), 0),
    "::ffff:127.0.0.1",
  );
  assert.equal(
    formatIpv6Full(v6([]), 0),
    "0000:0000:0000:0000:0000:0000:0000:0000",
  );
});

Deno.test("summarizeIp reads IPv6 TCP ports after a hop-by-hop header", () => {
  const p = new Uint8Array(40 + 8 + 20);
  p[0] = 0x60;
  p[6] = 0; // hop-by-hop
  p[23] = 1;
  p[39] = 1;
  p[40] = 6; // next: TCP
  p[41] = 0; // 8 bytes
  p.set([0x1f, 0x90, 0x00, 0x50], 48);
  const s = summarizeIp(p, emptySummary());
  assert.deepEqual([s.version, s.proto, s.src, s.dst, s.sport, s.dport], [
    6,
    6,
    "::1",
    "::1",
    8080,
    80,
  ]);
});

Deno.test("summarizeIp survives truncation at every byte", () => {
  const p = new Uint8Array([
    0x45,
    0,
    0,
    28,
    0,
    0,
    0,
    0,
    64,
    1,
    0,
    0,
    10,
    0,
    0,
    1,
    10,
    0,
    0,
    2,
    8,
    0,
    0,
    0,
  ]);
  for (let n = 0; n <= p.length; n++) {
    summarizeIp(p.subarray(0, n), emptySummary());
  }
  const s = summarizeIp(p, emptySummary());
  assert.equal(s.icmpType, 8);
  assert.equal(summarizeIp(p.subarray(0, 19), emptySummary()).src, null);
});
