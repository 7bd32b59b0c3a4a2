/**
 * hone: packets, and the processes that sent and read them.
 *
 * @module
 */

import { main } from "./src/cli/main.ts";

if (import.meta.main) {
  const code = await main(Deno.args);
  // The launcher of dist/hone gave deno a private cache directory: remove it.
  const tmp = Deno.env.get("HONE_DENO_TMPDIR");
  if (tmp?.startsWith("/tmp/hone-deno-")) {
    try {
      Deno.removeSync(tmp, { recursive: true });
    } catch { /* already gone */ }
  }
  Deno.exit(code);
}
