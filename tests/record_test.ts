// `hone record` for real, as root: a real kernel, real BPF programs, real
// processes with known pids exchanging TCP (v4, v6), UDP and ICMP over
// loopback; the JSON stream and the pcapng (read by tshark) must name them.
import assert from "node:assert/strict";
import {
  bpfFreed,
  bpfIds,
  bpfIdsHeldBy,
  Collected,
  honeCommand,
  jsonLines,
  ROOT,
  run,
  until,
} from "./_helpers.ts";
import { udpBurst } from "./_traffic.ts";

const dec = new TextDecoder();

interface Running {
  child: Deno.ChildProcess;
  stdout: Collected;
  stderr: Collected;
}

/** Starts a process and waits until its stream shows `marker`. */
async function start(
  cmd: string,
  args: string[],
  marker: RegExp,
  on: "stdout" | "stderr",
): Promise<Running> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const r = {
    child,
    stdout: new Collected(child.stdout),
    stderr: new Collected(child.stderr),
  };
  await r[on].until(
    `${marker} from ${cmd} ${args.join(" ")}`,
    (c) => marker.test(c.text()),
  );
  return r;
}

/** The port a peer printed in its "ready PORT" line. */
function portOf(peer: Running): number {
  return Number(/ready (\d+)/.exec(peer.stdout.text())![1]);
}

/** Pings 127.0.0.1 until `child` ends. */
async function pingUntilDone(child: Deno.ChildProcess): Promise<void> {
  let done = false;
  child.status.then(() => done = true);
  await until(async () => {
    if (!done) await run("ping", ["-c", "1", "-W", "1", "127.0.0.1"]);
    return done;
  }, { what: `end of ${child.pid} while pinging`, intervalMs: 0 })
    .catch((e) => {
      child.kill("SIGKILL");
      throw e;
    });
}

function peer(mode: string, host: string, port: number, tag: string) {
  return start(
    Deno.execPath(),
    [
      "run",
      "-A",
      "--no-lock",
      `${ROOT}tests/_peer.ts`,
      mode,
      host,
      String(port),
      tag,
    ],
    mode.endsWith("server") ? /ready \d+/ : /done/,
    "stdout",
  );
}

function startHone(args: string[]) {
  const [cmd, pre] = honeCommand();
  return start(cmd, [...pre, "record", ...args], /listening on/, "stderr");
}

async function stop(
  r: Running,
): Promise<{ code: number; out: Uint8Array; err: string }> {
  r.child.kill("SIGINT");
  const [status] = await Promise.all([
    r.child.status,
    r.stdout.ended,
    r.stderr.ended,
  ]);
  return { code: status.code, out: r.stdout.bytes(), err: r.stderr.text() };
}

/**
 * Reads EPB options 258 (pid), 8 (pid, tid) and 1 (comment) per packet,
 * byte by byte, up to the last whole block.
 */
function epbOptions(
  file: Uint8Array,
): { pid258: number | null; pid8: number | null; comment: string | null }[] {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const out = [];
  for (let p = 0; p + 12 <= file.length;) {
    const type = v.getUint32(p, true), len = v.getUint32(p + 4, true);
    if (len < 12 || p + len > file.length) break; // still being written
    if (type === 6) {
      const cap = v.getUint32(p + 20, true);
      let o = p + 28 + ((cap + 3) & ~3);
      const r = {
        pid258: null as number | null,
        pid8: null as number | null,
        comment: null as string | null,
      };
      while (o < p + len - 4) {
        const code = v.getUint16(o, true), n = v.getUint16(o + 2, true);
        if (code === 0) break;
        if (code === 258) r.pid258 = v.getUint32(o + 4, true);
        if (code === 8) r.pid8 = v.getUint32(o + 4, true);
        if (code === 1) r.comment = dec.decode(file.subarray(o + 4, o + 4 + n));
        o += 4 + ((n + 3) & ~3);
      }
      out.push(r);
    }
    p += len;
  }
  return out;
}

type Pkt = Record<string, unknown> & {
  pid: number | null;
  sport?: number;
  dport?: number;
  dir: string;
};

Deno.test({
  name:
    "hone record ties every loopback packet to the process that sent or read it",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir();
  // Servers started before hone: their sockets come from the snapshot.
  const udpOld = await peer("udp-server", "127.0.0.1", 0, "udp-old");
  const tcpOld = await peer("tcp-server", "127.0.0.1", 0, "tcp-old");
  const udpPort = portOf(udpOld);
  const tcpPort = portOf(tcpOld);
  const json = await startHone(["-s", "96", "--data"]);
  const pcap = await startHone(["-s", "96", "-w", `${dir}/cap.pcapng`]);
  // New servers and every client start after hone.
  const tcp6 = await peer("tcp-server", "::1", 0, "tcp6");
  const tcp6Port = portOf(tcp6);
  const c4 = await peer("tcp-client", "127.0.0.1", tcpPort, "c4");
  const c6 = await peer("tcp-client", "::1", tcp6Port, "c6");
  const cu = await peer("udp-client", "127.0.0.1", udpPort, "cu");
  // Our echo requests carry "hone" and our pid: a ping that another run
  // has going meanwhile is not ours (its raw socket gets our replies too).
  const pattern = `686f6e65${Deno.pid.toString(16).padStart(8, "0")}`;
  const pings: number[] = [];
  for (const host of ["127.0.0.1", "::1"]) {
    const ping = new Deno.Command("ping", {
      args: ["-c1", "-W20", "-p", pattern, host],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const r = await ping.output();
    assert.equal(r.code, 0, dec.decode(r.stderr));
    pings.push(ping.pid);
  }
  // An argv longer than the kernel's 4 KiB copy is read whole from /proc:
  // the shell lives until hone has shown its exec.
  const long = "x".repeat(6000);
  const sh = new Deno.Command("/bin/sh", {
    args: ["-c", "read -r line", "hone-long-argv", long],
    stdin: "piped",
  }).spawn();
  await json.stdout.until(
    "the exec event of the long-argv shell",
    (c) =>
      c.jsonLines().some((e) =>
        e.type === "process" && e.event === "exec" && e.pid === sh.pid
      ),
  );
  const input = sh.stdin.getWriter();
  await input.write(new TextEncoder().encode("\n"));
  await input.close();
  assert.equal((await sh.status).code, 0);
  for (const p of [udpOld, tcpOld, tcp6, c4, c6, cu]) await p.child.status;

  const pidOf = (c: { child: Deno.ChildProcess }) => c.child.pid;
  // Each flow: [port on the server side, server pid, client pid].
  const flows: [number, number, number, string][] = [
    [tcpPort, pidOf(tcpOld), pidOf(c4), "tcp"],
    [tcp6Port, pidOf(tcp6), pidOf(c6), "tcp"],
    [udpPort, pidOf(udpOld), pidOf(cu), "udp"],
  ];
  const flowOf = (pkts: Pkt[], port: number, proto: string) =>
    pkts.filter((p) =>
      p.proto === proto && (p.sport === port || p.dport === port)
    );
  const least = (proto: string) => proto === "tcp" ? 6 : 4;
  const echoes = (pkts: Pkt[], dir: string, types: number[]) =>
    pkts.filter((p) =>
      (p.proto === "icmp" || p.proto === "icmpv6") && p.dir === dir &&
      types.includes(p.icmp_type as number) &&
      (p.data as string).includes(pattern)
    );
  // Every request with our payload; the replies read by our pings.
  const requests = (pkts: Pkt[]) => echoes(pkts, "out", [8, 128]);
  const replies = (pkts: Pkt[]) =>
    echoes(pkts, "in", [0, 129]).filter((p) => pings.includes(p.pid!));
  // Wait for what the checks need (the rest of the ring comes with the
  // SIGINT: hone drains it before it ends).
  await json.stdout.until("the packets and exec events checked", (c) => {
    const ev = c.jsonLines();
    const pkts = ev.filter((e) => e.type === "packet") as Pkt[];
    return flows.every(([port, , , proto]) =>
      flowOf(pkts, port, proto).length >= least(proto)
    ) && requests(pkts).length >= 2 && replies(pkts).length >= 2 &&
      ev.some((e) => e.event === "exec" && e.pid === pidOf(c4));
  });
  await until(() => {
    let file: Uint8Array;
    try {
      file = Deno.readFileSync(`${dir}/cap.pcapng`);
    } catch {
      return false;
    }
    const pids = new Set(epbOptions(file).map((o) => o.pid258));
    return pids.has(pidOf(c4)) && pids.has(pidOf(tcpOld));
  }, { what: "the packets of the v4 TCP flow in the pcapng" });
  const j = await stop(json);
  const w = await stop(pcap);
  assert.equal(j.code, 0, j.err);
  assert.equal(w.code, 0, w.err);
  assert.match(
    j.err,
    /\d+ packets? captured\n\d+ packets? received by filter\n0 packets dropped by kernel\n/,
  );

  const ev = json.stdout.jsonLines();
  const pkts = ev.filter((e) => e.type === "packet") as Pkt[];
  for (const [port, server, client, proto] of flows) {
    const mine = flowOf(pkts, port, proto);
    assert.ok(
      mine.length >= least(proto),
      `${proto}:${port}: ${mine.length} packets`,
    );
    for (const p of mine) {
      // Out from the server or in to it belongs to the server, else the client.
      const serverSide = p.dir === "out" ? p.sport === port : p.dport === port;
      assert.equal(
        p.pid,
        serverSide ? server : client,
        `${proto}:${port} ${JSON.stringify(p)}`,
      );
      assert.ok(
        (p.caplen as number) <= 96 && (p.len as number) >= (p.caplen as number),
      );
    }
  }
  // ICMP echo: the request out and the reply in belong to ping, one each
  // to each of our two.
  const echo = pkts.filter((p) => p.proto === "icmp" || p.proto === "icmpv6");
  const req = requests(pkts);
  const rep = replies(pkts);
  const sorted = (pids: (number | null)[]) => pids.sort((a, b) => a! - b!);
  const want = sorted([...pings]);
  assert.deepEqual(sorted(req.map((p) => p.pid)), want, JSON.stringify(echo));
  assert.deepEqual(sorted(rep.map((p) => p.pid)), want, JSON.stringify(echo));
  const execs = new Set(
    ev.filter((e) =>
      e.type === "process" && e.event === "exec" && e.comm === "ping"
    ).map((e) => e.pid),
  );
  for (const p of [...req, ...rep]) {
    assert.ok(execs.has(p.pid as number), JSON.stringify(p));
  }
  // Exec events carry the real argv.
  const execC4 = ev.find((e) =>
    e.type === "process" && e.event === "exec" && e.pid === pidOf(c4)
  );
  assert.ok(execC4, "exec event of the v4 client");
  assert.deepEqual((execC4.argv as string[]).slice(-4), [
    "tcp-client",
    "127.0.0.1",
    String(tcpPort),
    "c4",
  ]);
  const longExec = ev.find((e) =>
    e.type === "process" && e.event === "exec" &&
    (e.argv as string[] | null)?.includes("hone-long-argv")
  );
  assert.ok(longExec, "exec event of the long-argv shell");
  assert.deepEqual((longExec.argv as string[]).slice(-2), [
    "hone-long-argv",
    long,
  ]);
  // hone's own traffic (its stdout pipe is not a socket, but its sockets are skipped).
  assert.ok(!pkts.some((p) => p.pid === json.child.pid));

  // The pcapng: options 258 and 8 and the comment tshark shows.
  const file = await Deno.readFile(`${dir}/cap.pcapng`);
  assert.equal((await Deno.stat(`${dir}/cap.pcapng`)).mode! & 0o777, 0o600);
  const opts = epbOptions(file);
  const t = await run("tshark", [
    "-r",
    `${dir}/cap.pcapng`,
    "-T",
    "fields",
    "-e",
    "frame.number",
    "-e",
    "frame.comment",
    "-e",
    "tcp.srcport",
    "-e",
    "tcp.dstport",
  ]);
  assert.equal(t.code, 0, t.stderr);
  const rows = t.stdout.trim().split("\n").map((l) => l.split("\t"));
  assert.equal(rows.length, opts.length);
  let checked = 0;
  rows.forEach((row, i) => {
    const o = opts[i]!;
    if (o.pid258 !== null) {
      assert.equal(o.pid8, o.pid258);
      assert.equal(row[1]!.split(" ")[0], `pid=${o.pid258}`);
    }
    if (row[2] === String(tcpPort) || row[3] === String(tcpPort)) {
      const serverSide = row[2] === String(tcpPort);
      // Out from the server and in to it carry the server's pid either way.
      assert.ok(
        [pidOf(tcpOld), pidOf(c4)].includes(o.pid258!),
        JSON.stringify(o),
      );
      if (serverSide && o.comment?.includes("comm=")) checked++;
    }
  });
  assert.ok(
    rows.some((r) => r[1]!.startsWith(`pid=${pidOf(c4)} `)),
    "c4's comment in frame.comment",
  );
  assert.ok(checked > 0);
  // The section ends with statistics that tshark accepts.
  const cap = await run("capinfos", [`${dir}/cap.pcapng`]);
  assert.equal(cap.code, 0, cap.stderr);
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "hone record leaves no BPF program behind after SIGKILL",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const h = await startHone(["-w", "/dev/null"]);
  // The programs and links hone holds: its own, whatever else runs.
  const held = bpfIdsHeldBy(h.child.pid);
  const names = await bpfIds("prog");
  assert.ok(
    held.progs.filter((id) => names.get(id)?.startsWith("hone_")).length >=
        10 && held.links.length >= 9,
    `hone's programs are attached while it runs: ${JSON.stringify(held)}`,
  );
  h.child.kill("SIGKILL");
  await h.child.status;
  await h.stdout.ended;
  await bpfFreed(held);
});

Deno.test({
  name:
    "hone record -c stops by itself and closes the pcapng with its statistics",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const [cmd, pre] = honeCommand();
  const dir = await Deno.makeTempDir();
  const child = new Deno.Command(cmd, {
    args: [...pre, "record", "-c", "3", "-w", `${dir}/c.pcapng`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Traffic until hone has its three packets.
  await pingUntilDone(child);
  const st = await child.output();
  assert.equal(st.code, 0, dec.decode(st.stderr));
  assert.match(dec.decode(st.stderr), /^3 packets captured$/m);
  const t = await run("tshark", ["-r", `${dir}/c.pcapng`]);
  assert.equal(t.code, 0, t.stderr);
  assert.equal(t.stdout.trim().split("\n").length, 3);
  const isb = await run("tshark", [
    "-r",
    `${dir}/c.pcapng`,
    "-X",
    "read_format:MIME Files Format",
    "-V",
  ]);
  assert.match(isb.stdout, /Interface Statistics/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "hone record without root or BTF says what is missing in one line",
  ignore: Deno.uid() !== 0,
}, async () => {
  const [cmd, pre] = honeCommand();
  // Drop to nobody with setpriv (util-linux): no capabilities.
  const r = await run("setpriv", [
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    cmd,
    ...pre,
    "record",
  ]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^hone: record: .*root/);
});

Deno.test({
  name: "hone record -w - streams pcapng that hone read - decodes as it comes",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const [cmd, pre] = honeCommand();
  const q = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;
  const hone = [cmd, ...pre].map(q).join(" ");
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", `${hone} record -c 4 -w - | ${hone} read -F text -`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Read its output as it comes: the process snapshot alone can be more
  // than a pipe holds, and a pipe nobody reads would stop the pipeline.
  const output = child.output();
  await pingUntilDone(child);
  const r = await output;
  const text = dec.decode(r.stdout);
  assert.equal(r.code, 0, dec.decode(r.stderr));
  const lines = text.trim().split("\n");
  assert.match(lines[0]!, /^\d+\.\d{9} HEAD 0\.000000000$/);
  assert.equal(lines.filter((l) => / PAKT [IO] /.test(l)).length, 4);
  assert.ok(lines.some((l) => / EXEC \d+ /.test(l)), "the process snapshot");
  assert.match(lines.at(-1)!, / TAIL$/);
});

/** The options of a pcapng file's first section header: code → value. */
function shbOptions(file: Uint8Array): Map<number, Uint8Array> {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  assert.equal(v.getUint32(0, true), 0x0a0d0d0a, "a pcapng section header");
  const end = v.getUint32(4, true) - 4;
  const out = new Map<number, Uint8Array>();
  for (let at = 24; at + 4 <= end;) {
    const code = v.getUint16(at, true), len = v.getUint16(at + 2, true);
    if (code === 0) break;
    out.set(code, file.slice(at + 4, at + 4 + len));
    at += 4 + ((len + 3) & ~3);
  }
  return out;
}

Deno.test({
  name:
    "hone record --hostid and --comment: the section header's option 257 and comment, host on every JSON line",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const [cmd, pre] = honeCommand();
  const dir = await Deno.makeTempDir();
  const guid = "{6ba7b810-9dad-11d1-80b4-00c04fd430c8}";
  const child = new Deno.Command(cmd, {
    args: [
      ...pre,
      "record",
      "-c",
      "2",
      "--hostid",
      guid,
      "--comment",
      "night shift",
      "-w",
      `${dir}/h.pcapng`,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  await pingUntilDone(child);
  const st = await child.output();
  assert.equal(st.code, 0, dec.decode(st.stderr));
  const opts = shbOptions(await Deno.readFile(`${dir}/h.pcapng`));
  // The original's layout: type word 1, then the GUID, its first three
  // fields little-endian.
  assert.deepEqual(
    opts.get(257),
    new Uint8Array([
      1,
      0,
      0,
      0,
      0x10,
      0xb8,
      0xa7,
      0x6b,
      0xad,
      0x9d,
      0xd1,
      0x11,
      0x80,
      0xb4,
      0x00,
      0xc0,
      0x4f,
      0xd4,
      0x30,
      0xc8,
    ]),
  );
  assert.equal(dec.decode(opts.get(1)), "night shift");
  const info = await run("capinfos", [`${dir}/h.pcapng`]);
  assert.match(info.stdout, /night shift/);

  // JSON lines: host first on each, a string host id as given.
  const json = new Deno.Command(cmd, {
    args: [...pre, "record", "-c", "2", "--hostid", "web-1"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = json.output();
  await pingUntilDone(json);
  const r = await out;
  assert.equal(r.code, 0, dec.decode(r.stderr));
  const lines = dec.decode(r.stdout).trim().split("\n");
  assert.ok(lines.length > 2);
  for (const l of lines) assert.equal(JSON.parse(l).host, "web-1", l);
  assert.ok(lines.some((l) => JSON.parse(l).type === "packet"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name:
    "hone record keeps every packet's own bytes while it polls into reused buffers (-w FILE and -w -)",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir();
  const file = await startHone(["-s", "256", "-w", `${dir}/cap.pcapng`]);
  const piped = await startHone(["-s", "256", "-w", "-"]);
  // Far more batches than the sensor has buffers to poll into (each
  // datagram is read before the next is sent, so the sensor sees all).
  const n = 20000, size = 200, tag = `POOL${Deno.pid}:`;
  const pid = await udpBurst(n, size, tag);
  // Every record is in the ring once the burst is over: a stop drains it.
  const [f, p] = await Promise.all([stop(file), stop(piped)]);
  assert.equal(f.code, 0, f.err);
  assert.equal(p.code, 0, p.err);
  await Deno.writeFile(`${dir}/piped.pcapng`, p.out);
  const [cmd, pre] = honeCommand();
  for (const name of ["cap.pcapng", "piped.pcapng"]) {
    const r = await run(cmd, [...pre, "read", "--data", `${dir}/${name}`]);
    assert.equal(r.code, 0, r.stderr);
    const hexTag = [...new TextEncoder().encode(tag)]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    const seen = new Map<number, number>();
    for (const line of r.stdout.split("\n")) {
      if (!line.includes(hexTag)) continue;
      const e = JSON.parse(line);
      // IPv4 (20 bytes) and UDP (8) headers, then the datagram whole.
      const payload = e.data.slice(56);
      const at = payload.indexOf(hexTag);
      assert.equal(at, 0, `${name}: a datagram's bytes start with the tag`);
      const text = dec.decode(
        Uint8Array.from(payload.match(/../g)!, (h: string) => parseInt(h, 16)),
      );
      const i = Number(text.slice(tag.length, tag.length + 6));
      const m = tag + String(i).padStart(6, "0") + ";";
      assert.equal(text, m + "x".repeat(size - m.length), `${name}: #${i}`);
      assert.equal(e.pid, pid, `${name}: #${i}'s process`);
      seen.set(i, (seen.get(i) ?? 0) + 1);
    }
    // Each datagram twice, sent and received, none in place of another.
    assert.equal(seen.size, n, name);
    for (const [i, c] of seen) assert.equal(c, 2, `${name}: #${i}`);
  }
});

// A writer blocked on a full send buffer, a reader that reads 1 KiB at a
// time through a 4 KiB receive buffer: each read's window update reaches
// the writer's socket in a softirq that runs in the reader's context, and
// TCP sends the writer's queued bytes from there. Those packets belong to
// the writer, not to the task the softirq interrupted (ffi/hone.bpf.c,
// pkt_task(): TCP is the current task's only while it holds the socket).
const SOFTIRQ_WRITER = `
import os, socket, sys
N = 1 << 20
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
srv.bind(("127.0.0.1", 0))
srv.listen(1)
port = srv.getsockname()[1]
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    c = socket.create_connection(("127.0.0.1", port))
    c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    os.write(w, str(c.getsockname()[1]).encode())
    c.sendall(b"x" * N)
    c.shutdown(socket.SHUT_WR)
    c.recv(1)
    os._exit(0)
conn, _ = srv.accept()
wport = int(os.read(r, 16))
got = 0
while got < N:
    got += len(conn.recv(1024))
conn.close()
os.waitpid(pid, 0)
print(pid, wport)
`;

Deno.test({
  name: "hone record: TCP data sent from a softirq in the reader's context " +
    "goes to its writer",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const h = await startHone(["-s", "64"]);
  const py = await run("/usr/bin/python3", ["-c", SOFTIRQ_WRITER]);
  assert.equal(py.code, 0, py.stderr);
  const [writer, port] = py.stdout.trim().split(" ").map(Number);
  const r = await stop(h);
  assert.equal(r.code, 0, r.err);
  const data = jsonLines(dec.decode(r.out)).filter((e) =>
    e.type === "packet" && e.dir === "out" && e.sport === port &&
    (e.len as number) > 52 + 12 // more than the IP and TCP headers
  );
  assert.ok(data.length > 100, `data packets: ${data.length}`);
  const others = data.filter((e) => e.pid !== writer);
  assert.deepEqual(
    others.slice(0, 3),
    [],
    `${others.length} of ${data.length} not the writer's ${writer}`,
  );
  // Some left outside the writer's own calls, and still went to it.
  assert.ok(
    data.some((e) => e.how !== "sender"),
    `every packet left inside the writer's call: ${data.length}`,
  );
});

Deno.test({
  name:
    "hone record shows a SYN and a datagram that reach a port no socket has",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  // A port that was free a moment ago: nothing listens on it.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const h = await startHone([`port ${port}`]);
  // One datagram from python3, a process of its own.
  const datagram = [
    "-c",
    `import socket; socket.socket(2, 2).sendto(b"x", ("127.0.0.1", ${port}))`,
  ];
  const inbound = (proto: string) =>
    h.stdout.jsonLines().some((e) =>
      e.type === "packet" && e.dir === "in" && e.proto === proto &&
      e.dport === port && e.pid === null
    );
  try {
    // Until both inbound packets are out: each try is refused at once.
    await until(async () => {
      await run("python3", datagram);
      await Deno.connect({ hostname: "127.0.0.1", port }).then(
        (c) => c.close(),
        () => {},
      );
      return inbound("udp") && inbound("tcp");
    }, { what: `inbound TCP and UDP to closed port ${port}`, intervalMs: 20 });
  } finally {
    await stop(h);
  }
});
