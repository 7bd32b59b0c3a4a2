/**
 * hone as a service, tested without systemd running: `make install` into
 * a staging directory, `systemd-analyze verify` of the unit, its ExecStart
 * run by hand with the unit's capabilities only and a notify socket, a
 * logrotate cycle with the shipped policy, and `-Z`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { honeCommand, ROOT, run, until } from "./_helpers.ts";
import { startRecord } from "./_recording.ts";
import { udpBurst } from "./_traffic.ts";

const dec = new TextDecoder();

/** A key's value in a unit file (the last one given). */
function unitValue(unit: string, key: string): string {
  const m = [...unit.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))];
  assert.ok(m.length > 0, `the unit has ${key}=`);
  return m.at(-1)![1]!;
}

/** hone's command line with the installed binary replaced by this build's. */
function localCommand(execStart: string, logDir: string): string[] {
  const [cmd, pre] = honeCommand();
  const words = execStart.split(/\s+/);
  assert.equal(words[0], "/usr/local/bin/hone");
  return [
    cmd,
    ...pre,
    ...words.slice(1).map((w) => w.replace("/var/log/hone", logDir)),
  ];
}

/** How many packets of a capture carry the tag. */
async function tagged(file: string, tag: string): Promise<number> {
  const t = await run("tshark", [
    "-r",
    file,
    "-Y",
    `frame contains "${tag}"`,
    "-T",
    "fields",
    "-e",
    "frame.number",
  ]);
  assert.equal(t.code, 0, `${file}: ${t.stderr}`);
  return t.stdout.split("\n").filter((l) => l !== "").length;
}

Deno.test({
  name:
    "make install stages the binary, a unit systemd-analyze accepts, and the logrotate policy",
  ignore: Deno.uid() !== 0,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    // -o build: the binary is already built (make test built it).
    const m = await run("make", [
      "-C",
      ROOT,
      "--no-print-directory",
      "-o",
      "build",
      "install",
      `DESTDIR=${dir}`,
    ]);
    assert.equal(m.code, 0, m.stderr + m.stdout);
    const mode = async (p: string) =>
      (await Deno.stat(`${dir}${p}`)).mode! & 0o777;
    assert.equal(await mode("/usr/local/bin/hone"), 0o755);
    assert.equal(await mode("/etc/systemd/system/hone.service"), 0o644);
    assert.equal(await mode("/etc/logrotate.d/hone"), 0o644);
    assert.equal(await mode("/var/log/hone"), 0o750);
    // verify checks the ExecStart binary exists: point it at the staged one.
    const unit = await Deno.readTextFile(
      `${dir}/etc/systemd/system/hone.service`,
    );
    const staged = `${dir}/hone.service`;
    await Deno.writeTextFile(
      staged,
      unit.replaceAll("/usr/local/bin/hone", `${dir}/usr/local/bin/hone`),
    );
    const v = await run("systemd-analyze", ["verify", staged]);
    assert.equal(v.code, 0, v.stderr);
    // Unknown or misspelt keys are only warnings: none may be there.
    assert.equal(v.stderr.trim(), "", v.stderr);
    const l = await run("logrotate", ["-d", `${dir}/etc/logrotate.d/hone`]);
    assert.equal(l.code, 0, l.stderr);
    assert.match(l.stderr, /rotating pattern: \/var\/log\/hone\/hone\.pcapng/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "the unit's ExecStart, with the unit's capabilities only: READY on the notify socket, then a logrotate cycle loses nothing",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir();
  const unit = await Deno.readTextFile(`${ROOT}service/hone.service`);
  const caps = unitValue(unit, "CapabilityBoundingSet").split(/\s+/)
    .map((c) => "+" + c.replace(/^CAP_/, "").toLowerCase()).join(",");
  const cmd = localCommand(unitValue(unit, "ExecStart"), dir);
  // systemd's side of sd_notify: a datagram socket the test listens on.
  const listener = new Deno.Command("python3", {
    args: [
      "-u",
      "-c",
      `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
print("bound")
while True:
    print(s.recv(4096).decode().replace("\\n", " "))
`,
      `${dir}/notify`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const notes: string[] = [];
  const reading = (async () => {
    for await (const chunk of listener.stdout) {
      notes.push(...dec.decode(chunk).split("\n").filter((l) => l));
    }
  })();
  try {
    await until(() => notes.includes("bound"), { what: "the notify socket" });
    const hone = new Deno.Command("setpriv", {
      args: [`--bounding-set=-all,${caps}`, "--no-new-privs", "--", ...cmd],
      env: { NOTIFY_SOCKET: `${dir}/notify` },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const out = hone.output();
    await until(() => notes.some((n) => n.startsWith("READY=1")), {
      what: "READY=1 from hone",
    });
    assert.match(
      notes.find((n) => n.startsWith("READY=1"))!,
      new RegExp(`MAINPID=${hone.pid}\\b`),
    );
    const log = `${dir}/hone.pcapng`;
    await udpBurst(100, 16, "HONE-LR1-");
    // The shipped policy, on this directory, its reload a SIGHUP.
    const policy = (await Deno.readTextFile(`${ROOT}service/hone.logrotate`))
      .replaceAll("/var/log/hone", dir)
      .replace(/systemctl reload hone\.service/, `kill -HUP ${hone.pid}`);
    await Deno.writeTextFile(`${dir}/policy`, policy);
    const lr = await run("logrotate", [
      "-f",
      "-s",
      `${dir}/state`,
      `${dir}/policy`,
    ]);
    assert.equal(lr.code, 0, lr.stderr);
    await until(async () => {
      try {
        return (await Deno.stat(log)).isFile;
      } catch {
        return false;
      }
    }, { what: "hone's new file after the rotation" });
    await udpBurst(100, 16, "HONE-LR2-");
    hone.kill("SIGINT");
    const r = await out;
    assert.equal(r.code, 0, dec.decode(r.stderr));
    for (const f of [`${log}.1`, log]) {
      const t = await run("tshark", ["-r", f, "-q", "-z", "expert,warn"]);
      assert.equal(t.code, 0, `${f}: ${t.stderr}`);
      assert.doesNotMatch(t.stdout, /^ *(Error|Warning) /m, f);
    }
    assert.equal(
      (await tagged(`${log}.1`, "HONE-LR1-")) +
        (await tagged(log, "HONE-LR1-")),
      200,
      "the first burst, once, over the two files",
    );
    assert.equal(await tagged(log, "HONE-LR2-"), 200);
    assert.equal(await tagged(`${log}.1`, "HONE-LR2-"), 0);
  } finally {
    listener.kill("SIGKILL");
    await listener.status;
    await reading;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "hone record -Z: the files belong to the user it became",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir();
  await Deno.chmod(dir, 0o777);
  try {
    const rec = await startRecord(["-Z", "nobody", "-w", `${dir}/z.pcapng`]);
    await udpBurst(10, 16, "HONE-Z-");
    rec.child.kill("SIGINT");
    const r = await rec.done;
    assert.equal(r.code, 0, r.stderr);
    const st = await Deno.stat(`${dir}/z.pcapng`);
    const nobody = Number(
      (await run("id", ["-u", "nobody"])).stdout.trim(),
    );
    assert.equal(st.uid, nobody);
    assert.equal(st.mode! & 0o777, 0o600);
    assert.equal(await tagged(`${dir}/z.pcapng`, "HONE-Z-"), 20);
    // The counts still come: the sensor's maps stay readable.
    assert.match(r.stderr, /^0 packets dropped by kernel$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
