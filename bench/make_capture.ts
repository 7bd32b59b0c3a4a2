/**
 * Writes a realistic hone pcapng for the read benchmarks, with hone's own
 * writer: a few hundred process (fork, exec, exit) and connection (open,
 * close) events around N IPv4 TCP/UDP packets of 60–200 bytes on the wire,
 * cut at snaplen 128. Every packet has a pid, a tid, a connection id and a
 * direction, so every EPB carries options 257, 258, 2, 8 and a comment.
 *
 *     deno run -A bench/make_capture.ts OUT.pcapng [PACKETS]   # default 1000000
 *
 * The output is deterministic (a fixed-seed generator).
 *
 * @module
 */

import {
  type ConnectionEvent,
  type HoneEvent,
  type PacketEvent,
  processEvent,
} from "../src/events/types.ts";
import { PcapngWriter } from "../src/writers/pcapng/pcapng_writer.ts";

const SNAPLEN = 128;
const BATCH = 10_000;
const PROCS = 200;
const CONNS = 300;
const T0 = 1764134800;
const STEP_NS = 10_000; // one packet every 10 µs

const COMMANDS: [string, string[]][] = [
  ["/usr/bin/curl", ["curl", "-s", "https://example.org/"]],
  ["/usr/sbin/sshd", ["sshd:", "alice", "[priv]"]],
  ["/usr/bin/python3", ["python3", "-m", "http.server", "8080"]],
  ["/usr/lib/firefox/firefox", ["firefox", "-contentproc", "-childID", "7"]],
  ["/usr/sbin/named", ["named", "-u", "bind", "-f"]],
  ["/usr/bin/git", ["git", "fetch", "origin"]],
  ["/usr/sbin/chronyd", ["chronyd", "-F", "1"]],
  ["/usr/bin/wget", ["wget", "-q", "http://deb.debian.org/debian/"]],
];

/** xorshift32: deterministic, fast. */
let seed = 0x9e3779b9;
function rnd(n: number): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
}

interface Conn {
  id: number;
  pid: number;
  tid: number;
  tcp: boolean;
  /** Headers + payload (SNAPLEN bytes) for out and in, total length unset. */
  out: Uint8Array;
  in: Uint8Array;
}

function ipChecksum(b: Uint8Array, at: number): number {
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (b[at + i]! << 8) | b[at + i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function template(
  tcp: boolean,
  src: number[],
  dst: number[],
  sport: number,
  dport: number,
): Uint8Array {
  const b = new Uint8Array(SNAPLEN);
  b[0] = 0x45;
  b[6] = 0x40; // DF
  b[8] = 64;
  b[9] = tcp ? 6 : 17;
  b.set(src, 12);
  b.set(dst, 16);
  b[20] = sport >>> 8;
  b[21] = sport & 0xff;
  b[22] = dport >>> 8;
  b[23] = dport & 0xff;
  if (tcp) {
    for (let i = 24; i < 32; i++) b[i] = rnd(256); // seq, ack
    b[32] = 0x50; // data offset 5
    b[33] = 0x18; // PSH ACK
    b[34] = 0xfa; // window
    b[35] = 0xf0;
  }
  const payload = tcp ? 40 : 28;
  for (let i = payload; i < SNAPLEN; i++) b[i] = 0x20 + rnd(0x5f);
  return b;
}

function makeConns(pids: number[]): Conn[] {
  const conns: Conn[] = [];
  const local = [10, 0, 0, 2];
  for (let i = 0; i < CONNS; i++) {
    const tcp = rnd(4) !== 0;
    const remote = [93, 184, rnd(256), 1 + rnd(254)];
    const lport = 32768 + rnd(28000);
    const rport = tcp ? [443, 80, 22, 8080][rnd(4)]! : [53, 123, 443][rnd(3)]!;
    const pid = pids[rnd(pids.length)]!;
    conns.push({
      id: 4096 + i * 7,
      pid,
      tid: pid + rnd(3),
      tcp,
      out: template(tcp, local, remote, lport, rport),
      in: template(tcp, remote, local, rport, lport),
    });
  }
  return conns;
}

async function writeAll(f: Deno.FsFile, b: Uint8Array): Promise<void> {
  let off = 0;
  while (off < b.length) off += await f.write(b.subarray(off));
}

/**
 * Writes the capture.
 *
 * @param path Output file.
 * @param packets Number of packets.
 */
export async function makeCapture(
  path: string,
  packets: number,
): Promise<void> {
  const w = new PcapngWriter({ snaplen: SNAPLEN, os: "Linux bench 6.12" });
  const f = await Deno.open(path, {
    write: true,
    create: true,
    truncate: true,
  });
  let ns = 0;
  const stamp = () => {
    ns += STEP_NS;
    return { sec: T0 + Math.floor(ns / 1e9), nsec: ns % 1e9 };
  };
  // Processes: a fork then an exec for each.
  const pids: number[] = [];
  const head: HoneEvent[] = [];
  for (let i = 0; i < PROCS; i++) {
    const pid = 2000 + i * 13;
    const [exe, argv] = COMMANDS[i % COMMANDS.length]!;
    pids.push(pid);
    head.push(processEvent({
      ...stamp(),
      event: "fork",
      pid,
      tid: pid,
      ppid: 1,
      uid: 1000,
      gid: 100,
    }));
    head.push(processEvent({
      ...stamp(),
      event: "exec",
      pid,
      tid: pid,
      ppid: 1,
      uid: 1000,
      gid: 100,
      user: "alice",
      group: "users",
      exe,
      argv,
      comm: exe.slice(exe.lastIndexOf("/") + 1, exe.lastIndexOf("/") + 16),
    }));
  }
  const conns = makeConns(pids);
  // Connections open as the capture goes, spread over its first half.
  const opens = conns.map((_, i) => Math.floor((i * packets) / 2 / CONNS));
  let nextOpen = 0;
  const open: Conn[] = [];
  await writeAll(f, w.encode(head));

  let done = 0;
  while (done < packets) {
    const n = Math.min(BATCH, packets - done);
    const batch: HoneEvent[] = [];
    const mem = new Uint8Array(n * SNAPLEN); // packet bytes for this batch
    for (let k = 0; k < n; k++) {
      const i = done + k;
      while (nextOpen < CONNS && opens[nextOpen]! <= i) {
        const c = conns[nextOpen++]!;
        open.push(c);
        const ev: ConnectionEvent = {
          type: "connection",
          ...stamp(),
          event: "open",
          conn: c.id,
          pid: c.pid,
        };
        batch.push(ev);
      }
      // Recent connections are the busiest.
      const c = open[
        open.length - 1 -
        (rnd(8) === 0 ? rnd(open.length) : rnd(Math.min(open.length, 4)))
      ]!;
      const outgoing = rnd(2) === 0;
      const len = 60 + rnd(141);
      const cap = Math.min(len, SNAPLEN);
      const data = mem.subarray(k * SNAPLEN, k * SNAPLEN + cap);
      data.set((outgoing ? c.out : c.in).subarray(0, cap));
      data[2] = len >>> 8;
      data[3] = len & 0xff;
      data[4] = (i >>> 8) & 0xff; // IP id
      data[5] = i & 0xff;
      if (!c.tcp) {
        data[24] = (len - 20) >>> 8; // UDP length
        data[25] = (len - 20) & 0xff;
      }
      const sum = ipChecksum(data, 0);
      data[10] = sum >>> 8;
      data[11] = sum & 0xff;
      const p: PacketEvent = {
        type: "packet",
        ...stamp(),
        dir: outgoing ? "out" : "in",
        pid: c.pid,
        tid: c.tid,
        conn: c.id,
        len,
        data,
      };
      batch.push(p);
    }
    done += n;
    if (done === packets) {
      for (const c of conns.slice(0, nextOpen)) {
        batch.push({
          type: "connection",
          ...stamp(),
          event: "close",
          conn: c.id,
          pid: c.pid,
        });
      }
      for (const pid of pids) {
        batch.push(processEvent({
          ...stamp(),
          event: "exit",
          pid,
          tid: pid,
          ppid: 1,
          exitCode: 0,
        }));
      }
    }
    await writeAll(f, w.encode(batch));
  }
  f.close();
}

if (import.meta.main) {
  const [path, count] = Deno.args;
  if (!path) {
    Deno.stderr.writeSync(
      new TextEncoder().encode(
        "usage: deno run -A bench/make_capture.ts OUT.pcapng [PACKETS]\n",
      ),
    );
    Deno.exit(2);
  }
  const packets = count ? Number(count) : 1_000_000;
  const t = performance.now();
  await makeCapture(path, packets);
  const s = ((performance.now() - t) / 1000).toFixed(2);
  Deno.stderr.writeSync(
    new TextEncoder().encode(`wrote ${packets} packets to ${path} in ${s} s\n`),
  );
}
