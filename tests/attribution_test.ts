// The attribution suite: scenarios whose processes log which pid sent and
// which pid read each tagged payload (tests/attribution/scenarios.py), run
// under `hone record`; hone's packets are compared with that truth. Prints
// a table of scenarios x correct/total and the overall percentage.
import assert from "node:assert/strict";
import { Collected, honeCommand, jsonLines, ROOT, until } from "./_helpers.ts";

const enc = new TextEncoder();

/** The least share of correct packets each scenario must keep (regressions fail). */
const EXPECTED: Record<string, number> = {
  preexisting: 1,
  tcp4: 1,
  tcp6: 1,
  udpconn: 1,
  udpunconn: 1,
  pingdgram: 1,
  pingraw: 1,
  forkshared: 1,
  scmrights: 1,
  prefork: 1,
  threads: 1,
  shortlived: 1,
  execafter: 1,
  netns: 1,
};

interface Truth {
  send?: { pid: number; tid: number };
  recv?: { pid: number; tid: number };
}

/** The tags of this run: "HONE<scenario>:<run>.<n>;". */
const TAG = /HONE([a-z0-9]+):(\d+)\.(\d+);/g;

/**
 * The tags a packet event carries, or none when the packet is not a
 * process's: of ICMP, only the echo request out and the reply in are (the
 * kernel itself answers the request).
 */
function tagsOf(p: Record<string, unknown>): RegExpMatchArray[] {
  if (p.type !== "packet" || typeof p.data !== "string") return [];
  if (p.proto === "icmp" || p.proto === "icmpv6") {
    const it = p.icmp_type as number;
    const mine = (p.dir === "out" && (it === 8 || it === 128)) ||
      (p.dir === "in" && (it === 0 || it === 129));
    if (!mine) return [];
  }
  return [...hexToLatin1(p.data).matchAll(TAG)];
}

function hexToLatin1(hex: string): string {
  let s = "";
  for (let i = 0; i < hex.length; i += 2) {
    s += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  }
  return s;
}

Deno.test({
  name:
    "attribution suite: every tagged packet goes to the process that sent or read it",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const truthFile = await Deno.makeTempFile({ suffix: ".jsonl" });
  const driver = new Deno.Command("/usr/bin/python3", {
    args: [`${ROOT}tests/attribution/scenarios.py`, truthFile],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const dout = new Collected(driver.stdout);
  const derr = new Collected(driver.stderr);
  const [cmd, pre] = honeCommand();
  let hone: Deno.ChildProcess | null = null;
  try {
    await dout.until(
      "ready from the driver",
      (c) => c.text().includes("ready"),
    );
    // HONE_RECORD_ARGS: e.g. "--sensor kmod" (tests/kmod/guest/tests.sh).
    const extra = (Deno.env.get("HONE_RECORD_ARGS") ?? "").split(" ")
      .filter((a) => a !== "");
    hone = new Deno.Command(cmd, {
      args: [...pre, "record", "--data", "-s", "0", ...extra],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const hout = new Collected(hone.stdout);
    const herr = new Collected(hone.stderr);
    await herr.until(
      "listening from hone",
      (c) => /listening on/.test(c.text()),
    );
    const w = driver.stdin.getWriter();
    await w.write(enc.encode("go\n"));
    // The scenarios take seconds; a loaded machine makes them longer, and
    // an emulated guest (tests/kmod) beside other guests minutes: the bound
    // only ends a driver that hangs.
    await dout.until(
      "done from the driver",
      (c) => c.text().includes("done"),
      600_000,
    ).catch((e) => {
      throw new Error(`${e.message}\n${derr.text()}`);
    });
    await w.close();
    await driver.status;
    await derr.ended;
    assert.equal(derr.text(), "", derr.text());

    const truth = new Map<string, Truth>();
    for (const t of jsonLines(await Deno.readTextFile(truthFile))) {
      const e = truth.get(t.tag as string) ?? {};
      e[t.op as "send" | "recv"] = {
        pid: t.pid as number,
        tid: t.tid as number,
      };
      truth.set(t.tag as string, e);
    }
    // Wait until hone has shown each tagged packet the truth tells of, sent
    // (out) and read (in); then stop it.
    const missing = new Set<string>();
    for (const [tag, t] of truth) {
      if (t.send) missing.add(`${tag} out`);
      if (t.recv) missing.add(`${tag} in`);
    }
    let seen = 0;
    await until(() => {
      const events = hout.jsonLines();
      for (; seen < events.length; seen++) {
        for (const m of tagsOf(events[seen]!)) {
          missing.delete(`${m[0]} ${events[seen]!.dir}`);
        }
      }
      return missing.size === 0;
    }, { what: "tagged packet" }).catch((e) => {
      throw new Error(`${e.message}: ${[...missing].join(", ")}`);
    });
    hone.kill("SIGINT");
    const st = await hone.status;
    await Promise.all([hout.ended, herr.ended]);
    assert.equal(st.code, 0, herr.text());

    const table = new Map<
      string,
      { out: [number, number]; in: [number, number]; bad: string[] }
    >();
    for (const p of hout.jsonLines()) {
      for (const m of tagsOf(p)) {
        const t = truth.get(m[0]);
        if (!t) continue;
        const want = p.dir === "out" ? t.send : t.recv;
        if (!want) continue;
        const row = table.get(m[1]!) ?? { out: [0, 0], in: [0, 0], bad: [] };
        const cell = p.dir === "out" ? row.out : row.in;
        cell[1]++;
        // Threads: the sending thread must be named too.
        const tidOk = m[1] !== "threads" || p.dir !== "out" ||
          p.tid === want.tid;
        if (p.pid === want.pid && tidOk) cell[0]++;
        else {
          row.bad.push(
            `${m[0]} ${p.dir}: pid ${p.pid} tid ${p.tid} (${
              p.how ?? "?"
            }), truth ${want.pid}/${want.tid}`,
          );
        }
        table.set(m[1]!, row);
      }
    }
    let lines = "\nscenario       out (sent)   in (read)\n";
    let ok = 0, all = 0;
    for (const name of Object.keys(EXPECTED)) {
      const r = table.get(name) ?? { out: [0, 0], in: [0, 0], bad: [] };
      lines += `${name.padEnd(14)} ${`${r.out[0]}/${r.out[1]}`.padEnd(12)} ${
        r.in[0]
      }/${r.in[1]}\n`;
      ok += r.out[0] + r.in[0];
      all += r.out[1] + r.in[1];
    }
    lines += `overall        ${ok}/${all} = ${
      (100 * ok / Math.max(1, all)).toFixed(1)
    } %\n`;
    lines += herr.text().replace(/^/gm, "  ");
    await Deno.stdout.write(enc.encode(lines));
    for (const [name, min] of Object.entries(EXPECTED)) {
      const r = table.get(name);
      assert.ok(
        r && r.out[1] > 0 && r.in[1] > 0,
        `scenario ${name} produced no tagged packets in both directions`,
      );
      const share = (r.out[0] + r.in[0]) / (r.out[1] + r.in[1]);
      assert.ok(
        share >= min,
        `${name}: ${(100 * share).toFixed(0)} % < ${100 * min} %\n${
          r.bad.join("\n")
        }`,
      );
    }
  } finally {
    try {
      driver.kill("SIGKILL");
    } catch { /* ended */ }
    try {
      hone?.kill("SIGKILL");
    } catch { /* ended */ }
    await Deno.remove(truthFile).catch(() => {});
  }
});
