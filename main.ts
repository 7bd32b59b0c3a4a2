/**
 * hone: packets, and the processes that sent and read them.
 *
 * @module
 */

import { main } from "./src/cli/main.ts";

/**
 * The private cache directory that the launcher of dist/hone makes for
 * deno: `/tmp/hone-deno-<pid>-XXXXXX`, mkdtemp's six characters.
 */
const LAUNCHER_TMPDIR = /^\/tmp\/hone-deno-(\d+)-[A-Za-z0-9]{6}$/;

/**
 * Removes the launcher's cache directory for deno (HONE_DENO_TMPDIR), so
 * that nothing of hone's stays on disk however it ends: deno has opened
 * its cache databases by now and goes on using them unlinked. Only a
 * directory of the launcher's pattern, for this pid, owned by this user,
 * mode 0700 and not a symlink.
 */
function removeLauncherTmpdir(): void {
  const dir = Deno.env.get("HONE_DENO_TMPDIR");
  if (dir === undefined) return;
  Deno.env.delete("HONE_DENO_TMPDIR");
  if (LAUNCHER_TMPDIR.exec(dir)?.[1] !== String(Deno.pid)) return;
  try {
    const st = Deno.lstatSync(dir);
    if (
      st.isDirectory && st.uid === Deno.uid() && (st.mode! & 0o7777) === 0o700
    ) {
      Deno.removeSync(dir, { recursive: true });
    }
  } catch { /* gone already */ }
}

if (import.meta.main) {
  removeLauncherTmpdir();
  Deno.exit(await main(Deno.args));
}
