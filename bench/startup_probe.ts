// deno-lint-ignore-file no-console
/**
 * Helper of bench/startup_bench.sh: time from spawning a capture to the
 * first packet line on its stdout, while this process sends one UDP
 * datagram to 127.0.0.1 every millisecond.
 *
 *   deno run -A bench/startup_probe.ts MATCH TIMEOUT_S -- CMD [ARGS...]
 *
 * MATCH is a regular expression a packet line of CMD's stdout matches.
 * Prints one JSON line: {"first_ms", "ready_ms", "sent"}; ready_ms is when
 * stderr first said "listening on" (null if never). Exit 1 on timeout.
 * The sender and the capture are both bounded by TIMEOUT_S.
 */
import dgram from "node:dgram";

const [match, timeoutArg, dashes, ...cmd] = Deno.args;
if (!match || !timeoutArg || dashes !== "--" || cmd.length === 0) {
  console.error("usage: startup_probe.ts MATCH TIMEOUT_S -- CMD [ARGS...]");
  Deno.exit(2);
}
const re = new RegExp(match);
const timeoutMs = Number(timeoutArg) * 1000;

// Receiver and sender on loopback; the sender starts first so packets are
// already flowing when the capture starts.
const rx = dgram.createSocket("udp4");
await new Promise<void>((ok) => rx.bind(0, "127.0.0.1", ok));
rx.on("message", () => {});
const port = (rx.address() as { port: number }).port;
const tx = dgram.createSocket("udp4");
const payload = new TextEncoder().encode("hone-startup-probe");
let sent = 0;
const hardStop = performance.now() + timeoutMs + 2000;
const timer = setInterval(() => {
  if (performance.now() > hardStop) return clearInterval(timer);
  tx.send(payload, port, "127.0.0.1");
  sent++;
}, 1);
await new Promise((r) => setTimeout(r, 50));

const t0 = performance.now();
const child = new Deno.Command(cmd[0]!, {
  args: cmd.slice(1),
  stdin: "null",
  stdout: "piped",
  stderr: "piped",
}).spawn();

let readyMs: number | null = null;
const errDone = (async () => {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of child.stderr) {
    if (readyMs !== null) continue; // keep draining
    buf += dec.decode(chunk, { stream: true });
    if (buf.includes("listening on")) readyMs = performance.now() - t0;
  }
})();

async function firstPacket(): Promise<number | null> {
  const dec = new TextDecoder();
  let buf = "";
  const reader = child.stdout.getReader();
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return null;
      buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (re.test(line)) return performance.now() - t0;
      }
    }
  } finally {
    reader.releaseLock();
    child.stdout.cancel().catch(() => {});
  }
}

let timeoutId: ReturnType<typeof setTimeout> | undefined;
const first = await Promise.race([
  firstPacket(),
  new Promise<null>((r) => timeoutId = setTimeout(() => r(null), timeoutMs)),
]);
clearTimeout(timeoutId);
clearInterval(timer);

// Stop the capture: SIGINT, then SIGKILL after 10 s.
try {
  child.kill("SIGINT");
} catch { /* gone */ }
const killer = setTimeout(() => {
  try {
    child.kill("SIGKILL");
  } catch { /* gone */ }
}, 10_000);
await child.status;
clearTimeout(killer);
await errDone.catch(() => {});
tx.close();
rx.close();

console.log(JSON.stringify({
  first_ms: first === null ? null : Math.round(first * 10) / 10,
  ready_ms: readyMs === null ? null : Math.round(readyMs * 10) / 10,
  sent,
}));
Deno.exit(first === null ? 1 : 0);
