// `hone record` for real, as root: a real kernel, real BPF programs, real
// processes with known pids exchanging TCP (v4, v6), UDP and ICMP over
// loopback; the JSON stream and the pcapng (read by tshark) must name them.
import assert from "node:assert/strict";
import { honeCommand, jsonLines, ROOT, run } from "./_helpers.ts";

const dec = new TextDecoder();

interface Running {
  child: Deno.ChildProcess;
  stdout: Promise<Uint8Array>;
  stderr: () => Promise<string>;
}

/** Starts a process and waits until its stream shows `marker`. */
async function start(
  cmd: string,
  args: string[],
  marker: RegExp,
  on: "stdout" | "stderr",
): Promise<Running & { seen: string }> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const watched = on === "stdout" ? child.stdout : child.stderr;
  const other = on === "stdout" ? child.stderr : child.stdout;
  const reader = watched.getReader();
  let seen = "";
  const deadline = Date.now() + 20000;
  while (!marker.test(seen)) {
    if (Date.now() > deadline) {
      throw new Error(`no ${marker} from ${cmd}: ${seen}`);
    }
    const { value, done } = await reader.read();
    if (done) throw new Error(`${cmd} ${args.join(" ")} ended early: ${seen}`);
    seen += dec.decode(value);
  }
  const rest = (async () => {
    const parts: Uint8Array[] = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parts.push(value);
    }
    return parts;
  })();
  const otherAll = new Response(other).arrayBuffer().then((b) =>
    new Uint8Array(b)
  );
  const watchedAll = rest.then((parts) => {
    const head = new TextEncoder().encode(seen);
    const n = parts.reduce((a, p) => a + p.length, head.length);
    const out = new Uint8Array(n);
    out.set(head);
    let at = head.length;
    for (const p of parts) out.set(p, at), at += p.length;
    return out;
  });
  return {
    child,
    seen,
    stdout: on === "stdout" ? watchedAll : otherAll,
    stderr: async () =>
      dec.decode(await (on === "stderr" ? watchedAll : otherAll)),
  };
}

/** Pings 127.0.0.1 until `child` ends (at most 20 s). */
async function pingUntilDone(child: Deno.ChildProcess): Promise<void> {
  const deadline = Date.now() + 20000;
  let done = false;
  child.status.then(() => done = true);
  while (!done && Date.now() < deadline) {
    await run("ping", ["-c", "1", "-W", "1", "127.0.0.1"]);
  }
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
  const [status, out, err] = await Promise.all([
    r.child.status,
    r.stdout,
    r.stderr(),
  ]);
  return { code: status.code, out, err };
}

/** Reads EPB options 258 (pid), 8 (pid, tid) and 1 (comment) per packet, byte by byte. */
function epbOptions(
  file: Uint8Array,
): { pid258: number | null; pid8: number | null; comment: string | null }[] {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const out = [];
  for (let p = 0; p + 12 <= file.length;) {
    const type = v.getUint32(p, true), len = v.getUint32(p + 4, true);
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
  const udpPort = Number(/ready (\d+)/.exec(udpOld.seen)![1]);
  const tcpPort = Number(/ready (\d+)/.exec(tcpOld.seen)![1]);
  const json = await startHone(["-s", "96"]);
  const pcap = await startHone(["-s", "96", "-w", `${dir}/cap.pcapng`]);
  // New servers and every client start after hone.
  const tcp6 = await peer("tcp-server", "::1", 0, "tcp6");
  const tcp6Port = Number(/ready (\d+)/.exec(tcp6.seen)![1]);
  const c4 = await peer("tcp-client", "127.0.0.1", tcpPort, "c4");
  const c6 = await peer("tcp-client", "::1", tcp6Port, "c6");
  const cu = await peer("udp-client", "127.0.0.1", udpPort, "cu");
  const ping = await run("ping", ["-c", "1", "-W", "2", "127.0.0.1"]);
  const ping6 = await run("ping", ["-c", "1", "-W", "2", "::1"]);
  assert.equal(ping.code, 0, ping.stderr);
  assert.equal(ping6.code, 0, ping6.stderr);
  // An argv longer than the kernel's 4 KiB copy is read whole from /proc.
  const long = "x".repeat(6000);
  const sh = await run("/bin/sh", ["-c", "sleep 0.5", "hone-long-argv", long]);
  assert.equal(sh.code, 0, sh.stderr);
  for (const p of [udpOld, tcpOld, tcp6, c4, c6, cu]) await p.child.status;
  await new Promise((r) => setTimeout(r, 1000));
  const j = await stop(json);
  const w = await stop(pcap);
  assert.equal(j.code, 0, j.err);
  assert.equal(w.code, 0, w.err);
  assert.match(
    j.err,
    /\d+ packets? captured\n\d+ packets? received by filter\n0 packets dropped by kernel\n/,
  );

  const ev = jsonLines(dec.decode(j.out));
  const pkts = ev.filter((e) => e.type === "packet") as Pkt[];
  const pidOf = (c: { child: Deno.ChildProcess }) => c.child.pid;
  // Each flow: [port on the server side, server pid, client pid].
  const flows: [number, number, number, string][] = [
    [tcpPort, pidOf(tcpOld), pidOf(c4), "tcp"],
    [tcp6Port, pidOf(tcp6), pidOf(c6), "tcp"],
    [udpPort, pidOf(udpOld), pidOf(cu), "udp"],
  ];
  for (const [port, server, client, proto] of flows) {
    const mine = pkts.filter((p) =>
      p.proto === proto && (p.sport === port || p.dport === port)
    );
    assert.ok(
      mine.length >= (proto === "tcp" ? 6 : 4),
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
  // ICMP echo: the request out and the reply in belong to ping.
  const echo = pkts.filter((p) => p.proto === "icmp" || p.proto === "icmpv6");
  const req = echo.filter((p) =>
    p.dir === "out" && (p.icmp_type === 8 || p.icmp_type === 128)
  );
  const rep = echo.filter((p) =>
    p.dir === "in" && (p.icmp_type === 0 || p.icmp_type === 129)
  );
  assert.equal(req.length, 2, JSON.stringify(echo));
  assert.equal(rep.length, 2, JSON.stringify(echo));
  const pings = new Set(
    ev.filter((e) =>
      e.type === "process" && e.event === "exec" && e.comm === "ping"
    ).map((e) => e.pid),
  );
  for (const p of [...req, ...rep]) {
    assert.ok(pings.has(p.pid as number), JSON.stringify(p));
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
  const progs = async () => {
    const r = await run("bpftool", ["prog", "show"]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split("\n").filter((l) => /name hone_/.test(l)).length;
  };
  const before = await progs();
  const h = await startHone(["-w", "/dev/null"]);
  assert.ok(
    (await progs()) > before,
    "hone's programs are attached while it runs",
  );
  h.child.kill("SIGKILL");
  await h.child.status;
  await h.stdout;
  let after = await progs();
  for (let i = 0; i < 50 && after > before; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = await progs();
  }
  assert.equal(after, before);
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
  await pingUntilDone(child);
  const r = await child.output();
  const text = dec.decode(r.stdout);
  assert.equal(r.code, 0, dec.decode(r.stderr));
  const lines = text.trim().split("\n");
  assert.match(lines[0]!, /^\d+\.\d{9} HEAD 0\.000000000$/);
  assert.equal(lines.filter((l) => / PAKT [IO] /.test(l)).length, 4);
  assert.ok(lines.some((l) => / EXEC \d+ /.test(l)), "the process snapshot");
  assert.match(lines.at(-1)!, / TAIL$/);
});
