/**
 * End-to-end test of the eBPF sensor on the real kernel (needs root and
 * build/ffi/libhone.so, or HONE_SHIM): starts the sensor, makes loopback
 * traffic from child processes with known pids, and checks that packets,
 * sockets and processes are reported and attributed to them.
 *
 *   deno test -A tests/sensor_test.ts
 */
import assert from "node:assert/strict";
import { forEachRecord, type HoneRecord } from "../src/records/decode.ts";
import type {
  PacketRecord,
  ProcExecRecord,
  SnapSocketRecord,
  SockCreateRecord,
  SockUseRecord,
} from "../src/records/decode.ts";
import { DIR_IN, DIR_OUT, USE_FIRST } from "../src/records/layout.ts";
import { openSensor, type Sensor } from "../src/sensor/shim.ts";
import { bpfFreed, bpfIdsHeldBy, until } from "./_helpers.ts";

const SHIM = Deno.env.get("HONE_SHIM") ||
  new URL("../build/ffi/libhone.so", import.meta.url).pathname;
const SHIM_TS = new URL("../src/sensor/shim.ts", import.meta.url).href;

function skipReason(): string {
  if (Deno.uid() !== 0) return "needs root";
  try {
    Deno.statSync(SHIM);
  } catch {
    return "needs build/ffi/libhone.so (make build) or HONE_SHIM";
  }
  return "";
}

function which(cmd: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${cmd}`).isFile) return `${dir}/${cmd}`;
    } catch { /* not here */ }
  }
  return undefined;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Copies what a record views in the poll buffer, so it can be kept. */
function keep(r: HoneRecord): HoneRecord {
  if (r.kind === "packet") return { ...r, data: r.data.slice() };
  if (r.kind === "proc_exec") return { ...r, argvBytes: r.argvBytes.slice() };
  if (r.kind === "unknown") return { ...r, bytes: r.bytes.slice() };
  return r;
}

/** Polls the sensor in the background and keeps every record. */
class Collector {
  records: HoneRecord[] = [];
  #stop = false;
  #loop: Promise<void>;

  constructor(sensor: Sensor) {
    this.#loop = (async () => {
      while (!this.#stop) {
        forEachRecord(await sensor.poll(20), (r) => this.records.push(keep(r)));
      }
    })();
  }

  /** Waits until a record matches (the deadline only decides failure). */
  waitFor<T extends HoneRecord>(
    what: string,
    match: (r: HoneRecord) => r is T,
  ): Promise<T> {
    return until(() => this.records.find(match), { what });
  }

  /**
   * Waits until every record of what happened before the call is in: the
   * ring buffer is one queue, and a process started now is reported after
   * all of it. A negative assertion ("no X") is sound only after this.
   */
  async barrier(): Promise<void> {
    const marker = new Deno.Command("/bin/true").spawn();
    await marker.status;
    await this.waitFor(
      `PROC_EXEC of the barrier process ${marker.pid}`,
      (r): r is ProcExecRecord =>
        r.kind === "proc_exec" && r.pid === marker.pid,
    );
  }

  /** All records that match. */
  all<T extends HoneRecord>(match: (r: HoneRecord) => r is T): T[] {
    return this.records.filter(match);
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#loop;
  }
}

/** A child process running a Deno script, with its stdout as lines. */
class Child {
  process: Deno.ChildProcess;
  #lines: ReadableStreamDefaultReader<string>;
  #buffered = "";

  constructor(code: string, flags: string[] = []) {
    this.process = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-lock", ...flags, code],
      stdout: "piped",
      stderr: "inherit",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.#lines = this.process.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
  }

  get pid(): number {
    return this.process.pid;
  }

  /** Reads the next line the child prints. */
  async line(): Promise<string> {
    while (!this.#buffered.includes("\n")) {
      const { value, done } = await this.#lines.read();
      if (done) throw new Error(`Child ${this.pid} ended before a line`);
      this.#buffered += value;
    }
    const i = this.#buffered.indexOf("\n");
    const line = this.#buffered.slice(0, i);
    this.#buffered = this.#buffered.slice(i + 1);
    return line;
  }

  /** Waits for the exit (killing first if asked) and releases stdout. */
  async end(signal?: Deno.Signal): Promise<Deno.CommandStatus> {
    if (signal) this.process.kill(signal);
    const status = await this.process.status;
    await this.#lines.cancel().catch(() => {});
    return status;
  }
}

const LISTENER = `
const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(l.addr.port);
for await (const c of l) c.close();
`;

const TCP_SERVER = `
const l4 = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const l6 = Deno.listen({ hostname: "::1", port: 0 });
async function serve(l) {
  for await (const c of l) {
    const b = new Uint8Array(64);
    const n = await c.read(b);
    await c.write(b.subarray(0, n ?? 0));
    c.close();
  }
}
serve(l4);
serve(l6);
console.log(JSON.stringify([l4.addr.port, l6.addr.port]));
`;

const TCP_CLIENT = (p4: number, p6: number) => `
for (const [hostname, port, msg] of [
  ["127.0.0.1", ${p4}, "hone-tcp-v4"], ["::1", ${p6}, "hone-tcp-v6"],
]) {
  const c = await Deno.connect({ hostname, port });
  await c.write(new TextEncoder().encode(msg));
  await c.read(new Uint8Array(64));
  c.close();
}
`;

const UDP_SERVER = `
const s = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
console.log(s.addr.port);
const [msg, from] = await s.receive();
await s.send(new TextEncoder().encode("hone-udp-pong"), from);
s.close();
`;

const UDP_CLIENT = (port: number) => `
const s = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
await s.send(new TextEncoder().encode("hone-udp-ping"),
  { hostname: "127.0.0.1", port: ${port}, transport: "udp" });
await s.receive();
s.close();
`;

/* Pings 127.0.0.1 and ::1 with a raw socket; the payload is argv[1]. */
const ICMP_ECHO = `
import socket, struct, sys
def csum(b):
    b += b"\\0" * (len(b) % 2)
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
payload = sys.argv[1].encode()
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(20)
h = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 1)
h = struct.pack("!BBHHH", 8, 0, csum(h + payload), 0x4242, 1)
s.sendto(h + payload, ("127.0.0.1", 0))
while s.recv(1024)[20] != 0: pass
s6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s6.settimeout(20)
s6.sendto(struct.pack("!BBHHH", 128, 0, 0, 0x4242, 1) + payload, ("::1", 0))
while s6.recv(1024)[0] != 129: pass
`;

const PYTHON = "/usr/bin/python3";
/** The ICMP payload: ours alone, even when another run pings too. */
const ICMP_TAG = `hone-icmp-echo-${Deno.pid}`;

/** Python: the socket cookie (SO_COOKIE, 57) that the sensor reports. */
const PY_COOKIE = `
import struct
def cookie(s):
    return struct.unpack("=Q", s.getsockopt(socket.SOL_SOCKET, 57, 8))[0]
`;

/*
 * A parent and its forked child take turns reading one UDP socket and
 * one accepted TCP socket (TCP in 7-byte recv calls), the parent sending
 * the data of each turn first. Prints who read what, and the sockets'
 * cookies, as JSON.
 */
const SHARED_READS = `
import json, os, socket
${PY_COOKIE}
PATTERN = "PPCPCCPC"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.bind(("127.0.0.1", 0))
l.listen(1)
c = socket.create_connection(l.getsockname())
a, _ = l.accept()
go_r, go_w = os.pipe()
done_r, done_w = os.pipe()

def read_turn(n):
    d = u.recv(2048)
    got, calls = b"", 0
    while len(got) < n:
        got += a.recv(min(7, n - len(got)))
        calls += 1
    return {"reader": os.getpid(), "dgram": d.decode(), "tcp": got.decode(),
            "calls": calls}

child = os.fork()
if child == 0:
    go, done = os.fdopen(go_r), os.fdopen(done_w, "w")
    for line in go:
        if line.strip() == "q":
            break
        done.write(json.dumps(read_turn(int(line))) + "\\n")
        done.flush()
    os._exit(0)
go, done = os.fdopen(go_w, "w"), os.fdopen(done_r)
turns = []
for i, who in enumerate(PATTERN):
    dgram = "dgram-%d-" % i + "x" * i
    tcp = "<tcp-%d>" % i + "y" * (3 * i)
    us.sendto(dgram.encode(), u.getsockname())
    c.sendall(tcp.encode())
    if who == "P":
        turns.append(read_turn(len(tcp)))
    else:
        go.write("%d\\n" % len(tcp))
        go.flush()
        turns.append(json.loads(done.readline()))
go.write("q\\n")
go.flush()
os.waitpid(child, 0)
print(json.dumps({"parent": os.getpid(), "child": child, "turns": turns,
                  "udp": cookie(u), "tcp": cookie(a)}))
`;

/*
 * The parent reads a datagram and 5 TCP bytes, a child peeks at the next
 * ones (MSG_PEEK, twice), the parent reads them, and a second child reads
 * the last datagram and 5 bytes. Prints the pids and the sockets' cookies.
 */
const PEEK_READS = `
import json, os, socket
${PY_COOKIE}
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.bind(("127.0.0.1", 0))
l.listen(1)
c = socket.create_connection(l.getsockname())
a, _ = l.accept()
for d in (b"peek-0", b"peek-11", b"peek-222"):
    us.sendto(d, u.getsockname())
c.sendall(b"0123456789abcde")

def read():
    assert len(u.recv(100)) > 0 and len(a.recv(5)) == 5

def fork(fn):
    pid = os.fork()
    if pid == 0:
        fn()
        os._exit(0)
    os.waitpid(pid, 0)
    return pid

def peek():
    for _ in range(2):
        assert u.recv(100, socket.MSG_PEEK) == b"peek-11"
        assert a.recv(5, socket.MSG_PEEK) == b"56789"

read()
peeker = fork(peek)
read()
reader = fork(read)
print(json.dumps({"parent": os.getpid(), "peeker": peeker, "reader": reader,
                  "udp": cookie(u), "tcp": cookie(a)}))
`;

const KILLED_SENSOR = `
import { openSensor } from "${SHIM_TS}";
const sensor = openSensor({ shimPath: ${JSON.stringify(SHIM)} });
console.log("started");
for (;;) await sensor.poll(100);
`;

// Started while V8's sampling profiler sends this thread a SIGPROF every
// 20 µs: a signal pending during the load makes the verifier give up
// (EAGAIN), which once failed the start or fell back to the programs
// without netfilter.
const PROFILED_SENSOR = `
import { openSensor } from "${SHIM_TS}";
const shimPath = ${JSON.stringify(SHIM)};
const sensor = openSensor({ shimPath, netfilter: true });
const s = sensor.stats();
console.log(JSON.stringify({ netfilter: s.netfilter, error: s.netfilterError ?? null }));
await sensor.close();
`;

function has(data: Uint8Array, text: string): boolean {
  const needle = new TextEncoder().encode(text);
  outer: for (let i = 0; i + needle.length <= data.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (data[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}

const isPacket = (r: HoneRecord): r is PacketRecord => r.kind === "packet";
const created =
  (pid: number, family: number, type: number) =>
  (r: HoneRecord): r is SockCreateRecord =>
    r.kind === "sock_create" && r.pid === pid && r.family === family &&
    r.type === type;
const packetWith =
  (cookie: number, dir: number, text: string) =>
  (r: HoneRecord): r is PacketRecord =>
    isPacket(r) && r.cookie === cookie && r.dir === dir && has(r.data, text);

const isUse = (r: HoneRecord): r is SockUseRecord => r.kind === "sock_use";

/** SOCK_USE records of one socket and direction, in counter order. */
function usesOf(
  records: HoneRecord[],
  cookie: number,
  dir: number,
): SockUseRecord[] {
  return records.filter((r): r is SockUseRecord =>
    isUse(r) && r.cookie === cookie && r.dir === dir
  ).sort((a, b) => a.callsBefore - b.callsBefore);
}

/** The record whose range holds `n` (a byte or datagram number). */
function userAt(
  uses: SockUseRecord[],
  n: number,
  key: "bytesBefore" | "callsBefore",
): SockUseRecord | undefined {
  return uses.findLast((u) => u[key] <= n);
}

/** Inode number of our network namespace, from /proc/self/ns/net. */
function ourNetns(): number {
  return Number(/\[(\d+)\]/.exec(Deno.readLinkSync("/proc/self/ns/net"))![1]);
}

/** Our cgroup v2 id: the inode number of our cgroup's directory. */
function ourCgroupId(): number {
  const mount = Deno.readTextFileSync("/proc/mounts").split("\n")
    .map((l) => l.split(" ")).find((f) => f[2] === "cgroup2")![1]!;
  const path = /^0::(.*)$/m.exec(Deno.readTextFileSync("/proc/self/cgroup"))!;
  return Number(Deno.statSync(mount + path[1]!).ino);
}

/** Payload of an IPv4 TCP or UDP packet, and the TCP sequence number. */
function l4Payload(p: PacketRecord): { seq: number; data: Uint8Array } {
  const d = p.data, ihl = (d[0]! & 15) * 4;
  if (d[9] === 17) return { seq: 0, data: d.subarray(ihl + 8) };
  const v = new DataView(d.buffer, d.byteOffset, d.length);
  return {
    seq: v.getUint32(ihl + 4),
    data: d.subarray(ihl + (d[ihl + 12]! >> 4) * 4),
  };
}

/** Runs a Python script and parses the JSON line it prints. */
async function runPython<T>(code: string): Promise<T> {
  const out = await new Deno.Command(PYTHON, {
    args: ["-c", code],
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0, "python script failed");
  return JSON.parse(new TextDecoder().decode(out.stdout)) as T;
}

/** Cookies of a UDP and a TCP socket, as a script printed them. */
type Cookies = { udp: number; tcp: number };

/**
 * Waits for the release of both sockets, after which every record of them
 * is in, and checks that they are the only sockets the processes read.
 */
async function readSockets(
  rec: Collector,
  pids: number[],
  cookies: Cookies,
): Promise<void> {
  for (const cookie of [cookies.udp, cookies.tcp]) {
    await rec.waitFor(
      `SOCK_RELEASE of ${cookie}`,
      (r): r is Extract<HoneRecord, { kind: "sock_release" }> =>
        r.kind === "sock_release" && r.cookie === cookie,
    );
  }
  const read = rec.all(isUse).filter((r) =>
    pids.includes(r.pid) && r.dir === DIR_IN
  ).map((u) => u.cookie);
  assert.deepEqual(
    [...new Set(read)].sort((a, b) => a - b),
    [cookies.udp, cookies.tcp].sort((a, b) => a - b),
    "the UDP and the TCP socket",
  );
}

Deno.test({
  name: "sensor attributes loopback traffic to the processes that made it",
  ignore: skipReason() !== "",
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const pre = new Child(LISTENER);
  const prePort = Number(await pre.line());
  const sensor = openSensor({ shimPath: SHIM, selfPid: Deno.pid });
  // Whether this kernel runs netfilter programs (6.4 and later).
  const netfilter = sensor.stats().netfilter;
  const rec = new Collector(sensor);
  try {
    await t.step(
      "snapshot finds a socket opened before the start",
      async () => {
        const snap = await rec.waitFor(
          "SNAP_SOCKET of the listener",
          (r): r is SnapSocketRecord =>
            r.kind === "snap_socket" && r.pid === pre.pid && r.family === 2 &&
            r.type === 1,
        );
        assert(snap.fd > 2 && snap.cookie > 0);
        assert.equal(snap.protocol, 6);
        assert.equal(snap.netns, ourNetns());
      },
    );

    await t.step("TCP over 127.0.0.1 and ::1", async () => {
      const server = new Child(TCP_SERVER);
      const [p4, p6] = JSON.parse(await server.line()) as number[];
      const client = new Child(TCP_CLIENT(p4!, p6!));
      assert((await client.end()).success);
      await server.end("SIGTERM");
      // Both have ended: after the barrier, every record of theirs is in,
      // for the checks on all of them below.
      await rec.barrier();
      for (const [family, text] of [[2, "hone-tcp-v4"], [10, "hone-tcp-v6"]]) {
        const sock = await rec.waitFor(
          `client SOCK_CREATE family ${family}`,
          created(client.pid, family as number, 1),
        );
        assert.equal(sock.netns, ourNetns());
        await rec.waitFor(
          `client packet "${text}"`,
          packetWith(sock.cookie, DIR_OUT, text as string),
        );
        await rec.waitFor(
          `listener SOCK_CREATE family ${family}`,
          created(server.pid, family as number, 1),
        );
        // The accepted socket never passes sock_create: its owner comes
        // from SOCK_USE when the server reads.
        const use = await rec.waitFor(
          `server packet "${text}" with a SOCK_USE owner`,
          (r): r is PacketRecord =>
            isPacket(r) && r.dir === DIR_IN && has(r.data, text as string) &&
            rec.records.some((u) =>
              u.kind === "sock_use" && u.cookie === r.cookie &&
              u.pid === server.pid
            ),
        );
        assert.notEqual(use.cookie, sock.cookie);
        const tcp = rec.all(isPacket).filter((p) => p.cookie === sock.cookie);
        assert(tcp.some((p) => p.dir === DIR_IN), "client socket ingress");
        assert(
          tcp.every((p) => p.protocol === (family === 2 ? 0x800 : 0x86dd)),
        );
      }
      const uses = rec.all((r): r is SockUseRecord =>
        r.kind === "sock_use" && r.pid === server.pid
      );
      assert(uses.length <= 8, `SOCK_USE only on a change: ${uses.length}`);
    });

    await t.step("UDP exchange over 127.0.0.1", async () => {
      const server = new Child(UDP_SERVER, ["--unstable-net"]);
      const port = Number(await server.line());
      const client = new Child(UDP_CLIENT(port), ["--unstable-net"]);
      assert((await client.end()).success);
      assert((await server.end()).success);
      const cs = await rec.waitFor(
        "UDP client socket",
        created(client.pid, 2, 2),
      );
      const ss = await rec.waitFor(
        "UDP server socket",
        created(server.pid, 2, 2),
      );
      await rec.waitFor(
        "ping out",
        packetWith(cs.cookie, DIR_OUT, "hone-udp-ping"),
      );
      await rec.waitFor(
        "ping in",
        packetWith(ss.cookie, DIR_IN, "hone-udp-ping"),
      );
      await rec.waitFor(
        "pong out",
        packetWith(ss.cookie, DIR_OUT, "hone-udp-pong"),
      );
      const out = await rec.waitFor(
        "pong in",
        packetWith(cs.cookie, DIR_IN, "hone-udp-pong"),
      );
      assert.equal(out.len, 20 + 8 + 13);
      assert.equal(out.caplen, out.len);
    });

    await t.step("exec, fork and exit of a process", async () => {
      const child = new Deno.Command("/bin/echo", {
        args: ["hone-argv-test", "two words"],
        stdout: "null",
      }).spawn();
      assert((await child.status).success);
      const exec = await rec.waitFor(
        "PROC_EXEC of /bin/echo",
        (r): r is ProcExecRecord =>
          r.kind === "proc_exec" && r.pid === child.pid,
      );
      assert.equal(exec.filename, "/bin/echo");
      assert.equal(exec.exe, Deno.realPathSync("/bin/echo"));
      assert.equal(exec.cgroupId, ourCgroupId());
      assert.equal(exec.netns, ourNetns());
      assert.deepEqual(exec.argv, ["/bin/echo", "hone-argv-test", "two words"]);
      assert.equal(exec.truncated, false);
      assert.equal(exec.comm, "echo");
      assert.equal(exec.uid, 0);
      assert.equal(exec.ppid, Deno.pid);
      const fork = await rec.waitFor(
        "PROC_FORK",
        (r): r is Extract<HoneRecord, { kind: "proc_fork" }> =>
          r.kind === "proc_fork" && r.pid === child.pid,
      );
      assert.equal(fork.ppid, Deno.pid);
      assert.equal(fork.thread, false);
      assert.equal(fork.cgroupId, ourCgroupId());
      assert.equal(fork.netns, ourNetns());
      assert(fork.tsNs < exec.tsNs);
      const exit = await rec.waitFor(
        "PROC_EXIT",
        (r): r is Extract<HoneRecord, { kind: "proc_exit" }> =>
          r.kind === "proc_exit" && r.pid === child.pid,
      );
      assert.equal(exit.exitCode, 0);
      assert(exit.groupDead && exit.leader);
    });

    await t.step(
      "exec of processes that live under a millisecond",
      async () => {
        const pids: number[] = [];
        for (let i = 0; i < 20; i++) {
          const child = new Deno.Command("/bin/true").spawn();
          pids.push(child.pid);
          assert((await child.status).success);
        }
        for (const pid of pids) {
          const exec = await rec.waitFor(
            `PROC_EXEC of /bin/true ${pid}`,
            (r): r is ProcExecRecord => r.kind === "proc_exec" && r.pid === pid,
          );
          assert.equal(exec.filename, "/bin/true");
          assert.equal(exec.exe, Deno.realPathSync("/bin/true"));
          assert.deepEqual(exec.argv, ["/bin/true"]);
        }
      },
    );

    await t.step({
      name: "SOCK_USE counters tell which process read each datagram and byte",
      ignore: !isFile(PYTHON),
      fn: async () => {
        type Turn = {
          reader: number;
          dgram: string;
          tcp: string;
          calls: number;
        };
        const run = await runPython<
          { parent: number; child: number; turns: Turn[] } & Cookies
        >(SHARED_READS);
        await readSockets(rec, [run.parent, run.child], run);
        const udp = await rec.waitFor(
          "the shared UDP socket",
          (r): r is SockCreateRecord =>
            created(run.parent, 2, 2)(r) && r.cookie === run.udp,
        );
        const tcpCookie = run.tcp;

        // UDP: datagram k, as the packets show it, went to the record
        // whose [callsBefore, next callsBefore) holds k.
        const udpUses = usesOf(rec.records, udp.cookie, DIR_IN);
        assert.equal(udpUses.length, 6, "one record per change of reader");
        assert.equal(udpUses[0]!.first, false, "counted from SOCK_CREATE");
        const dgrams = rec.all(isPacket).filter((p) =>
          p.cookie === udp.cookie && p.dir === DIR_IN
        ).map((p) => new TextDecoder().decode(l4Payload(p).data));
        assert.deepEqual(dgrams, run.turns.map((t) => t.dgram));
        let bytes = 0;
        dgrams.forEach((text, k) => {
          const use = userAt(udpUses, k, "callsBefore")!;
          const turn = run.turns.find((t) => t.dgram === text)!;
          assert.equal(use.pid, turn.reader, `reader of datagram ${k}`);
          if (use.callsBefore === k) assert.equal(use.bytesBefore, bytes);
          bytes += text.length;
        });

        // TCP: byte n of the stream, placed by the packets' sequence
        // numbers, went to the record whose bytes range holds n.
        const tcpUses = usesOf(rec.records, tcpCookie, DIR_IN);
        assert.equal(tcpUses.length, 6, "one record per change of reader");
        assert.equal(tcpUses[0]!.flags & USE_FIRST, USE_FIRST, "accepted");
        assert.equal(tcpUses[0]!.bytesBefore, 0);
        const base = tcpUses[0]!.tcpSeq!;
        for (const u of tcpUses) {
          assert.equal((u.tcpSeq! - base) >>> 0, u.bytesBefore, "tcpSeq");
        }
        const stream: string[] = [];
        for (const p of rec.all(isPacket)) {
          if (p.cookie !== tcpCookie || p.dir !== DIR_IN) continue;
          const { seq, data } = l4Payload(p);
          const at = (seq - base) >>> 0;
          data.forEach((b, i) => stream[at + i] = String.fromCharCode(b));
        }
        assert.equal(stream.join(""), run.turns.map((t) => t.tcp).join(""));
        let offset = 0, calls = 0;
        for (const turn of run.turns) {
          for (let n = offset; n < offset + turn.tcp.length; n++) {
            assert.equal(
              userAt(tcpUses, n, "bytesBefore")!.pid,
              turn.reader,
              `reader of byte ${n} ("${stream[n]}")`,
            );
          }
          const use = tcpUses.find((u) => u.bytesBefore === offset);
          if (use) assert.equal(use.callsBefore, calls);
          offset += turn.tcp.length;
          calls += turn.calls;
        }
      },
    });

    await t.step({
      name: "a read with MSG_PEEK is neither counted nor a use",
      ignore: !isFile(PYTHON),
      fn: async () => {
        const run = await runPython<
          { parent: number; peeker: number; reader: number } & Cookies
        >(PEEK_READS);
        // The peeker's records, if any, came before the release.
        await readSockets(rec, [run.parent, run.peeker, run.reader], run);
        for (const cookie of [run.udp, run.tcp]) {
          const got = usesOf(rec.records, cookie, DIR_IN).map((u) => ({
            pid: u.pid,
            calls: u.callsBefore,
            bytes: u.bytesBefore,
          }));
          const udp = rec.records.some((r) =>
            r.kind === "sock_create" && r.cookie === cookie && r.type === 2
          );
          assert.deepEqual(got, [
            { pid: run.parent, calls: 0, bytes: 0 },
            { pid: run.reader, calls: 2, bytes: udp ? 6 + 7 : 10 },
          ]);
        }
      },
    });

    await t.step("our own sockets are skipped", async () => {
      const before = sensor.stats().selfSkipped;
      const c = await Deno.connect({ hostname: "127.0.0.1", port: prePort });
      await c.read(new Uint8Array(1)).catch(() => null);
      c.close();
      await rec.barrier();
      assert(sensor.stats().selfSkipped > before);
      assert(
        !rec.records.some((r) =>
          r.kind === "sock_create" && r.pid === Deno.pid
        ),
      );
    });

    await t.step({
      name: "netfilter reports the ICMP echo request no socket owns",
      ignore: !which("python3") || !sensor.stats().netfilter,
      fn: async () => {
        const out = await new Deno.Command("python3", {
          args: ["-c", ICMP_ECHO, ICMP_TAG],
          stderr: "inherit",
        }).output();
        assert.equal(out.code, 0);
        const nf = await rec.waitFor(
          "netfilter ICMP echo request",
          (r): r is PacketRecord =>
            isPacket(r) && r.source === "netfilter" && r.dir === DIR_IN &&
            r.data[9] === 1 && r.data[20] === 8 &&
            has(r.data, ICMP_TAG),
        );
        assert.equal(nf.cookie, 0);
        assert.equal(nf.protocol, 0x800);
        const nf6 = await rec.waitFor(
          "netfilter ICMPv6 echo request",
          (r): r is PacketRecord =>
            isPacket(r) && r.source === "netfilter" && r.dir === DIR_IN &&
            r.data[6] === 58 && r.data[40] === 128 &&
            has(r.data, ICMP_TAG),
        );
        assert.equal(nf6.protocol, 0x86dd);
        // The reply goes out through the kernel's ICMP socket: cgroup_skb.
        await rec.waitFor(
          "echo reply",
          (r): r is PacketRecord =>
            isPacket(r) && r.source === "cgroup_skb" && r.dir === DIR_OUT &&
            r.data[20] === 0 && has(r.data, ICMP_TAG),
        );
        // Replies reach a socket (the raw ones here): cgroup_skb only. The
        // script has read both replies: after the barrier, all is in.
        await rec.barrier();
        assert(
          !rec.all(isPacket).some((r) =>
            r.source === "netfilter" && has(r.data, ICMP_TAG) &&
            (r.protocol === 0x800 ? r.data[20] === 0 : r.data[40] === 129)
          ),
          "netfilter duplicated an echo reply",
        );
      },
    });

    await t.step("no record was dropped", () => {
      const s = sensor.stats();
      assert(s.packetsSeen > 0 && s.procSeen > 0 && s.sockSeen > 0);
      assert.equal(s.packetsDropped, 0);
      assert.equal(s.procDropped, 0);
      assert.equal(s.sockDropped, 0);
      assert(s.snapSockets >= 1);
      assert.equal(s.ringbufBytes, 16 << 20);
      const offset = sensor.clockOffsetNs();
      const wall = Number((rec.records.at(-1)!.tsNs + offset) / 1_000_000n);
      assert(Math.abs(wall - Date.now()) < 60_000, "wall clock from tsNs");
    });
  } finally {
    await rec.stop();
    await sensor.close();
    await pre.end("SIGTERM");
  }

  await t.step("the sensor starts under a profiler's signals", async () => {
    const dir = await Deno.makeTempDir();
    const child = new Child(PROFILED_SENSOR, [
      "--cpu-prof",
      `--cpu-prof-dir=${dir}`,
      "--cpu-prof-interval=20",
    ]);
    try {
      // The same programs as without the signals, netfilter's too.
      const got = JSON.parse(await child.line());
      assert.equal(got.netfilter, netfilter, JSON.stringify(got));
      if (netfilter) assert.equal(got.error, null);
      assert((await child.end()).success);
    } finally {
      await child.end("SIGKILL").catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step({
    name: "programs go away on close and when the process is killed",
    ignore: !which("bpftool"),
    fn: async () => {
      assert.deepEqual(bpfIdsHeldBy(Deno.pid), { progs: [], links: [] });
      const child = new Child(KILLED_SENSOR);
      assert.equal(await child.line(), "started");
      const held = bpfIdsHeldBy(child.pid);
      assert(held.progs.length >= 10, `programs: ${held.progs}`);
      assert(held.links.length >= 9, `links: ${held.links}`);
      await child.end("SIGKILL");
      await bpfFreed(held);
    },
  });
});
