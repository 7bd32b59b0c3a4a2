// What another local user controls must not reach hone's output raw, and
// hone must not write through another user's file or link: real processes
// with hostile argv and comm under `hone record` (root, real BPF), and
// output files prepared by uid 65534 for `hone read -w`.
import assert from "node:assert/strict";
import { PcapngWriter } from "../src/writers/pcapng/pcapng_writer.ts";
import { sampleEvents } from "./testdata/sample_events.ts";
import { hone, jsonLines, run, tsharkFrames } from "./_helpers.ts";
import { startRecord } from "./_recording.ts";

const dec = new TextDecoder();
const NOBODY = 65534;
/** A forged PAKT line, an OSC title sequence, CR, NEL and a line separator. */
/** What must never reach the output raw. */
// deno-lint-ignore no-control-regex -- what must never appear raw
const RAW_CONTROLS = new RegExp("[\\x1b\\r\\u0085\\u2028]");
const HOSTILE = "x\n1795986000.000000000 PAKT I 00000000 1 TCPv4 " +
  "6.6.6.6:1 -> 10.0.0.1:22 60\x1b]0;owned\x07\r\u0085\u2028end";

/**
 * Runs the hostile command to its end, then stops hone: the sensor has seen
 * its exec and exit before the stop, and a stop drains the ring.
 */
async function recordHostile(format: string): Promise<[string, number]> {
  const rec = await startRecord(["-F", format]);
  const echo = new Deno.Command("/bin/echo", {
    args: [HOSTILE],
    stdout: "null",
  }).spawn();
  const pid = echo.pid;
  await echo.status;
  rec.child.kill("SIGINT");
  const r = await rec.done;
  assert.equal(r.code, 0, r.stderr);
  return [dec.decode(r.stdout), pid];
}

Deno.test("record -F text: a hostile argv stays on its EXEC line, escaped", async () => {
  const [out, pid] = await recordHostile("text");
  const exec = out.split("\n").filter((l) =>
    / EXEC /.test(l) && l.includes(` EXEC ${pid} `)
  );
  assert.equal(exec.length, 1, out.slice(0, 2000));
  assert.match(exec[0]!, /x\\x0a1795986000\.000000000\\x20PAKT\\x20I/);
  assert.match(exec[0]!, /\\x1b\]0;owned\\x07\\x0d\\u0085\\u2028end $/);
  assert.doesNotMatch(out, /^1795986000\.000000000 PAKT/m);
  assert.doesNotMatch(out, RAW_CONTROLS);
  for (const line of out.split("\n").filter((l) => l)) {
    assert.match(
      line,
      /^\d+\.\d{9} (HEAD|TAIL|FORK|EXEC|EXIT|KTHD|SOCK|PAKT)( |$)/,
    );
  }
});

Deno.test("record JSON: a hostile argv is one exact string on one line", async () => {
  const [out, pid] = await recordHostile("json");
  assert.doesNotMatch(out, RAW_CONTROLS);
  const lines = out.split("\n").filter((l) => l);
  const events = jsonLines(out);
  assert.equal(events.length, lines.length);
  const exec = events.find((e) =>
    e.type === "process" && e.event === "exec" && e.pid === pid
  );
  assert.ok(exec, `no exec of ${pid}`);
  assert.deepEqual(exec.argv, ["/bin/echo", HOSTILE]);
});

Deno.test("record -w: a hostile comm stays inside its packet comment in tshark", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // comm is the file name of what ran: make it a newline and a forgery.
    const prog = `${dir}/p\nPAKT x=1`;
    await Deno.copyFile("/usr/bin/ping", prog);
    await Deno.chmod(prog, 0o755);
    const rec = await startRecord(["-w", "-"]);
    const ping = await run(prog, ["-c", "1", "-W", "5", "127.0.0.1"]);
    assert.equal(ping.code, 0, ping.stderr);
    rec.child.kill("SIGINT");
    const r = await rec.done;
    assert.equal(r.code, 0, r.stderr);
    const file = `${dir}/c.pcapng`;
    await Deno.writeFile(file, r.stdout);
    const n = (await tsharkFrames(file)).frames;
    const t = await run("tshark", [
      "-r",
      file,
      "-T",
      "fields",
      "-e",
      "frame.comment",
    ]);
    assert.equal(t.code, 0, t.stderr);
    const lines = t.stdout.replace(/\n$/, "").split("\n");
    assert.equal(lines.length, n, "one line per frame");
    assert.ok(
      lines.some((l) => l.includes("comm=p\\x0aPAKT\\x20x=1")),
      lines.slice(0, 20).join("\n"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const sample = new PcapngWriter().encode(sampleEvents()).slice();

/** A world-writable sticky directory, like /tmp, with a capture in it. */
async function stickyDir(): Promise<[string, string]> {
  const dir = await Deno.makeTempDir();
  await Deno.chmod(dir, 0o1777);
  const input = `${dir}/in.pcapng`;
  await Deno.writeFile(input, sample);
  return [dir, input];
}

Deno.test("read -w refuses a symlink another user planted, and leaves its target alone", async () => {
  const [dir, input] = await stickyDir();
  try {
    const target = `${dir}/victim`;
    await Deno.writeTextFile(target, "precious\n");
    await Deno.chmod(target, 0o644);
    await Deno.symlink(target, `${dir}/out.pcapng`);
    await run("chown", ["-h", `${NOBODY}`, `${dir}/out.pcapng`]);
    const r = await hone(["read", input, "-w", `${dir}/out.pcapng`]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `hone: write ${dir}/out.pcapng: refusing to follow a symbolic link owned by uid ${NOBODY}\n`,
    );
    assert.equal(await Deno.readTextFile(target), "precious\n");
    assert.equal((await Deno.stat(target)).mode! & 0o777, 0o644);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("read -w replaces another user's file with a new 0600 one of its own", async () => {
  const [dir, input] = await stickyDir();
  try {
    const out = `${dir}/out.pcapng`;
    await Deno.writeTextFile(out, "theirs\n");
    await Deno.chmod(out, 0o666);
    await Deno.chown(out, NOBODY, NOBODY);
    // The other user's hard link to their file must not see the capture.
    await Deno.link(out, `${dir}/their-link`);
    const r = await hone(["read", input, "-w", out]);
    assert.equal(r.code, 0, r.stderr);
    const st = await Deno.lstat(out);
    assert.ok(st.isFile);
    assert.equal(st.uid, Deno.uid());
    assert.equal(st.mode! & 0o777, 0o600);
    assert.deepEqual(await Deno.readFile(out), sample);
    assert.equal(await Deno.readTextFile(`${dir}/their-link`), "theirs\n");
    assert.equal((await Deno.stat(`${dir}/their-link`)).uid, NOBODY);
    // Nothing else was left in the directory.
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names.sort(), ["in.pcapng", "out.pcapng", "their-link"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("read -w writes into a FIFO and a device as they are", async () => {
  const [dir, input] = await stickyDir();
  try {
    const r = await hone(["read", input, "-w", "/dev/null"]);
    assert.equal(r.code, 0, r.stderr);
    const fifo = `${dir}/fifo`;
    assert.equal((await run("mkfifo", [fifo])).code, 0);
    const reader = run("cat", [fifo]);
    const w = await hone(["read", input, "-w", fifo]);
    assert.equal(w.code, 0, w.stderr);
    assert.deepEqual((await reader).out, sample);
    assert.ok((await Deno.lstat(fifo)).isFifo);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
