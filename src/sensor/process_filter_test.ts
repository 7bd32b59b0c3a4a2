import assert from "node:assert/strict";
import type { ProcInfo } from "./proc_snapshot.ts";
import { resolveFilter } from "./process_filter.ts";

function proc(pid: number, ppid: number, comm = "sh", uid = 0): ProcInfo {
  return {
    pid,
    ppid,
    uid,
    gid: 0,
    comm,
    exe: null,
    argv: null,
    kthread: false,
    startTicks: pid,
  };
}

const procs = [
  proc(1, 0, "init"),
  proc(10, 1, "nginx", 33),
  proc(11, 10, "nginx", 33),
  proc(12, 11, "worker", 33),
  proc(20, 1, "curl", 1000),
];

Deno.test("resolveFilter --pid --children: the running descendants are seeds too", () => {
  const f = resolveFilter({ pids: [10], children: true }, procs);
  assert.deepEqual(f.sensor.pids?.sort((a, b) => a - b), [10, 11, 12]);
  assert.equal(f.sensor.children, true);
  assert.deepEqual(procs.filter(f.matches).map((p) => p.pid), [10, 11, 12]);
  const alone = resolveFilter({ pids: [10] }, procs);
  assert.deepEqual(alone.sensor.pids, [10]);
  assert.deepEqual(procs.filter(alone.matches).map((p) => p.pid), [10]);
});

Deno.test("resolveFilter: every kind must hold", () => {
  const f = resolveFilter({ comm: "nginx", uid: 33 }, procs);
  assert.deepEqual(f.sensor, { comm: "nginx", uid: 33 });
  assert.deepEqual(procs.filter(f.matches).map((p) => p.pid), [10, 11]);
});

Deno.test("resolveFilter refuses a pid that does not run, and too many", () => {
  assert.throws(
    () => resolveFilter({ pids: [99] }, procs),
    /--pid 99: no such process/,
  );
  const many = Array.from({ length: 70 }, (_, i) => proc(100 + i, 1));
  assert.throws(
    () => resolveFilter({ pids: many.map((p) => p.pid) }, many),
    /70 processes, at most 64/,
  );
});
