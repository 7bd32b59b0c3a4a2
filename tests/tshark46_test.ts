/**
 * Wireshark 4.6 and later show a packet's process from Apple's process
 * information block and EPB option 0x8001 (`frame.darwin.process_info.*`).
 * Debian 12 has tshark 4.0, so `make tshark46` builds a Debian forky tree
 * with its tshark (4.6) and this test runs it there with chroot: every
 * frame of a hone capture shows the pid and name `hone read` gives it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { hone, jsonLines, run } from "./_helpers.ts";
import { startRecord } from "./_recording.ts";
import { udpBurst } from "./_traffic.ts";

const root = Deno.env.get("HONE_TSHARK46_ROOT") ?? "";

Deno.test({
  name:
    "tshark 4.6 shows each packet's pid and process name from hone's Apple process blocks",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  assert.ok(
    root !== "" && (await Deno.stat(`${root}/usr/bin/tshark`)).isFile,
    "HONE_TSHARK46_ROOT: a tree with tshark 4.6 (make tshark46)",
  );
  const v = await run("chroot", [root, "tshark", "--version"]);
  assert.match(v.stdout, /^TShark \(Wireshark\) 4\.([6-9]|\d\d)\./);
  const name = `hone-t46-${Deno.pid}.pcapng`;
  const file = `${root}/tmp/${name}`;
  try {
    const rec = await startRecord(["-s", "128", "-w", file, "udp"]);
    const pid = await udpBurst(20, 64, "HONE-T46-");
    rec.child.kill("SIGINT");
    const r = await rec.done;
    assert.equal(r.code, 0, r.stderr);

    const t = await run("chroot", [
      root,
      "tshark",
      "-r",
      `/tmp/${name}`,
      "-T",
      "fields",
      "-E",
      "separator=|",
      "-e",
      "frame.darwin.process_info.pid",
      "-e",
      "frame.darwin.process_info.pname",
      "-e",
      // The payload whatever dissects it: the burst's ports are ephemeral,
      // and one may be a port tshark gives to a protocol of its own.
      "udp.payload",
    ]);
    assert.equal(t.code, 0, t.stderr);
    // Nothing but the note about running as root: no warning.
    const warnings = t.stderr.split("\n").filter((l) =>
      l !== "" && !l.startsWith("Running as user")
    );
    assert.deepEqual(warnings, []);
    const frames = t.stdout.split("\n").filter((l) => l !== "")
      .map((l) => l.split("|"));

    const h = await hone(["read", file]);
    assert.equal(h.code, 0, h.stderr);
    const packets = jsonLines(h.stdout).filter((e) => e.type === "packet");
    assert.equal(frames.length, packets.length, "one frame per packet");
    packets.forEach((p, i) => {
      const [fpid, fname] = frames[i]!;
      assert.equal(fpid, p.pid == null ? "" : String(p.pid), `frame ${i + 1}`);
      if (p.pid != null) assert.equal(fname, p.comm, `frame ${i + 1}`);
    });
    // The tagged datagrams, out and in: the sender's pid and name.
    const tag = Array.from(
      new TextEncoder().encode("HONE-T46-"),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    const tagged = frames.filter((f) => f[2]!.includes(tag));
    assert.equal(tagged.length, 40, "20 datagrams, sent and received");
    for (const f of tagged) {
      assert.deepEqual(f.slice(0, 2), [String(pid), "python3"]);
    }
  } finally {
    await Deno.remove(file).catch(() => {});
  }
});
