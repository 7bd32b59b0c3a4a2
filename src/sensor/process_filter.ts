/**
 * `hone record --pid/--children/--comm/--uid/--cgroup`: the process filter
 * as the kernel applies it (see {@linkcode ProcessFilter}) and the same
 * test for the /proc snapshot of the processes already running.
 *
 * @module
 */

import { FILTER_PIDS_MAX } from "../records/mod.ts";
import { type ProcInfo, runningProcesses } from "./proc_snapshot.ts";
import type { ProcessFilter } from "./shim.ts";

/** The filter as given on the command line, names resolved. */
export interface FilterSpec {
  /** `--pid`: thread group ids. */
  pids?: number[];
  /** `--children`: and the processes forked from them. */
  children?: boolean;
  /** `--comm`: the task name. */
  comm?: string;
  /** `--uid`: the effective uid. */
  uid?: number;
  /** `--cgroup`: a cgroup v2 directory (absolute, or under the mount). */
  cgroup?: string;
}

/** A resolved filter: for the sensor, and for the /proc snapshot. */
export interface ResolvedFilter {
  /** What the sensor is given. */
  sensor: ProcessFilter;
  /** Whether a running process matches, as the kernel would decide. */
  matches(p: ProcInfo): boolean;
}

/** Where cgroup v2 is mounted, from /proc/self/mountinfo. */
export function cgroup2Mount(): string | null {
  try {
    for (
      const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    ) {
      const [left, right] = line.split(" - ");
      if (right?.startsWith("cgroup2 ")) return left!.split(" ")[4]!;
    }
  } catch { /* no /proc */ }
  return null;
}

/** A cgroup v2 directory: its id and its path under the mount. */
export interface CgroupRef {
  /** The cgroup's id (its directory's inode number). */
  id: bigint;
  /** Its path as /proc/PID/cgroup shows it ("/system.slice/x"). */
  path: string;
}

/**
 * Finds a cgroup v2 directory, given absolutely or under the mount.
 *
 * @param given The path.
 * @returns Its id and path.
 * @throws {Error} No cgroup v2 mount, no such directory; the message says.
 */
export function resolveCgroup(given: string): CgroupRef {
  const mount = cgroup2Mount();
  if (mount === null) throw new Error("--cgroup: no cgroup v2 mount");
  const dir = given.startsWith(mount + "/") || given === mount
    ? given
    : `${mount}/${given.replace(/^\/+/, "")}`;
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(dir);
  } catch {
    throw new Error(`--cgroup ${given}: no such cgroup (${dir})`);
  }
  if (!st.isDirectory || st.ino === null) {
    throw new Error(`--cgroup ${given}: not a cgroup directory`);
  }
  return { id: BigInt(st.ino), path: dir.slice(mount.length) || "/" };
}

/** The path of a process's cgroup v2, from /proc/PID/cgroup ("0::/x"). */
function cgroupOf(pid: number): string | null {
  try {
    const m = /^0::(.*)$/m.exec(Deno.readTextFileSync(`/proc/${pid}/cgroup`));
    return m ? m[1]! : null;
  } catch {
    return null;
  }
}

/**
 * Resolves a filter: checks the pids, adds the running descendants with
 * `children`, finds the cgroup's id.
 *
 * @param spec The filter.
 * @param procs The running processes (default: read from /proc).
 * @returns The filter for the sensor and for the snapshot.
 * @throws {Error} A pid that does not run, too many pids, a cgroup that
 * is not a cgroup v2 directory; the message says which.
 */
export function resolveFilter(
  spec: FilterSpec,
  procs: ProcInfo[] = runningProcesses(),
): ResolvedFilter {
  const sensor: ProcessFilter = {};
  const tests: ((p: ProcInfo) => boolean)[] = [];
  if (spec.pids) {
    const running = new Set(procs.map((p) => p.pid));
    for (const pid of spec.pids) {
      if (!running.has(pid)) throw new Error(`--pid ${pid}: no such process`);
    }
    const want = new Set(spec.pids);
    if (spec.children) {
      // Those already forked: the kernel follows the later ones.
      let grew = true;
      while (grew) {
        grew = false;
        for (const p of procs) {
          if (!want.has(p.pid) && want.has(p.ppid)) {
            want.add(p.pid);
            grew = true;
          }
        }
      }
    }
    if (want.size > FILTER_PIDS_MAX) {
      throw new Error(
        `--pid${
          spec.children ? " with --children" : ""
        }: ${want.size} processes, at most ${FILTER_PIDS_MAX}`,
      );
    }
    sensor.pids = [...want];
    sensor.children = spec.children === true;
    tests.push((p) => want.has(p.pid));
  }
  if (spec.comm !== undefined) {
    const comm = spec.comm;
    sensor.comm = comm;
    tests.push((p) => p.comm === comm);
  }
  if (spec.uid !== undefined) {
    const uid = spec.uid;
    sensor.uid = uid;
    tests.push((p) => p.uid === uid);
  }
  if (spec.cgroup !== undefined) {
    const cg = resolveCgroup(spec.cgroup);
    sensor.cgroupId = cg.id;
    tests.push((p) => cgroupOf(p.pid) === cg.path);
  }
  return { sensor, matches: (p) => tests.every((t) => t(p)) };
}
