// deno-lint-ignore-file no-console
/**
 * Helper of bench/flood_profile.sh: top self-time functions (and files) of
 * a V8 .cpuprofile.
 *
 *   deno run -A bench/flood_profile_top.ts FILE.cpuprofile [N]
 */

interface Node {
  id: number;
  callFrame: {
    functionName: string;
    url: string;
    lineNumber: number;
  };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file, nArg] = Deno.args;
if (!file) {
  console.error("usage: flood_profile_top.ts FILE.cpuprofile [N]");
  Deno.exit(2);
}
const top = Number(nArg ?? 25);
const p: Profile = JSON.parse(Deno.readTextFileSync(file));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
// timeDeltas[i] is the time before sample i; charge it to sample i-1's node
// would be exact, charging to sample i is what DevTools does.
for (let i = 0; i < p.samples.length; i++) {
  const d = p.timeDeltas[i + 1] ?? 0;
  selfUs.set(p.samples[i]!, (selfUs.get(p.samples[i]!) ?? 0) + d);
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const short = (url: string) =>
  url.replace(/^file:\/\/.*?\/(src|bench|main\.ts)/, "$1").replace(
    /^file:\/\/\/proc\/self\/fd\/\d+/,
    "app.js",
  ) || "(native)";

const fn = new Map<string, number>();
const files = new Map<string, number>();
for (const [id, us] of selfUs) {
  const cf = byId.get(id)!.callFrame;
  const key = `${cf.functionName || "(anonymous)"}  ${short(cf.url)}${
    cf.url ? ":" + (cf.lineNumber + 1) : ""
  }`;
  fn.set(key, (fn.get(key) ?? 0) + us);
  const f = short(cf.url);
  files.set(f, (files.get(f) ?? 0) + us);
}
const pct = (us: number) => (100 * us / total).toFixed(1).padStart(5) + " %";
const ms = (us: number) => (us / 1000).toFixed(0).padStart(7) + " ms";
console.log(
  `profile ${file}: ${
    (total / 1e6).toFixed(2)
  } s sampled, ${p.samples.length} samples`,
);
console.log("\ntop self time, by function:");
for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${ms(us)} ${pct(us)}  ${k}`);
}
console.log("\nself time, by file:");
for (const [k, us] of [...files].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
  console.log(`${ms(us)} ${pct(us)}  ${k}`);
}
