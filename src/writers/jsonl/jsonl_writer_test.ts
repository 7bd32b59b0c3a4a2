import assert from "node:assert/strict";
import { processEvent } from "../../events/types.ts";
import { sampleEvents } from "../../../tests/testdata/sample_events.ts";
import { JsonlWriter } from "./jsonl_writer.ts";

/** `hone read` of tests/testdata/sample.pcapng, which holds sampleEvents(). */
const GOLDEN = [
  '{"type":"process","ts":1764134800.000000001,"event":"kthread","pid":2,"tid":null,"ppid":0,"uid":0,"gid":0,"user":null,"group":null,"exe":null,"argv":null,"comm":"kthreadd","exit_code":null,"cgroup":null,"netns":null}',
  '{"type":"process","ts":1764134800.000000002,"event":"exec","pid":4242,"tid":4242,"ppid":1,"uid":1000,"gid":100,"user":"alice","group":"users","exe":"/usr/bin/curl","argv":["curl","-s","http://127.0.0.1/"],"comm":"curl","exit_code":null,"cgroup":4711,"netns":4026531840}',
  '{"type":"process","ts":1764134800.000000003,"event":"fork","pid":4243,"tid":4243,"ppid":4242,"uid":1000,"gid":100,"user":null,"group":null,"exe":null,"argv":null,"comm":null,"exit_code":null,"cgroup":null,"netns":null}',
  '{"type":"connection","ts":1764134800.000000004,"event":"open","conn":77,"pid":4242,"proto":"udp","local":"127.0.0.1:5000","remote":"127.0.0.1:53"}',
  '{"type":"connection","ts":1764134800.000000005,"event":"open","conn":20015998343868,"pid":4243,"proto":null,"local":null,"remote":null}',
  '{"type":"packet","ts":1764134800.000000006,"dir":"out","pid":4242,"tid":4244,"how":"sender","comm":"curl","conn":77,"len":32,"caplen":32,"ipv":4,"proto":"udp","src":"127.0.0.1","dst":"127.0.0.1","sport":5000,"dport":53}',
  '{"type":"packet","ts":1764134800.000000007,"dir":"in","pid":4243,"tid":null,"how":"reader","comm":"curl","conn":20015998343868,"len":32,"caplen":32,"ipv":4,"proto":"udp","src":"127.0.0.1","dst":"127.0.0.1","sport":53,"dport":5000}',
  '{"type":"packet","ts":1764134800.000000008,"dir":null,"pid":null,"tid":null,"how":null,"comm":null,"conn":null,"len":1500,"caplen":128,"ipv":4,"proto":"udp","src":"127.0.0.1","dst":"127.0.0.1","sport":1,"dport":2}',
  '{"type":"connection","ts":1764134800.000000009,"event":"close","conn":77,"pid":4242,"proto":null,"local":null,"remote":null}',
  '{"type":"connection","ts":1764134800.000000010,"event":"close","conn":20015998343868,"pid":4243,"proto":null,"local":null,"remote":null}',
  '{"type":"process","ts":1764134800.000000011,"event":"exit","pid":4243,"tid":4243,"ppid":4242,"uid":null,"gid":null,"user":null,"group":null,"exe":null,"argv":null,"comm":null,"exit_code":-2,"cgroup":null,"netns":null}',
];

Deno.test("JsonlWriter writes the documented schema, one event a line", () => {
  const events = sampleEvents().filter((e) => e.type !== "stats");
  const out = new JsonlWriter().encode(events);
  assert.deepEqual(out.split("\n").slice(0, -1), GOLDEN);
});

Deno.test("JsonlWriter gives the same lines whatever the batches", () => {
  const events = sampleEvents().filter((e) => e.type !== "stats");
  const w = new JsonlWriter();
  let out = "";
  for (const e of events) out += w.encode([e]);
  assert.deepEqual(out.split("\n").slice(0, -1), GOLDEN);
});

Deno.test("JsonlWriter keeps a hostile argv and comm on one line", () => {
  const argv = ["sh", "a\nb", "\x1b]0;t\x07", "\u2028\u0085"];
  const out = new JsonlWriter().encode([processEvent({
    sec: 1,
    nsec: 0,
    event: "exec",
    pid: 7,
    argv,
    comm: "x\ny",
    exe: "/tmp/\r",
  })]);
  assert.equal(out.indexOf("\n"), out.length - 1);
  // deno-lint-ignore no-control-regex -- what must never appear raw
  assert.doesNotMatch(out, /[\u2028\u0085\r\x1b]/);
  const e = JSON.parse(out);
  assert.deepEqual(e.argv, argv);
  assert.equal(e.comm, "x\ny");
  assert.equal(e.exe, "/tmp/\r");
});

Deno.test("JsonlWriter --data writes the captured bytes in hex, cut at snaplen", () => {
  const p = sampleEvents().find((e) => e.type === "packet")!;
  const full = JSON.parse(new JsonlWriter({ data: true }).encode([p]));
  assert.match(full.data, /^45[0-9a-f]+$/);
  const cut = JSON.parse(
    new JsonlWriter({ data: true, snaplen: 20 }).encode([p]),
  );
  assert.equal(cut.data, full.data.slice(0, 40));
});
