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
import { DIR_IN, DIR_OUT } from "../src/records/layout.ts";
import { openSensor, type Sensor } from "../src/sensor/shim.ts";

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

  /** Waits until a record matches, or fails after timeoutMs. */
  async waitFor<T extends HoneRecord>(
    what: string,
    match: (r: HoneRecord) => r is T,
    timeoutMs = 5000,
  ): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.records.find(match);
      if (found) return found;
      if (Date.now() > end) {
        throw new Error(`No ${what} within ${timeoutMs} ms`);
      }
      await new Promise((ok) => setTimeout(ok, 20));
    }
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

const ICMP_ECHO = `
import socket, struct
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
payload = b"hone-icmp-echo"
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(2)
h = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 1)
h = struct.pack("!BBHHH", 8, 0, csum(h + payload), 0x4242, 1)
s.sendto(h + payload, ("127.0.0.1", 0))
while s.recv(1024)[20] != 0: pass
s6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s6.settimeout(2)
s6.sendto(struct.pack("!BBHHH", 128, 0, 0, 0x4242, 1) + payload, ("::1", 0))
while s6.recv(1024)[0] != 129: pass
`;

const KILLED_SENSOR = `
import { openSensor } from "${SHIM_TS}";
const sensor = openSensor({ shimPath: ${JSON.stringify(SHIM)} });
console.log("started");
for (;;) await sensor.poll(100);
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

/** BPF program and link ids a process holds fds of (/proc/PID/fdinfo). */
function bpfIdsHeldBy(pid: number): { progs: number[]; links: number[] } {
  const progs = new Set<number>(), links = new Set<number>();
  for (const e of Deno.readDirSync(`/proc/${pid}/fdinfo`)) {
    let info = "";
    try {
      info = Deno.readTextFileSync(`/proc/${pid}/fdinfo/${e.name}`);
    } catch { /* closed meanwhile */ }
    const prog = /^prog_id:\s+(\d+)/m.exec(info);
    const link = /^link_id:\s+(\d+)/m.exec(info);
    if (link) links.add(Number(link[1]));
    else if (prog) progs.add(Number(prog[1]));
  }
  return { progs: [...progs], links: [...links] };
}

/** Ids of the BPF programs or links loaded in the kernel now. */
async function bpfIds(what: "prog" | "link"): Promise<Set<number>> {
  const out = await new Deno.Command("bpftool", { args: ["-j", what, "show"] })
    .output();
  assert.equal(out.code, 0, `bpftool ${what} show`);
  const list = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    id: number;
  }[];
  return new Set(list.map((p) => p.id));
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
      },
    );

    await t.step("TCP over 127.0.0.1 and ::1", async () => {
      const server = new Child(TCP_SERVER);
      const [p4, p6] = JSON.parse(await server.line()) as number[];
      const client = new Child(TCP_CLIENT(p4!, p6!));
      assert((await client.end()).success);
      await server.end("SIGTERM");
      for (const [family, text] of [[2, "hone-tcp-v4"], [10, "hone-tcp-v6"]]) {
        const sock = await rec.waitFor(
          `client SOCK_CREATE family ${family}`,
          created(client.pid, family as number, 1),
        );
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
      assert(fork.tsNs < exec.tsNs);
      const exit = await rec.waitFor(
        "PROC_EXIT",
        (r): r is Extract<HoneRecord, { kind: "proc_exit" }> =>
          r.kind === "proc_exit" && r.pid === child.pid,
      );
      assert.equal(exit.exitCode, 0);
      assert(exit.groupDead && exit.leader);
    });

    await t.step("our own sockets are skipped", async () => {
      const before = sensor.stats().selfSkipped;
      const c = await Deno.connect({ hostname: "127.0.0.1", port: prePort });
      await c.read(new Uint8Array(1)).catch(() => null);
      c.close();
      await new Promise((ok) => setTimeout(ok, 100));
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
          args: ["-c", ICMP_ECHO],
          stderr: "inherit",
        }).output();
        assert.equal(out.code, 0);
        const nf = await rec.waitFor(
          "netfilter ICMP echo request",
          (r): r is PacketRecord =>
            isPacket(r) && r.source === "netfilter" && r.dir === DIR_IN &&
            r.data[9] === 1 && r.data[20] === 8 &&
            has(r.data, "hone-icmp-echo"),
        );
        assert.equal(nf.cookie, 0);
        assert.equal(nf.protocol, 0x800);
        const nf6 = await rec.waitFor(
          "netfilter ICMPv6 echo request",
          (r): r is PacketRecord =>
            isPacket(r) && r.source === "netfilter" && r.dir === DIR_IN &&
            r.data[6] === 58 && r.data[40] === 128 &&
            has(r.data, "hone-icmp-echo"),
        );
        assert.equal(nf6.protocol, 0x86dd);
        // Replies reach a socket (the raw ones here): cgroup_skb only.
        assert(
          !rec.all(isPacket).some((r) =>
            r.source === "netfilter" && has(r.data, "hone-icmp-echo") &&
            (r.protocol === 0x800 ? r.data[20] === 0 : r.data[40] === 129)
          ),
          "netfilter duplicated an echo reply",
        );
        // The reply goes out through the kernel's ICMP socket: cgroup_skb.
        await rec.waitFor(
          "echo reply",
          (r): r is PacketRecord =>
            isPacket(r) && r.source === "cgroup_skb" && r.dir === DIR_OUT &&
            r.data[20] === 0 && has(r.data, "hone-icmp-echo"),
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

  await t.step({
    name: "programs go away on close and when the process is killed",
    ignore: !which("bpftool"),
    fn: async () => {
      assert.deepEqual(bpfIdsHeldBy(Deno.pid), { progs: [], links: [] });
      const child = new Child(KILLED_SENSOR);
      assert.equal(await child.line(), "started");
      const held = bpfIdsHeldBy(child.pid);
      assert(held.progs.length >= 12, `programs: ${held.progs}`);
      assert(held.links.length >= 11, `links: ${held.links}`);
      await child.end("SIGKILL");
      // The kernel frees them once the last fd is gone (after an RCU grace).
      const end = Date.now() + 5000;
      let left: number[] = [];
      do {
        const progs = await bpfIds("prog"), links = await bpfIds("link");
        left = [
          ...held.progs.filter((id) => progs.has(id)),
          ...held.links.filter((id) => links.has(id)),
        ];
        if (left.length) await new Promise((ok) => setTimeout(ok, 100));
      } while (left.length && Date.now() < end);
      assert.deepEqual(left, []);
    },
  });
});
