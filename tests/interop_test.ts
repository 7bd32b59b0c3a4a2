// tshark and tcpdump, run for real, read what hone writes.
import assert from "node:assert/strict";
import { PcapngWriter } from "../src/writers/pcapng/pcapng_writer.ts";
import { sampleEvents } from "./testdata/sample_events.ts";
import { Collected, hone, jsonLines, run, until } from "./_helpers.ts";
import { startRecord } from "./_recording.ts";

async function sampleFile(): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".pcapng" });
  await Deno.writeFile(path, new PcapngWriter().encode(sampleEvents()));
  return path;
}

/**
 * TCP flags of each whole packet in a classic pcap file of Ethernet frames
 * carrying IPv4 (0 for another packet), as far as it is written.
 */
function tcpFlags(path: string): number[] {
  let f: Uint8Array;
  try {
    f = Deno.readFileSync(path);
  } catch {
    return [];
  }
  const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const flags = [];
  for (let p = 24; p + 16 <= f.length;) {
    const n = v.getUint32(p + 8, true), d = p + 16;
    if (d + n > f.length) break;
    const ihl = (f[d + 14]! & 15) * 4;
    const ipv4 = v.getUint16(d + 12) === 0x800 && f[d + 23] === 6;
    flags.push(ipv4 ? f[d + 14 + ihl + 13] ?? 0 : 0);
    p = d + n;
  }
  return flags;
}

Deno.test("tshark reads hone's pcapng without a warning and shows each packet's process", async () => {
  const f = await sampleFile();
  const r = await run("tshark", [
    "-r",
    f,
    "-T",
    "fields",
    "-E",
    "separator=|",
    "-e",
    "frame.number",
    "-e",
    "frame.comment",
    "-e",
    "udp.srcport",
    "-e",
    "frame.len",
    "-e",
    "frame.cap_len",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.replace(/Running as user "root".*\n/, ""), "");
  assert.deepEqual(r.stdout.trim().split("\n"), [
    "1|pid=4242 comm=curl exe=/usr/bin/curl|5000|32|32",
    "2|pid=4243 comm=curl exe=/usr/bin/curl|53|32|32",
    "3||1|1500|128",
  ]);
  // Nanosecond timestamps and directions survive.
  const t = await run("tshark", [
    "-r",
    f,
    "-T",
    "fields",
    "-e",
    "frame.time_epoch",
    "-e",
    "frame.interface_name",
    "-e",
    "frame.packet_flags_direction",
  ]);
  const lines = t.stdout.trim().split("\n");
  assert.equal(t.code, 0, t.stderr);
  assert.match(lines[0]!, /^1764134800\.000000006\thone\t0x0+2$/);
  assert.match(lines[1]!, /^1764134800\.000000007\thone\t0x0+1$/);
  await Deno.remove(f);
});

Deno.test("tshark's Darwin dissector reads hone's Apple process blocks, one per process, and the packets' indexes", async () => {
  const f = await sampleFile();
  // Debian's tshark 4.0 shows Apple's blocks in its file view only (4.6
  // and later join them to each packet as frame.darwin.process_info).
  const blocks = await run("tshark", [
    "-r",
    f,
    "-X",
    "read_format:MIME Files Format",
    "-T",
    "fields",
    "-e",
    "pcapng.darwin.process_id",
    "-e",
    "pcapng.darwin.process_name",
    "-e",
    "pcapng.options.option.data.packet.darwin.dpeb_id",
    "-e",
    "pcapng.options.option.data.packet.darwin.edpeb_id",
  ]);
  assert.equal(blocks.code, 0, blocks.stderr);
  const rows = blocks.stdout.split("\n").filter((l) => l.trim() !== "");
  // The file is one record in this view: every block's fields, in order.
  assert.deepEqual(rows, ["4242,4243\tcurl,curl\t0,1\t0,1"]);
  // Packets only, as before: the blocks add no frame.
  const frames = await run("tshark", ["-r", f]);
  assert.equal(frames.stdout.trim().split("\n").length, 3);
  await Deno.remove(f);
});

Deno.test("tshark's capture-file view shows hone's section and statistics", async () => {
  const f = await sampleFile();
  const r = await run("capinfos", ["-M", f]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Number of packets:\s+3/);
  assert.match(r.stdout, /Capture application:\s+hone 0\.1\.0/);
  assert.match(r.stdout, /Capture comment:\s+a test/);
  assert.match(r.stdout, /File encapsulation:\s+rawip/);
  await Deno.remove(f);
});

Deno.test("tcpdump reads hone's pcapng", async () => {
  const f = await sampleFile();
  const r = await run("tcpdump", ["-nn", "-r", f]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /link-type RAW/);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /127\.0\.0\.1\.5000 > 127\.0\.0\.1\.53: /);
  await Deno.remove(f);
});

Deno.test("hone read rewrites a tcpdump capture into pcapng that tshark reads", async () => {
  const dir = await Deno.makeTempDir();
  // A real loopback exchange captured by tcpdump (Ethernet link type on lo).
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const td = new Deno.Command("tcpdump", {
    args: [
      "-Z",
      "root",
      "--immediate-mode",
      "-i",
      "lo",
      "-U",
      "-w",
      `${dir}/lo.pcap`,
      `tcp port ${port}`,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const tdErr = new Collected(td.stderr);
  await tdErr.until("tcpdump listening", (c) => c.text().includes("listening"));
  const accept = listener.accept().then(async (c) => {
    await c.write(new TextEncoder().encode("hello"));
    c.close();
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.read(new Uint8Array(16));
  conn.close();
  await accept;
  listener.close();
  // tcpdump -U writes each packet as it comes: wait until the file holds
  // both FINs and the ACK after the last one, the end of the exchange.
  await until(() => {
    const flags = tcpFlags(`${dir}/lo.pcap`);
    const fins = flags.filter((f) => f & 1).length;
    return fins >= 2 && !(flags.at(-1)! & 1);
  }, { what: "end of the exchange in tcpdump's capture" });
  td.kill("SIGINT");
  await td.status;
  await tdErr.ended;
  const w = await hone(["read", `${dir}/lo.pcap`, "-w", `${dir}/out.pcapng`]);
  assert.equal(w.code, 0, w.stderr);
  const a = await run("tshark", [
    "-r",
    `${dir}/lo.pcap`,
    "-T",
    "fields",
    "-e",
    "tcp.flags.str",
    "-e",
    "tcp.len",
  ]);
  const b = await run("tshark", [
    "-r",
    `${dir}/out.pcapng`,
    "-T",
    "fields",
    "-e",
    "tcp.flags.str",
    "-e",
    "tcp.len",
  ]);
  assert.equal(b.code, 0, b.stderr);
  assert.ok(a.stdout.split("\n").length >= 6, a.stdout + a.stderr);
  assert.equal(b.stdout, a.stdout);
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name:
    "--loopback-once: a local TCP exchange shows no retransmission in tshark, and hone read gives the same events",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir();
  const port = 41000 + (Deno.pid % 20000);
  try {
    const twice = await startRecord(["-s", "128", "-w", `${dir}/twice.pcapng`]);
    const once = await startRecord([
      "-s",
      "128",
      "--loopback-once",
      "-w",
      `${dir}/once.pcapng`,
    ]);
    // A request and a reply over loopback, as curl to a local server.
    const py = await run("/usr/bin/python3", [
      "-c",
      `
import socket
l = socket.socket(); l.bind(("127.0.0.1", ${port})); l.listen(1)
c = socket.create_connection(("127.0.0.1", ${port})); s, _ = l.accept()
c.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n"); s.recv(100)
s.sendall(b"HTTP/1.0 200 OK\\r\\n\\r\\n" + b"x" * 2000); s.close()
while c.recv(4096): pass
c.close(); l.close()
`,
    ]);
    assert.equal(py.code, 0, py.stderr);
    twice.child.kill("SIGINT");
    once.child.kill("SIGINT");
    for (const r of await Promise.all([twice.done, once.done])) {
      assert.equal(r.code, 0, r.stderr);
    }
    const analysis = async (f: string) => {
      const t = await run("tshark", [
        "-r",
        f,
        "-Y",
        `tcp.port == ${port} and (tcp.analysis.retransmission or tcp.analysis.duplicate_ack)`,
      ]);
      assert.equal(t.code, 0, t.stderr);
      return t.stdout.split("\n").filter((l) => l !== "").length;
    };
    assert.ok(await analysis(`${dir}/twice.pcapng`) > 0, "each copy twice");
    assert.equal(await analysis(`${dir}/once.pcapng`), 0, "live with the flag");
    const w = await run("tshark", [
      "-r",
      `${dir}/once.pcapng`,
      "-q",
      "-z",
      "expert,warn",
    ]);
    assert.doesNotMatch(w.stdout, /^ *(Error|Warning) /m);
    // The same capture rewritten with the flag reads back the same events.
    const re = await hone([
      "read",
      `${dir}/twice.pcapng`,
      "--loopback-once",
      "-w",
      `${dir}/rewritten.pcapng`,
    ]);
    assert.equal(re.code, 0, re.stderr);
    assert.equal(await analysis(`${dir}/rewritten.pcapng`), 0);
    const a = await hone(["read", `${dir}/twice.pcapng`]);
    const b = await hone(["read", `${dir}/rewritten.pcapng`]);
    assert.equal(b.stdout, a.stdout);
    const mine = jsonLines(b.stdout).filter((e) =>
      e.type === "packet" && (e.sport === port || e.dport === port)
    );
    assert.ok(
      mine.some((e) => e.dir === "in") && mine.some((e) => e.dir === "out"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
