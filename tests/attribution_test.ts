// The attribution suite: scenarios whose processes log which pid sent and
// which pid read each tagged payload (tests/attribution/scenarios.py), run
// under `hone record`; hone's packets are compared with that truth. Prints
// a table of scenarios x correct/total and the overall percentage.
import assert from "node:assert/strict";
import { honeCommand, jsonLines, ROOT } from "./_helpers.ts";

const dec = new TextDecoder();
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

async function readUntil(
  r: ReadableStreamDefaultReader<Uint8Array>,
  re: RegExp,
  ms: number,
): Promise<string> {
  let seen = "";
  const deadline = Date.now() + ms;
  while (!re.test(seen)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${re}: ${seen}`);
    const res = await Promise.race([
      r.read(),
      new Promise<null>((ok) => setTimeout(() => ok(null), left)),
    ]);
    if (res === null) continue;
    if (res.done) throw new Error(`stream ended before ${re}: ${seen}`);
    seen += dec.decode(res.value);
  }
  return seen;
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
  // Datagram ping sockets need root's group in ping_group_range.
  const rangePath = "/proc/sys/net/ipv4/ping_group_range";
  const oldRange = await Deno.readTextFile(rangePath);
  await Deno.writeTextFile(rangePath, "0 2147483647");
  const driver = new Deno.Command("/usr/bin/python3", {
    args: [`${ROOT}tests/attribution/scenarios.py`, truthFile],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const dout = driver.stdout.getReader();
  const derr = new Response(driver.stderr).text();
  const [cmd, pre] = honeCommand();
  let hone: Deno.ChildProcess | null = null;
  try {
    await readUntil(dout, /ready/, 20000);
    hone = new Deno.Command(cmd, {
      args: [...pre, "record", "--data", "-s", "0"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const hout = new Response(hone.stdout).arrayBuffer();
    const herrReader = hone.stderr.getReader();
    let herr = await readUntil(herrReader, /listening on/, 20000);
    const w = driver.stdin.getWriter();
    await w.write(enc.encode("go\n"));
    await readUntil(dout, /done/, 120000);
    await w.close();
    await driver.status;
    await new Promise((r) => setTimeout(r, 500));
    hone.kill("SIGINT");
    const st = await hone.status;
    for (;;) {
      const { value, done } = await herrReader.read();
      if (done) break;
      herr += dec.decode(value);
    }
    assert.equal(st.code, 0, herr);
    const driverErr = await derr;
    assert.equal(driverErr, "", driverErr);

    const truth = new Map<string, Truth>();
    for (const t of jsonLines(await Deno.readTextFile(truthFile))) {
      const e = truth.get(t.tag as string) ?? {};
      e[t.op as "send" | "recv"] = {
        pid: t.pid as number,
        tid: t.tid as number,
      };
      truth.set(t.tag as string, e);
    }
    const table = new Map<
      string,
      { out: [number, number]; in: [number, number]; bad: string[] }
    >();
    const events = jsonLines(dec.decode(new Uint8Array(await hout)));
    for (const p of events) {
      if (p.type !== "packet" || typeof p.data !== "string") continue;
      const text = hexToLatin1(p.data);
      // ICMP: only the echo request out and the reply in are a process's;
      // the kernel itself answers the request.
      if (p.proto === "icmp" || p.proto === "icmpv6") {
        const it = p.icmp_type as number;
        const mine = (p.dir === "out" && (it === 8 || it === 128)) ||
          (p.dir === "in" && (it === 0 || it === 129));
        if (!mine) continue;
      }
      for (const m of text.matchAll(/HONE([a-z0-9]+):(\d+);/g)) {
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
    lines += herr.replace(/^/gm, "  ");
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
    await Deno.writeTextFile(rangePath, oldRange.trim());
    try {
      driver.kill("SIGKILL");
    } catch { /* ended */ }
    try {
      hone?.kill("SIGKILL");
    } catch { /* ended */ }
    await Deno.remove(truthFile).catch(() => {});
  }
});
