// Writes the other seed captures of tests/fuzz_test.ts, field by field from
// the specifications (not with hone's writer), deterministically:
//
//   sample_be.pcapng  big-endian pcapng as the original Hone wrote it:
//                     process, connection, packet and statistics blocks
//   sample.pcap       classic pcap, little-endian, Ethernet, microseconds:
//                     IPv4 UDP, IPv6 TCP behind a VLAN tag, and an ARP frame
//
// deno run -A tests/testdata/make_seeds.ts
import { block, Bytes, concat, epb, shb, udp4 } from "./spec_builder.ts";

function bigEndianHone(): Uint8Array {
  const le = false;
  const B = () => new Bytes(le);
  const head = shb(
    le,
    B().opt(257, [0, ...new TextEncoder().encode("host-be")])
      .opt(3, "Linux host-be 3.13.0 #1 SMP ppc64").opt(4, "Hone 0.9").end(),
  );
  const iface = block(
    le,
    1,
    B().u16(101).u16(0).u32(0).opt(2, "any").opt(9, [9]).end().bytes(),
  );
  const us = (t: number) => BigInt(t) * 1000n; // the interface counts ns
  const ts = (t: number) => {
    const n = us(t);
    return B().u32(Number(n >> 32n)).u32(Number(n & 0xffffffffn));
  };
  // A process (0x101), connection (0x102) or statistics (5) block: its
  // leading ids, then the timestamp, then options.
  const event = (type: number, ids: Bytes, t: number, opts?: Bytes) =>
    block(
      le,
      type,
      concat(ids.bytes(), ts(t).bytes(), opts?.bytes() ?? new Uint8Array(0)),
    );
  const exec = event(
    0x101,
    B().u32(3001),
    1_400_000_000_000_000,
    B().optU32(5, 1).optU32(6, 1000).optU32(7, 1000)
      .opt(3, "/usr/bin/wget").opt(4, "wget\0-q\0http://example.org/\0")
      .opt(8, "bob").opt(9, "bob").end(),
  );
  const fork = event(
    0x101,
    B().u32(3002),
    1_400_000_000_000_100,
    B().optU32(2, 1).optU32(5, 3001).end(),
  );
  const conn = () => B().u32(0x9e3779b9).u32(3001);
  const open = event(0x102, conn(), 1_400_000_000_000_200);
  const packet = (t: number, out: boolean, size: number) =>
    epb(
      le,
      us(t),
      out ? udp4(40000, 53, size) : udp4(53, 40000, size),
      28 + size,
      B().optU32(257, 0x9e3779b9).optU32(258, 3001).optU32(2, out ? 2 : 1)
        .opt(1, "seed packet").end(),
    );
  const close = event(
    0x102,
    conn(),
    1_400_000_000_009_000,
    B().optU32(2, 0xffffffff).end(),
  );
  const exit = event(
    0x101,
    B().u32(3001),
    1_400_000_000_009_500,
    B().optU32(2, 0xffffffff).end(),
  );
  const stats = event(
    5,
    B().u32(0),
    1_400_000_000_010_000,
    B().opt(4, B().u64(2n).bytes()).opt(5, B().u64(0n).bytes())
      .opt(257, B().u64(3n).bytes()).opt(258, B().u64(0n).bytes()).end(),
  );
  return concat(
    head,
    iface,
    exec,
    fork,
    open,
    packet(1_400_000_000_000_300, true, 32),
    packet(1_400_000_000_004_000, false, 96),
    close,
    exit,
    stats,
  );
}

function classicPcap(): Uint8Array {
  const le = true;
  const B = () => new Bytes(le);
  const mac = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
  const eth = (type: number, payload: Uint8Array) =>
    concat(new Uint8Array([...mac, type >> 8, type & 0xff]), payload);
  const v6 = new Uint8Array(60);
  v6.set([0x60, 0, 0, 0, 0, 20, 6, 64]);
  v6[23] = 1; // ::1 -> ::2
  v6[39] = 2;
  v6.set([0xa0, 0x00, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02], 40);
  const frames = [
    eth(0x0800, udp4(5353, 5353, 40)),
    concat(
      new Uint8Array([...mac, 0x81, 0x00, 0x00, 0x07]),
      new Uint8Array([0x86, 0xdd]),
      v6,
    ),
    eth(0x0806, new Uint8Array(28).fill(1)),
  ];
  const parts = [
    B().u32(0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0).u32(262144).u32(1)
      .bytes(),
  ];
  frames.forEach((f, i) => {
    parts.push(
      B().u32(1_500_000_000 + i).u32(1000 * i).u32(f.length)
        .u32(f.length).bytes(),
    );
    parts.push(f);
  });
  return concat(...parts);
}

const dir = new URL("./", import.meta.url);
await Deno.writeFile(new URL("sample_be.pcapng", dir), bigEndianHone(), {
  mode: 0o644,
});
await Deno.writeFile(new URL("sample.pcap", dir), classicPcap(), {
  mode: 0o644,
});
