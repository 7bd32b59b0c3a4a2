/**
 * Builds the module-analysis cache that the launcher hands deno at each
 * start (the "deno cache" part of a packed file; see launcher.c).
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-run --allow-env \
 *   ffi/launcher/deno_cache.ts DENO APP_JS OUT
 * ```
 *
 * Each start, deno parses the entry module to find its imports, unless its
 * `dep_analysis_cache_v2` database (in DENO_DIR) already holds the module's
 * (specifier, source hash): for hone's 0.3 MB bundle that parse is about 15
 * ms of every start. The launcher makes a fresh, empty DENO_DIR each time,
 * so the cache is built here, once, by the same deno running the same
 * bundle under the specifiers the launcher gives it: `/proc/self/fd/N`, its
 * memfd (N is 4 unless the caller left more fds open, so 3 to 9 are
 * covered). Its rows only say what the bundle imports (nothing): no code.
 * A start that misses it parses, as before.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";

/** The database deno keeps module analyses in, inside DENO_DIR. */
export const DEP_CACHE_NAME = "dep_analysis_cache_v2";

/** The fds the app's memfd may land on in the launcher. */
const APP_FDS = [3, 4, 5, 6, 7, 8, 9];

/** deno's flags as the launcher passes them (launcher.c, deno_args). */
const DENO_FLAGS = [
  "run",
  "-A",
  "--no-code-cache",
  "--no-config",
  "--no-lock",
  "--no-remote",
  "--no-npm",
  "--ext=js",
];

/**
 * Runs the bundle once per fd with a fresh DENO_DIR and writes the cache
 * deno made to `out`, as one database file (no write-ahead log).
 *
 * @param deno Path of the Deno runtime that will be packed.
 * @param app Path of the bundled app.
 * @param out Path of the database to write.
 * @returns How many modules it holds.
 *
 * @example Usage
 * ```ts ignore
 * import { buildDenoCache } from "./deno_cache.ts";
 * await buildDenoCache(Deno.execPath(), "build/app.js", "build/deno_cache.db");
 * ```
 */
export async function buildDenoCache(
  deno: string,
  app: string,
  out: string,
): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "hone-deno-cache-" });
  try {
    for (const fd of APP_FDS) {
      // The shell opens the app on fd N, then becomes deno.
      const script = `exec "$0" ${DENO_FLAGS.join(" ")} /proc/self/fd/${fd} ` +
        `--version ${fd}<"$1"`;
      const res = await new Deno.Command("/bin/sh", {
        args: ["-c", script, deno, app],
        clearEnv: true,
        env: {
          DENO_DIR: dir,
          DENO_NO_UPDATE_CHECK: "1",
          DENO_NO_PROMPT: "1",
          PATH: "/usr/bin:/bin",
        },
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!res.success) {
        throw new Error(
          `Cannot build deno's cache: the app on fd ${fd} failed: ${
            new TextDecoder().decode(res.stderr).trim()
          }`,
        );
      }
    }
    const db = new DatabaseSync(`${dir}/${DEP_CACHE_NAME}`);
    let n: number;
    try {
      // Folds the write-ahead log into the file; the file stays in WAL
      // mode, as deno opens it, so deno need not convert it at each start.
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      const row = db.prepare("SELECT count(*) AS n FROM moduleinfocache")
        .get() as { n: number };
      n = Number(row.n);
    } finally {
      db.close();
    }
    if (n !== APP_FDS.length) {
      throw new Error(
        `Cannot build deno's cache: it holds ${n} modules, not ${APP_FDS.length}`,
      );
    }
    await Deno.copyFile(`${dir}/${DEP_CACHE_NAME}`, out);
    return n;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function printError(message: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(message + "\n"));
}

if (import.meta.main) {
  if (Deno.args.length !== 3) {
    printError("usage: deno_cache.ts DENO APP_JS OUT");
    Deno.exit(2);
  }
  const [deno, app, out] = Deno.args as [string, string, string];
  try {
    await buildDenoCache(deno, app, out);
  } catch (err) {
    printError(`deno_cache: ${err instanceof Error ? err.message : err}`);
    Deno.exit(1);
  }
}
