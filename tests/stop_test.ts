// How a live capture ends: a stop signal ends it whatever stdout does, a
// full disk leaves a file that tshark and hone read, and the counts on
// stderr, in the JSON stats line and in the ISB are the same numbers.
// Real `hone record` (root, real BPF) with real loopback traffic.
import assert from "node:assert/strict";
import { hone, jsonLines, run, tsharkFrames } from "./_helpers.ts";
import { startRecord } from "./_recording.ts";

/** Loopback traffic that has fully passed the sensor when this resolves. */
async function flood(count: number, size = 64): Promise<void> {
  const r = await run("ping", [
    "-f",
    "-q",
    "-c",
    `${count}`,
    "-s",
    `${size}`,
    "127.0.0.1",
  ]);
  assert.equal(r.code, 0, r.stderr);
}

/** Echo requests this network namespace has sent (/proc/net/snmp). */
async function echoesSent(): Promise<number> {
  const lines = (await Deno.readTextFile("/proc/net/snmp")).split("\n")
    .filter((l) => l.startsWith("Icmp: "));
  const names = lines[0]!.split(" ");
  return Number(lines[1]!.split(" ")[names.indexOf("OutEchos")]);
}

/** Waits until `n` more echo requests than `from` have been sent. */
async function waitForEchoes(from: number, n: number): Promise<void> {
  const deadline = Date.now() + 20000;
  while (await echoesSent() < from + n) {
    if (Date.now() > deadline) throw new Error("no echo requests were sent");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The packet counts printed on stderr at the end of a capture. */
function stderrCounts(stderr: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (
    const [, n, what] of stderr.matchAll(
      /^(?:hone: )?(\d+) packets? ([a-z ]+?)(?: \(.*\))?$/gm,
    )
  ) counts[what!] = Number(n);
  return counts;
}

Deno.test("record: a stop signal ends the capture while stdout is blocked", async () => {
  // Nobody reads hone's stdout: once the pipe is full every write blocks.
  const rec = await startRecord(["--data"], { readStdout: false });
  // Far more than a pipe holds (64 KiB): 4000 packets of ~400 bytes of JSON.
  await flood(2000, 100);
  rec.child.kill("SIGINT");
  const { code, stderr } = await rec.done;
  // It ended without anyone reading its stdout.
  assert.equal(code, 0, stderr);
  assert.match(stderr, /stdout took no data for \d+ ms after the stop/);
  assert.match(stderr, /^\d+ packets? received by filter$/m);
});

Deno.test("record: a second stop signal ends it at once", async () => {
  const rec = await startRecord(["--data"], { readStdout: false });
  await flood(2000, 100);
  // The first waits (up to its grace period) for the blocked stdout; the
  // second does not wait. (Two SIGINTs sent at once could merge into one
  // pending signal: a SIGTERM cannot merge with the SIGINT.)
  rec.child.kill("SIGINT");
  rec.child.kill("SIGTERM");
  const { code, stderr } = await rec.done;
  assert.equal(code, 1, stderr);
  assert.match(stderr, /^hone: record: second stop signal: exiting at once$/m);
});

Deno.test("record: stderr, the JSON stats line and the ISB give the same counts", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/c.pcapng`;
    const rec = await startRecord(["-s", "128", "-w", file], {
      stdout: "null",
    });
    await flood(3000);
    // Stop while packets still arrive: the counts must still add up.
    const before = await echoesSent();
    const busy = new Deno.Command("ping", {
      args: ["-f", "-q", "-c", "1000000", "127.0.0.1"],
      stdout: "null",
      stderr: "null",
    }).spawn();
    let stopped;
    try {
      await waitForEchoes(before, 1000);
      rec.child.kill("SIGINT");
      stopped = await rec.done;
    } finally {
      // ping may have ended by itself (hone slow to stop): nothing to kill.
      try {
        busy.kill("SIGINT");
      } catch { /* already ended */ }
      await busy.status;
    }
    const { code, stderr } = stopped;
    assert.equal(code, 0, stderr);
    const c = stderrCounts(stderr);
    const captured = c["captured"]!;
    const received = c["received by filter"]!;
    const dropped = c["dropped by kernel"]!;
    const notWritten = c["not written"] ?? 0;
    assert.ok(captured >= 6000, stderr);
    assert.equal(received, captured + dropped + notWritten, stderr);
    // The file: its packets, and its ISB as `hone read` gives it.
    const r = await hone(["read", file]);
    assert.equal(r.code, 0, r.stderr);
    const events = jsonLines(r.stdout);
    const packets = events.filter((e) => e.type === "packet").length;
    const stats = events.filter((e) => e.type === "stats");
    assert.equal(stats.length, 1);
    const s = stats[0] as Record<string, Record<string, number>>;
    assert.equal(packets, captured);
    assert.equal(s.delivered!.packet, captured);
    assert.equal(s.received!.packet, received);
    assert.equal(s.dropped!.packet, dropped);
    // tshark counts the same frames.
    const t = await tsharkFrames(file);
    assert.equal(t.code, 0, t.warnings);
    assert.equal(t.frames, captured);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("record -c: the packets past the limit are counted as not written", async () => {
  const rec = await startRecord(["-c", "10", "-w", "/dev/null"], {
    stdout: "null",
  });
  await flood(500);
  const { code, stderr } = await rec.done;
  assert.equal(code, 0, stderr);
  const c = stderrCounts(stderr);
  assert.equal(c["captured"], 10, stderr);
  assert.equal(
    c["received by filter"],
    10 + c["dropped by kernel"]! + (c["not written"] ?? 0),
    stderr,
  );
});

Deno.test("record on a full disk: the file ends with whole blocks and its ISB", async () => {
  const dir = await Deno.makeTempDir();
  const mounted = await run("mount", [
    "-t",
    "tmpfs",
    "-o",
    "size=1m",
    "tmpfs",
    dir,
  ]);
  assert.equal(mounted.code, 0, mounted.stderr);
  try {
    const file = `${dir}/c.pcapng`;
    const rec = await startRecord(["-s", "128", "-w", file], {
      stdout: "null",
    });
    // ~150 bytes a packet in the file: 40 000 packets fill 1 MiB many times.
    const traffic = flood(20000, 100);
    const { code, stderr } = await rec.done;
    await traffic;
    assert.equal(code, 1, stderr);
    const m = stderr.match(
      /^hone: record: write .*: No space left on device \((\d+) packets written\)$/m,
    );
    assert.ok(m, stderr);
    const written = Number(m[1]);
    assert.ok(written > 1000, stderr);
    const r = await hone(["read", file]);
    assert.equal(r.code, 0, r.stderr);
    const events = jsonLines(r.stdout);
    assert.equal(events.filter((e) => e.type === "packet").length, written);
    const stats = events.filter((e) => e.type === "stats");
    assert.equal(stats.length, 1, "the ISB made it in");
    const t = await tsharkFrames(file);
    assert.equal(t.code, 0, t.warnings);
    assert.equal(t.warnings, "");
    assert.equal(t.frames, written);
  } finally {
    await run("umount", [dir]);
    await Deno.remove(dir, { recursive: true });
  }
});
