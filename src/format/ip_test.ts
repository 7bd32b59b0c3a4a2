import assert from "node:assert/strict";
import {
  emptySummary,
  formatAddress,
  formatIpv4,
  formatIpv6,
  formatIpv6Full,
  type IpSummary,
  packetSummary,
  summarizeIp,
} from "./ip.ts";

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
  assert.deepEqual([
    s.version,
    s.nextHeader,
    s.proto,
    s.l4,
    formatAddress(p, s, true),
    formatAddress(p, s, false),
    s.sport,
    s.dport,
  ], [6, 0, 6, 48, "::1", "::1", 8080, 80]);
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
  const cut = p.subarray(0, 19);
  assert.equal(
    formatAddress(cut, summarizeIp(cut, emptySummary()), true),
    null,
  );
});

/** Bytes of an IPv4 packet: header (IHL 5), then `l4`. */
function ipv4(proto: number, l4: number[], frag = 0): Uint8Array {
  const total = 20 + l4.length;
  return new Uint8Array([
    0x45,
    0,
    total >> 8,
    total & 0xff,
    0,
    0,
    frag >> 8,
    frag & 0xff,
    64,
    proto,
    0,
    0,
    10,
    0,
    0,
    1,
    192,
    168,
    1,
    2,
    ...l4,
  ]);
}

/** Bytes of an IPv6 packet: fixed header, extension headers, `l4`. */
function ipv6(next: number, rest: number[]): Uint8Array {
  const b = new Uint8Array(40 + rest.length);
  b[0] = 0x60;
  b[4] = rest.length >> 8;
  b[5] = rest.length & 0xff;
  b[6] = next;
  b[7] = 64;
  b[8] = 0x20;
  b[9] = 0x01;
  b[23] = 1;
  b[24] = 0xfe;
  b[25] = 0x80;
  b[39] = 2;
  b.set(rest, 40);
  return b;
}

/** A TCP header (data offset 5) with sequence number 0x01020304. */
const TCP = [
  0x1f,
  0x90,
  0,
  80,
  1,
  2,
  3,
  4,
  0,
  0,
  0,
  0,
  0x50,
  0x18,
  0,
  0,
  0,
  0,
  0,
  0,
];

function pick(s: IpSummary): number[] {
  return [
    s.version,
    s.headerLen,
    s.nextHeader,
    s.proto,
    s.l4,
    s.sport,
    s.dport,
    s.icmpType,
    s.icmpCode,
    s.tcpSeq,
    s.tcpPayload,
  ];
}

Deno.test("summarizeIp reads an IPv4 TCP segment's ports, sequence and payload length", () => {
  const p = ipv4(6, [...TCP, 0x41, 0x42, 0x43]);
  const s = summarizeIp(p, emptySummary());
  assert.deepEqual(pick(s), [4, 20, 6, 6, 20, 8080, 80, -1, -1, 0x01020304, 3]);
  assert.equal(formatAddress(p, s, true), "10.0.0.1");
  assert.equal(formatAddress(p, s, false), "192.168.1.2");
});

Deno.test("summarizeIp gives the TCP sequence only with 13 bytes of TCP header", () => {
  const p = ipv4(6, TCP);
  assert.equal(summarizeIp(p.subarray(0, 32), emptySummary()).tcpSeq, -1);
  const s = summarizeIp(p.subarray(0, 33), emptySummary());
  assert.deepEqual([s.sport, s.tcpSeq, s.tcpPayload], [8080, 0x01020304, 0]);
});

Deno.test("summarizeIp reports what each truncation leaves", () => {
  const p = ipv4(17, [0, 53, 0x30, 0x39, 0, 8, 0, 0]);
  assert.deepEqual(pick(summarizeIp(p.subarray(0, 0), emptySummary())), [
    0,
    -1,
    -1,
    -1,
    -1,
    -1,
    -1,
    -1,
    -1,
    -1,
    -1,
  ]);
  assert.deepEqual(pick(summarizeIp(p.subarray(0, 1), emptySummary())), [
    4,
    -1,
    -1,
    -1,
    -1,
    -1,
    -1,
    -1,
    -1,
    -1,
    -1,
  ]);
  assert.deepEqual(pick(summarizeIp(p.subarray(0, 23), emptySummary())), [
    4,
    20,
    17,
    17,
    20,
    -1,
    -1,
    -1,
    -1,
    -1,
    -1,
  ]);
  assert.deepEqual(pick(summarizeIp(p.subarray(0, 24), emptySummary())), [
    4,
    20,
    17,
    17,
    20,
    53,
    12345,
    -1,
    -1,
    -1,
    -1,
  ]);
  // Version 5 is not IP.
  assert.equal(
    summarizeIp(new Uint8Array([0x50, 0]), emptySummary()).version,
    0,
  );
  // IPv6 cut inside the fixed header: no addresses.
  const v6 = ipv6(17, [0, 53, 0x30, 0x39]);
  const s = summarizeIp(v6.subarray(0, 39), emptySummary());
  assert.deepEqual([s.version, s.headerLen, formatAddress(v6, s, true)], [
    6,
    -1,
    null,
  ]);
});

Deno.test("summarizeIp reads no transport header in a later IPv4 fragment", () => {
  const first = summarizeIp(ipv4(6, TCP, 0x2000), emptySummary()); // MF, offset 0
  assert.deepEqual([first.l4, first.sport, first.tcpSeq], [
    20,
    8080,
    0x01020304,
  ]);
  const later = summarizeIp(ipv4(6, TCP, 0x0010), emptySummary()); // offset 16 × 8
  assert.deepEqual(pick(later), [4, 20, 6, 6, -1, -1, -1, -1, -1, -1, -1]);
});

Deno.test("summarizeIp skips IPv6 extension headers to the transport header", () => {
  // Hop-by-hop (8 bytes), routing (16 bytes), then UDP.
  const p = ipv6(0, [
    43,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    17,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    53,
    0x30,
    0x39,
    0,
    8,
    0,
    0,
  ]);
  const s = summarizeIp(p, emptySummary());
  assert.deepEqual(pick(s), [6, 40, 0, 17, 64, 53, 12345, -1, -1, -1, -1]);
  assert.equal(formatAddress(p, s, true), "2001::1");
  assert.equal(formatAddress(p, s, false), "fe80::2");
  // Cut inside the routing header: its type is the protocol, no ports.
  const cut = summarizeIp(p.subarray(0, 49), emptySummary());
  assert.deepEqual([cut.proto, cut.l4, cut.sport], [43, -1, -1]);
  // An authentication header counts its length in 4-byte words, plus 2.
  const ah = ipv6(51, [6, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...TCP]);
  assert.deepEqual(pick(summarizeIp(ah, emptySummary())), [
    6,
    40,
    51,
    6,
    52,
    8080,
    80,
    -1,
    -1,
    0x01020304,
    0,
  ]);
});

Deno.test("summarizeIp reads the transport header of a first IPv6 fragment", () => {
  const p = ipv6(44, [6, 0, 0, 1, 0, 0, 0, 7, ...TCP]); // offset 0, M
  const s = summarizeIp(p, emptySummary());
  assert.deepEqual([s.proto, s.l4, s.sport, s.dport], [6, 48, 8080, 80]);
});

Deno.test("summarizeIp reads ICMP and ICMPv6 type and code", () => {
  const v4 = summarizeIp(ipv4(1, [8, 0, 0, 0]), emptySummary());
  assert.deepEqual([v4.proto, v4.icmpType, v4.icmpCode, v4.sport], [
    1,
    8,
    0,
    -1,
  ]);
  const v6 = ipv6(60, [58, 0, 0, 0, 0, 0, 0, 0, 135, 0, 0, 0]);
  const s = summarizeIp(v6, emptySummary());
  assert.deepEqual([s.proto, s.l4, s.icmpType, s.icmpCode], [58, 48, 135, 0]);
  assert.equal(summarizeIp(v6.subarray(0, 49), emptySummary()).icmpType, -1);
});

Deno.test("summarizeIp resets every field of a reused summary", () => {
  const s = summarizeIp(ipv4(6, TCP), emptySummary());
  assert.deepEqual(
    pick(summarizeIp(new Uint8Array(0), s)),
    pick(emptySummary()),
  );
});

Deno.test("packetSummary parses once and keeps the summary on the event", () => {
  const e: { data: Uint8Array; ip?: IpSummary | null } = { data: ipv4(6, TCP) };
  const s = packetSummary(e);
  assert.equal(e.ip, s);
  assert.equal(packetSummary(e), s);
  assert.equal(s.dport, 80);
});

Deno.test("formatIpv4 prints dotted decimal", () => {
  assert.equal(
    formatIpv4(new Uint8Array([0, 255, 10, 0, 0, 1]), 2),
    "10.0.0.1",
  );
});
