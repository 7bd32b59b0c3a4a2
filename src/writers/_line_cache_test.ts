import assert from "node:assert/strict";
import type { HoneEvent, PacketEvent } from "../events/types.ts";
import { processEvent } from "../events/types.ts";
import { TextWriter } from "./text/text_writer.ts";
import { JsonlWriter } from "./jsonl/jsonl_writer.ts";

/** A UDP/IPv4 packet from a.b.c.d:sport to 10.0.0.9:dport. */
function udp4(src: number[], sport: number, dport: number): Uint8Array {
  const d = new Uint8Array(28);
  d.set([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0], 0);
  d.set(src, 12);
  d.set([10, 0, 0, 9], 16);
  d.set([sport >> 8, sport & 255, dport >> 8, dport & 255, 0, 8, 0, 0], 20);
  return d;
}

/** An ICMPv6 echo request from ::1 to ::a:b. */
function icmp6(last: number): Uint8Array {
  const d = new Uint8Array(48);
  d.set([0x60, 0, 0, 0, 0, 8, 58, 64], 0);
  d[23] = 1;
  d[38] = 0xa;
  d[39] = last;
  d.set([128, 0, 0, 0], 40);
  return d;
}

function pkt(over: Partial<PacketEvent>, data: Uint8Array): PacketEvent {
  return {
    type: "packet",
    sec: 7,
    nsec: 1,
    dir: "out",
    pid: 10,
    tid: 10,
    conn: 5,
    len: data.length,
    data,
    how: "sender",
    ...over,
  };
}

const procs: HoneEvent[] = [10, 11].map((pid) =>
  processEvent({
    sec: 1,
    nsec: 0,
    event: "exec",
    pid,
    exe: "/bin/x",
    comm: `p${pid}`,
  })
);

/** One connection whose every printed value changes from packet to packet. */
const packets: PacketEvent[] = [
  pkt({}, udp4([1, 2, 3, 4], 100, 53)),
  pkt({ nsec: 2 }, udp4([1, 2, 3, 4], 100, 53)),
  pkt({ tid: 13 }, udp4([1, 2, 3, 4], 100, 53)),
  pkt({ pid: 11, tid: 12 }, udp4([1, 2, 3, 4], 100, 53)),
  pkt({ pid: 11, tid: 12, how: "reader" }, udp4([1, 2, 3, 4], 100, 53)),
  pkt({ dir: "in" }, udp4([1, 2, 3, 4], 100, 53)),
  pkt({ dir: "in" }, udp4([1, 2, 3, 5], 100, 53)),
  pkt({ dir: "in" }, udp4([1, 2, 3, 5], 101, 53)),
  pkt({ dir: "in" }, udp4([1, 2, 3, 5], 101, 54)),
  pkt({ dir: null }, udp4([1, 2, 3, 5], 101, 54)),
  pkt({}, icmp6(1)),
  pkt({}, icmp6(2)),
  pkt({}, udp4([1, 2, 3, 4], 100, 53).subarray(0, 12)),
  pkt({ sec: 8 }, udp4([1, 2, 3, 4], 100, 53)),
];

for (
  const [name, make] of [
    ["JsonlWriter", () => new JsonlWriter()],
    ["JsonlWriter with data", () => new JsonlWriter({ data: true })],
    ["TextWriter", () => new TextWriter()],
  ] as const
) {
  Deno.test(`${name}: a connection's packets print as if each were its writer's first`, () => {
    const w = make();
    const lines = w.encode([...procs, ...packets]).split("\n");
    const head = make().encode(procs).split("\n").length - 1;
    packets.forEach((p, i) => {
      const alone = make().encode([...procs, p]).split("\n");
      assert.equal(lines[head + i], alone[head], `packet ${i}`);
    });
  });
}
