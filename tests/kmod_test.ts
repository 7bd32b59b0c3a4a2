/**
 * The kernel-module sensor (kmod/honeevent.ko) on every kernel of
 * tests/kmod/matrix, each booted in qemu (TCG) by tests/kmod/run: devices,
 * ioctls, readers, attribution of real traffic, text lines, tshark and
 * `hone read` on its captures, unloads and 50 load cycles under traffic.
 * `make test` builds the modules first (make kmod); a kernel that cannot be
 * installed or booted fails this test, it is never skipped. It takes about
 * 8 minutes (two guests at once, TCG).
 *
 *   make kmod && deno test -A tests/kmod_test.ts
 */
import assert from "node:assert/strict";
import { ROOT } from "./_helpers.ts";

function skipReason(): string {
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    return "needs Linux on x86-64";
  }
  if (Deno.uid() !== 0) return "needs root (apt, qemu's 9p shares)";
  return "";
}

const why = skipReason();

Deno.test({
  name:
    "kmod: honeevent.ko passes its guest tests on every kernel of the matrix",
  ignore: why !== "",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const p = new Deno.Command(`${ROOT}tests/kmod/run`, {
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const r = await p.output();
    const out = new TextDecoder().decode(r.stdout);
    const err = new TextDecoder().decode(r.stderr);
    // The per-kernel lines and any failure, for the CI log.
    const summary = out.split("\n").filter((l) =>
      / passed, \d+ failed|^not ok|^#/.test(l)
    );
    // deno-lint-ignore no-console
    console.log(summary.join("\n"));
    // deno-lint-ignore no-console
    if (err.trim()) console.error(err.trim());
    const kernels = out.match(/^\S+: \d+ passed, \d+ failed/gm) ?? [];
    assert.ok(kernels.length >= 2, `fewer than two kernels tested:\n${out}`);
    for (const k of kernels) {
      assert.match(k, / 0 failed$/, k);
    }
    assert.match(out, /^\d+ passed, 0 failed$/m);
    assert.equal(r.code, 0, `tests/kmod/run exited with ${r.code}`);
  },
});
