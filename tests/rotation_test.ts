/**
 * `hone record -w` as an operator runs it for months: -C, -G, -W, -z, -a
 * and SIGHUP, with real traffic under the real sensor. Each file must stand
 * alone (tshark reads it, `hone read` gives each packet its pid, it ends
 * with its own statistics) and no packet may be lost or written twice at a
 * boundary.
 *
 * @module
 */

import assert from "node:assert/strict";
import { hone, jsonLines, run, until } from "./_helpers.ts";
import { startRecord } from "./_recording.ts";
import { udpBurst } from "./_traffic.ts";

const TAG = "HONE-ROT-";

/** The packets of a file that carry the tag, as `hone read --data` gives them. */
async function tagged(
  file: string,
  tag = TAG,
): Promise<Record<string, unknown>[]> {
  const hex = toHex(tag);
  const r = await hone(["read", "--data", file]);
  assert.equal(r.code, 0, `${file}: ${r.stderr}`);
  return jsonLines(r.stdout).filter((e) =>
    e.type === "packet" && String(e.data).includes(hex)
  );
}

/** tshark reads the file, with no warning or error. */
async function tsharkClean(file: string): Promise<void> {
  const t = await run("tshark", ["-r", file, "-q", "-z", "expert,warn"]);
  assert.equal(t.code, 0, `${file}: ${t.stderr}`);
  assert.doesNotMatch(t.stdout, /^ *(Error|Warning) /m, file);
}

/** The files of a rotated capture, in order. */
async function filesOf(dir: string, prefix: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith(prefix) && !e.name.startsWith(".")) {
      names.push(e.name);
    }
  }
  const num = (s: string) => Number(s.slice(prefix.length) || "0");
  return names.sort((a, b) => num(a) - num(b)).map((n) => `${dir}/${n}`);
}

Deno.test({
  name:
    "hone record -C: each file stands alone, and the files together hold what one unrotated capture holds",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The same traffic, seen by two captures at once.
    const one = await startRecord(["-s", "128", "-w", `${dir}/one.pcapng`]);
    const rot = await startRecord([
      "-s",
      "128",
      "-C",
      "1",
      "-w",
      `${dir}/rot.pcapng`,
    ]);
    const n = 6000;
    const pid = await udpBurst(n, 600, TAG);
    one.child.kill("SIGINT");
    rot.child.kill("SIGINT");
    const [a, b] = await Promise.all([one.done, rot.done]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, /^0 packets dropped by kernel$/m);

    const whole = await tagged(`${dir}/one.pcapng`);
    assert.equal(whole.length, 2 * n, "loopback: each datagram out and in");
    const files = await filesOf(dir, "rot.pcapng");
    assert.ok(files.length >= 3, `at least 3 files: ${files.join(" ")}`);
    let sum = 0;
    const seen = new Set<string>();
    for (const f of files) {
      await tsharkClean(f);
      const t = await tagged(f);
      // hone read of this file alone gives every packet its process.
      for (const p of t) assert.equal(p.pid, pid, `${f}: ${JSON.stringify(p)}`);
      for (const p of t) {
        // The datagram's number follows the tag.
        const d = String(p.data), at = d.indexOf(toHex(TAG));
        seen.add(`${p.dir} ${d.slice(at, at + 2 * (TAG.length + 7))}`);
      }
      sum += t.length;
      // It starts with the live processes, and ends with its own counts.
      const r = jsonLines((await hone(["read", f])).stdout);
      assert.equal(r[0]!.type, "process", `${f} starts with the processes`);
      const stats = r.at(-1)!;
      assert.equal(stats.type, "stats", `${f} ends with its statistics`);
      const packets = r.filter((e) => e.type === "packet").length;
      assert.equal(
        (stats.delivered as { packet: number }).packet,
        packets,
        `${f}: its statistics count its own packets`,
      );
    }
    assert.equal(sum, 2 * n, "no packet lost or written twice");
    assert.equal(seen.size, 2 * n);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "hone record: SIGHUP closes the file and opens its name again, nothing lost at the boundary",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir();
  const f = `${dir}/hup.jsonl`;
  try {
    const rec = await startRecord(["-F", "json", "--data", "-w", f]);
    const n = 300;
    // logrotate's move and SIGHUP while the first burst may be in flight.
    const burst1 = udpBurst(n, 100, "HONE-HUP1-");
    await Deno.rename(f, `${f}.1`);
    rec.child.kill("SIGHUP");
    await burst1;
    await until(async () => {
      try {
        return (await Deno.stat(f)).isFile;
      } catch {
        return false;
      }
    }, { what: "the file opened again" });
    await udpBurst(n, 100, "HONE-HUP2-");
    rec.child.kill("SIGINT");
    const r = await rec.done;
    assert.equal(r.code, 0, r.stderr);
    const first = jsonLines(await Deno.readTextFile(`${f}.1`));
    const second = jsonLines(await Deno.readTextFile(f));
    assert.equal(first.at(-1)!.type, "stats", "the moved file ends whole");
    assert.equal(second[0]!.type, "process", "the new file starts whole");
    const count = (es: Record<string, unknown>[], tag: string) =>
      es.filter((e) =>
        e.type === "packet" && String(e.data).includes(toHex(tag))
      ).length;
    assert.equal(
      count(first, "HONE-HUP1-") + count(second, "HONE-HUP1-"),
      2 * n,
      "the first burst, once, over the two files",
    );
    assert.equal(count(first, "HONE-HUP2-"), 0);
    assert.equal(count(second, "HONE-HUP2-"), 2 * n);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function toHex(s: string): string {
  return Array.from(
    new TextEncoder().encode(s),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

Deno.test({
  name:
    "hone record -G with -W stops after its files; strftime names; -z runs on each finished file",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    const rec = await startRecord([
      "-G",
      "1",
      "-W",
      "2",
      "-z",
      "gzip",
      "-w",
      `${dir}/g-%s.pcapng`,
    ]);
    const r = await rec.done;
    assert.equal(r.code, 0, r.stderr);
    // gzip runs after each file ends, without hone waiting for it.
    await until(async () =>
      (await filesOf(dir, "g-")).length === 2 &&
      (await filesOf(dir, "g-")).every((f) => f.endsWith(".pcapng.gz")), {
      what: "two gzipped files",
    });
    for (const f of await filesOf(dir, "g-")) {
      const z = await run("sh", ["-c", `gzip -dc '${f}' | tshark -r - -q`]);
      assert.equal(z.code, 0, `${f}: ${z.stderr}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "hone record -C on a disk that fills: the finished files stay whole, the failing one is named and ends whole",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir();
  const m = await run("mount", [
    "-t",
    "tmpfs",
    "-o",
    "size=2600k",
    "tmpfs",
    dir,
  ]);
  assert.equal(m.code, 0, m.stderr);
  try {
    const rec = await startRecord([
      "-s",
      "128",
      "-C",
      "1",
      "-w",
      `${dir}/f.pcapng`,
    ], {
      stdout: "null",
    });
    // Far more than 2.6 MB of records; it ends by itself at the full disk.
    let ended = false;
    rec.done.then(() => ended = true);
    while (!ended) await udpBurst(2000, 100, TAG);
    const r = await rec.done;
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^hone: record: write ${dir}/f\\.pcapng2: No space left on device \\(\\d+ packets written\\)$`,
        "m",
      ),
    );
    const files = await filesOf(dir, "f.pcapng");
    assert.deepEqual(files.map((f) => f.slice(dir.length + 1)), [
      "f.pcapng",
      "f.pcapng1",
      "f.pcapng2",
    ]);
    let packets = 0;
    for (const f of files) {
      await tsharkClean(f);
      const events = jsonLines((await hone(["read", f])).stdout);
      packets += events.filter((e) => e.type === "packet").length;
      if (!f.endsWith("2")) {
        assert.equal(events.at(-1)!.type, "stats", `${f} ends with its ISB`);
      }
    }
    const written = Number(/\((\d+) packets written\)/.exec(r.stderr)![1]);
    assert.equal(packets, written, "what stderr says the files hold");
  } finally {
    await run("umount", [dir]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "hone record -z: a command that fails is reported, the capture goes on",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    const rec = await startRecord([
      "-s",
      "128",
      "-C",
      "1",
      "-z",
      "false",
      "-w",
      `${dir}/z.pcapng`,
    ]);
    await until(async () => {
      await udpBurst(1000, 100, TAG);
      return rec.stderr().includes("-z false");
    }, { what: "the report of the failed -z", intervalMs: 0 });
    await udpBurst(100, 100, "HONE-ZAFTER-");
    rec.child.kill("SIGINT");
    const r = await rec.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^hone: WARNING: -z false ${dir}/z\\.pcapng: exit status 1$`,
        "m",
      ),
    );
    const files = await filesOf(dir, "z.pcapng");
    let after = 0;
    for (const f of files) after += (await tagged(f, "HONE-ZAFTER-")).length;
    assert.equal(after, 200, "the capture went on");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "hone record: 100 SIGHUPs in a second lose nothing",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir();
  const f = `${dir}/storm.pcapng`;
  try {
    const rec = await startRecord(["-s", "128", "-w", f]);
    const traffic = udpBurst(3000, 100, "HONE-STORM-");
    for (let i = 0; i < 100; i++) {
      rec.child.kill("SIGHUP");
      await new Promise((r) => setTimeout(r, 10));
    }
    await traffic;
    rec.child.kill("SIGINT");
    const r = await rec.done;
    assert.equal(r.code, 0, r.stderr);
    // Nobody moved the file: each reopen appended a section to it.
    await tsharkClean(f);
    const t = await tagged(f, "HONE-STORM-");
    assert.equal(t.length, 6000, "every packet, once");
    const sections = jsonLines((await hone(["read", f])).stdout)
      .filter((e) => e.type === "stats").length;
    assert.ok(sections > 1, `several sections: ${sections}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "hone record -a appends a section to its own file, and keeps what was there",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir();
  const f = `${dir}/a.pcapng`;
  try {
    for (const [i, args] of [[], ["-a"]].entries()) {
      const rec = await startRecord(["-s", "128", ...args, "-w", f]);
      await udpBurst(50, 100, `HONE-APPEND${i}-`);
      rec.child.kill("SIGINT");
      const r = await rec.done;
      assert.equal(r.code, 0, r.stderr);
    }
    await tsharkClean(f);
    assert.equal((await tagged(f, "HONE-APPEND0-")).length, 100);
    assert.equal((await tagged(f, "HONE-APPEND1-")).length, 100);
    const stats = jsonLines((await hone(["read", f])).stdout)
      .filter((e) => e.type === "stats");
    assert.equal(stats.length, 2, "two sections, each with its statistics");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
