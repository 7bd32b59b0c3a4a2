/**
 * `hone record --pid/--children/--comm/--uid/--cgroup`: the process filter,
 * decided in the kernel. Two real processes send tagged UDP over loopback
 * at the same time; only the one that matches may be in the capture, all
 * of its packets must be, and the counts must say so.
 *
 * @module
 */

import assert from "node:assert/strict";
import { hone, jsonLines, run, until } from "./_helpers.ts";
import { startRecord } from "./_recording.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();

/**
 * A process that binds two UDP sockets, says "ready", and at "go" on stdin
 * sends `n` tagged datagrams to itself (reading each); with `fork`, a
 * child forked at "go" does the sending. Says "done" at the end.
 */
const SENDER = `
import ctypes, os, socket, sys
tag, n, mode = sys.argv[1].encode(), int(sys.argv[2]), sys.argv[3]
if mode == "rename":
    ctypes.CDLL(None).prctl(15, b"hone-flt-comm", 0, 0, 0)
def send():
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 0))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(n):
        s.sendto(tag + b"%06d" % i, r.getsockname()); r.recv(100)
print("ready", flush=True)
sys.stdin.readline()
if mode == "fork":
    pid = os.fork()
    if pid == 0:
        send(); os._exit(0)
    os.waitpid(pid, 0)
else:
    send()
print("done", flush=True)
`;

interface Sender {
  child: Deno.ChildProcess;
  go(): Promise<void>;
  done: Promise<void>;
}

/** Starts a sender (optionally through a wrapper command) and waits for "ready". */
async function sender(
  tag: string,
  n: number,
  mode: "plain" | "fork" | "rename" = "plain",
  wrap: string[] = [],
): Promise<Sender> {
  // Debian's python3: any user may run it.
  const argv = [
    ...wrap,
    "/usr/bin/python3",
    "-c",
    SENDER,
    tag,
    String(n),
    mode,
  ];
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let out = "";
  const reader = child.stdout.getReader();
  const lines = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      out += dec.decode(value);
    }
  })();
  await until(() => out.includes("ready"), { what: `${tag} ready` });
  const w = child.stdin.getWriter();
  return {
    child,
    go: () => w.write(enc.encode("go\n")),
    done: (async () => {
      await until(() => out.includes("done"), { what: `${tag} done` });
      await w.close();
      await child.status;
      await lines;
    })(),
  };
}

/** Runs a filtered capture while two senders send; returns its events. */
async function capture(
  filter: string[],
  a: Sender,
  b: Sender,
): Promise<{ events: Record<string, unknown>[]; stderr: string }> {
  const dir = await Deno.makeTempDir();
  try {
    const rec = await startRecord([
      "--data",
      ...filter,
      "-F",
      "json",
      "-w",
      `${dir}/f.jsonl`,
    ]);
    await Promise.all([a.go(), b.go()]);
    await Promise.all([a.done, b.done]);
    rec.child.kill("SIGINT");
    const r = await rec.done;
    assert.equal(r.code, 0, r.stderr);
    return {
      events: jsonLines(await Deno.readTextFile(`${dir}/f.jsonl`)),
      stderr: r.stderr,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function hex(s: string): string {
  return Array.from(enc.encode(s), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

function tagged(events: Record<string, unknown>[], tag: string) {
  return events.filter((e) =>
    e.type === "packet" && String(e.data).includes(hex(tag))
  );
}

function check(
  got: { events: Record<string, unknown>[]; stderr: string },
  want: string,
  notWant: string,
  n: number,
): void {
  assert.equal(tagged(got.events, want).length, 2 * n, "every packet of it");
  assert.equal(tagged(got.events, notWant).length, 0, "none of the other");
  const packets = got.events.filter((e) => e.type === "packet").length;
  assert.match(
    got.stderr,
    new RegExp(`^${packets} packets received by filter$`, "m"),
    "the filter decides what counts as received",
  );
}

Deno.test({
  name:
    "hone record --pid: one process's packets and process events, not another's",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const a = await sender("HONE-FLT-A", 100);
  const b = await sender("HONE-FLT-B", 100);
  const got = await capture(["--pid", String(a.child.pid)], a, b);
  check(got, "HONE-FLT-A", "HONE-FLT-B", 100);
  for (const p of tagged(got.events, "HONE-FLT-A")) {
    assert.equal(p.pid, a.child.pid);
  }
  const procs = got.events.filter((e) => e.type === "process");
  assert.ok(procs.length > 0);
  for (const e of procs) assert.equal(e.pid, a.child.pid, JSON.stringify(e));
});

Deno.test({
  name: "hone record --pid --children: the processes it forks too",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const a = await sender("HONE-FLT-C", 50, "fork");
  const b = await sender("HONE-FLT-D", 50, "fork");
  const got = await capture(
    ["--pid", String(a.child.pid), "--children"],
    a,
    b,
  );
  check(got, "HONE-FLT-C", "HONE-FLT-D", 50);
  const pids = new Set(tagged(got.events, "HONE-FLT-C").map((p) => p.pid));
  assert.equal(pids.size, 1);
  assert.notEqual([...pids][0], a.child.pid, "sent by the forked child");
  assert.ok(
    got.events.some((e) =>
      e.type === "process" && e.event === "fork" && e.ppid === a.child.pid
    ),
    "the fork itself",
  );
});

Deno.test({
  name: "hone record --comm: the processes of a task name",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const a = await sender("HONE-FLT-E", 50, "rename");
  const b = await sender("HONE-FLT-F", 50);
  const got = await capture(["--comm", "hone-flt-comm"], a, b);
  check(got, "HONE-FLT-E", "HONE-FLT-F", 50);
});

/** A UDP receiver on 127.0.0.1: prints its port, takes N datagrams. */
const SINK = `
import socket, sys
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind(("127.0.0.1", 0))
print(r.getsockname()[1], flush=True)
for _ in range(int(sys.argv[1])):
    r.recv(100)
`;

Deno.test({
  name: "hone record --comm: a socket made before the exec into the name " +
    "has every packet the process sends after it",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  // bash (not matching) connects fd 3, then execs python under a name that
  // matches: the socket had no state of hone's when its first datagram
  // left (ffi/hone.bpf.c, pkt_task(): with a filter the protocol decides).
  const dir = await Deno.makeTempDir();
  const sink = new Deno.Command("/usr/bin/python3", {
    args: ["-c", SINK, "20"],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = sink.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    const port = Number((await lines.read()).value);
    await Deno.symlink("/usr/bin/python3", `${dir}/hone-flt-late`);
    const rec = await startRecord([
      "--data",
      "--comm",
      "hone-flt-late",
      "-F",
      "json",
      "-w",
      `${dir}/f.jsonl`,
    ]);
    const py = "import socket\ns = socket.socket(fileno=3)\n" +
      "for i in range(20): s.send(b'HONE-FLT-L%06d' % i)\n";
    const sh = await run("/bin/bash", [
      "-c",
      `exec 3<>/dev/udp/127.0.0.1/${port}; exec -a x ${dir}/hone-flt-late ` +
      `-c "$0"`,
      py,
    ]);
    assert.equal(sh.code, 0, sh.stderr);
    rec.child.kill("SIGINT");
    const r = await rec.done;
    assert.equal(r.code, 0, r.stderr);
    const out = tagged(
      jsonLines(await Deno.readTextFile(`${dir}/f.jsonl`)),
      "HONE-FLT-L",
    ).filter((e) => e.dir === "out");
    assert.equal(out.length, 20, "every datagram sent, the first too");
  } finally {
    try {
      sink.kill();
    } catch {
      // It has ended: it took all 20.
    }
    await sink.status;
    await lines.cancel();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "hone record --uid: the processes of a user",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const nobody = [
    "setpriv",
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
  ];
  const a = await sender("HONE-FLT-G", 50, "plain", nobody);
  const b = await sender("HONE-FLT-H", 50);
  const got = await capture(["--uid", "nobody"], a, b);
  check(got, "HONE-FLT-G", "HONE-FLT-H", 50);
});

Deno.test({
  name: "hone record --cgroup: the processes of one cgroup",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const mount = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
    .find((l) => l.includes(" - cgroup2 "))?.split(" ")[4];
  assert.ok(mount, "a cgroup v2 mount");
  const cg = `${mount}/hone-filter-test-${Deno.pid}`;
  await Deno.mkdir(cg);
  try {
    // The sender starts inside the cgroup.
    const a = await sender("HONE-FLT-I", 50, "plain", [
      "sh",
      "-c",
      `echo $$ > ${cg}/cgroup.procs && exec "$@"`,
      "sh",
    ]);
    const b = await sender("HONE-FLT-J", 50);
    const got = await capture(["--cgroup", cg], a, b);
    check(got, "HONE-FLT-I", "HONE-FLT-J", 50);
  } finally {
    await until(async () => {
      try {
        await Deno.remove(cg);
        return true;
      } catch {
        return false;
      }
    }, { what: "the test cgroup empty" });
  }
});

Deno.test({
  name: "hone record: a filter's bad values, one line each",
  ignore: Deno.uid() !== 0,
}, async () => {
  const cases: [string[], number, RegExp][] = [
    [["--children"], 2, /^hone: record: --children needs --pid \(see/],
    [
      ["--comm", "x".repeat(16)],
      2,
      /invalid comm 'x{16}': a task name is 1 to 15 bytes/,
    ],
    [
      ["--uid", "no-such-user-x"],
      2,
      /invalid uid 'no-such-user-x': no such user/,
    ],
    [["--pid", "4194304"], 1, /^hone: record: --pid 4194304: no such process$/],
    [
      ["--cgroup", "/no/such/cg"],
      1,
      /^hone: record: --cgroup \/no\/such\/cg: no such cgroup/,
    ],
  ];
  for (const [args, code, line] of cases) {
    const r = await hone(["record", ...args, "-w", "/dev/null"]);
    assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr.trim(), line);
  }
});

/** TCP and UDP over IPv4 and IPv6 on one port, between two sockets each. */
const MIX = `
import socket, sys
port = int(sys.argv[1])
for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    l = socket.socket(fam, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((host, port)); l.listen(1)
    c = socket.create_connection((host, port))
    s, _ = l.accept()
    c.sendall(b"x" * 3000); got = 0
    while got < 3000: got += len(s.recv(65536))
    s.sendall(b"y" * 100); c.recv(100)
    c.close(); s.close(); l.close()
    r = socket.socket(fam, socket.SOCK_DGRAM); r.bind((host, port))
    u = socket.socket(fam, socket.SOCK_DGRAM)
    for i in range(5):
        u.sendto(b"z" * (10 + 100 * i), (host, port)); r.recv(1000)
    r.close(); u.close()
`;

Deno.test({
  name:
    "a filter expression keeps exactly the packets tcpdump keeps, in hone read and in hone record",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir();
  const port = 40000 + (Deno.pid % 20000);
  try {
    const all = await startRecord(["-w", `${dir}/all.pcapng`]);
    const some = await startRecord([
      "-w",
      `${dir}/some.pcapng`,
      "udp",
      "and",
      `port ${port}`,
    ]);
    // Expressions the kernel runs (each instruction class, the netfilter
    // path, a load past the snap length), each with what only this test
    // sends, so that other traffic meanwhile cannot count.
    const inKernel: [string[], string][] = [
      [[], `port ${port} and tcp[tcpflags] & (tcp-syn|tcp-fin) != 0`],
      [[], `port ${port} and greater 200 and not ip6`],
      [[], `udp dst port ${port} and udp[4:2] > 300`],
      [[], "(icmp or icmp6) and (len = 1227 or len = 1247)"],
      // udp[8:4] is past 28 bytes: only the whole packet can tell.
      [["-s", "28"], `port ${port} and udp[8:4] = 0x7a7a7a7a`],
    ];
    const kern = [];
    for (const [i, [pre, expr]] of inKernel.entries()) {
      kern.push(await startRecord([...pre, "-w", `${dir}/k${i}.pcapng`, expr]));
    }
    const py = await run("/usr/bin/python3", ["-c", MIX, String(port)]);
    assert.equal(py.code, 0, py.stderr);
    for (const host of ["127.0.0.1", "::1"]) {
      // 1199 bytes of payload: 1227 on the wire over IPv4, 1247 over IPv6.
      const p = await run("ping", ["-c", "2", "-i", "0.2", "-s", "1199", host]);
      assert.equal(p.code, 0, p.stderr);
    }
    for (const r of [all, some, ...kern]) r.child.kill("SIGINT");
    const ended = await Promise.all([
      all.done,
      some.done,
      ...kern.map((k) => k.done),
    ]);
    for (const r of ended) assert.equal(r.code, 0, r.stderr);
    const file = `${dir}/all.pcapng`;
    const tcpdump = async (expr: string, f = file) => {
      const t = await run("tcpdump", ["-nn", "-q", "-r", f, expr]);
      assert.equal(t.code, 0, `'${expr}': ${t.stderr}`);
      return t.stdout.split("\n").filter((l) => l !== "").length;
    };
    const hone_ = async (expr: string[]) => {
      const r = await hone(["read", file, ...expr]);
      assert.equal(r.code, 0, r.stderr);
      return jsonLines(r.stdout).filter((e) => e.type === "packet").length;
    };
    const total = await tcpdump("");
    assert.equal(await hone_([]), total);
    for (
      const expr of [
        "tcp",
        "udp",
        "icmp",
        "icmp6",
        "ip6",
        `port ${port}`,
        `tcp port ${port} and ip6`,
        "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
        "ip6 and tcp",
        "greater 200",
        "less 80 and not tcp",
        `udp dst port ${port} and udp[4:2] > 300`,
        "host 127.0.0.1 and icmp[icmptype] == icmp-echoreply",
        "ip[8] = 64",
        "src net 127.0.0.0/8 and udp or dst host ::1 and tcp",
      ]
    ) {
      const want = await tcpdump(expr);
      assert.ok(want > 0 && want < total, `'${expr}' selects some: ${want}`);
      assert.equal(await hone_([expr]), want, expr);
    }
    // hone record with an expression: what tcpdump's filter takes from
    // the unfiltered capture of the same traffic.
    const udp = `udp and port ${port}`;
    assert.equal(await tcpdump("", `${dir}/some.pcapng`), await tcpdump(udp));
    assert.equal(
      await tcpdump(udp),
      20,
      "5 datagrams, IPv4 and IPv6, out and in",
    );
    // In the kernel: the same packets as tcpdump's filter on the whole
    // capture, and the kernel says it ran the expression.
    for (const [i, [, expr]] of inKernel.entries()) {
      const r = ended[2 + i]!;
      assert.match(r.stderr, /filter expression in the kernel/, expr);
      const want = await tcpdump(expr);
      assert.ok(want > 0, `'${expr}' selects some`);
      assert.equal(await tcpdump("", `${dir}/k${i}.pcapng`), want, expr);
      assert.match(
        r.stderr,
        new RegExp(`^${want} packets received by filter$`, "m"),
        expr,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "hone record: an expression over 256 instructions runs in hone, and still filters",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  // 40 ports, each tested for TCP, UDP and SCTP over IPv4 and IPv6.
  const ports = Array.from({ length: 40 }, (_, i) => `port ${i + 1}`);
  const port = 40000 + (Deno.pid % 20000);
  const expr = `${ports.join(" or ")} or udp port ${port}`;
  const rec = await startRecord(["-F", "json", expr]);
  assert.match(rec.stderr(), /filter expression in hone/);
  const py = await run("/usr/bin/python3", ["-c", MIX, String(port)]);
  assert.equal(py.code, 0, py.stderr);
  rec.child.kill("SIGINT");
  const r = await rec.done;
  assert.equal(r.code, 0, r.stderr);
  const mine = jsonLines(new TextDecoder().decode(r.stdout)).filter((e) =>
    e.type === "packet" && (e.sport === port || e.dport === port)
  );
  // UDP's 5 datagrams over IPv4 and IPv6, sent and received; no TCP.
  assert.deepEqual(
    [mine.length, new Set(mine.map((e) => e.proto))],
    [20, new Set(["udp"])],
  );
});
