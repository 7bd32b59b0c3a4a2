// deno-lint-ignore-file no-console no-explicit-any
/**
 * Helper of bench/flood_profile.sh: CPU-profiles a running deno through its
 * inspector (deno run --inspect) for a fixed window, and writes the
 * .cpuprofile. (--cpu-prof samples from the start, and its SIGPROFs make
 * the kernel's BPF verifier give up with EAGAIN while hone loads.)
 *
 *   deno run -A bench/flood_cdp.ts WS_URL SECONDS OUT.cpuprofile
 *
 * Prints "profiling" once sampling runs.
 */

const [url, secs, out] = Deno.args;
if (!url || !secs || !out) {
  console.error("usage: flood_cdp.ts WS_URL SECONDS OUT.cpuprofile");
  Deno.exit(2);
}
const ws = new WebSocket(url);
let nextId = 1;
const waiting = new Map<number, (r: unknown) => void>();
ws.onmessage = (m) => {
  const msg = JSON.parse(m.data as string);
  if (msg.id && waiting.has(msg.id)) {
    waiting.get(msg.id)!(msg.error ? Promise.reject(msg.error) : msg.result);
    waiting.delete(msg.id);
  }
};
await new Promise((ok, bad) => {
  ws.onopen = ok;
  ws.onerror = bad;
});
const call = (method: string, params: unknown = {}) =>
  new Promise<any>((ok) => {
    const id = nextId++;
    waiting.set(id, ok);
    ws.send(JSON.stringify({ id, method, params }));
  });
const bail = setTimeout(() => {
  console.error("flood_cdp: no answer from the inspector");
  Deno.exit(1);
}, (Number(secs) + 30) * 1000);
await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: 250 });
await call("Profiler.start");
console.log("profiling");
await new Promise((r) => setTimeout(r, Number(secs) * 1000));
const { profile } = await call("Profiler.stop");
Deno.writeTextFileSync(out, JSON.stringify(profile));
clearTimeout(bail);
ws.close();
