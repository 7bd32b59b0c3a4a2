/**
 * The process filters of `hone record` applied to events in user space,
 * for `hone read`: a process table built from the file's own process
 * events says each pid's name, uid and cgroup; packets, connections and
 * process events of other processes are left out.
 *
 * @module
 */

import { type HoneEvent, ProcTable } from "../events/mod.ts";

/** Which processes to keep: every kind given must hold. */
export interface EventFilterSpec {
  /** Pids. */
  pids?: number[];
  /** ... and the processes forked from them (fork events in the file). */
  children?: boolean;
  /** The task name. */
  comm?: string;
  /** The effective uid. */
  uid?: number;
  /** A cgroup v2 id. */
  cgroupId?: number;
}

/** Most processes remembered. */
const MAX_PROCESSES = 1 << 16;

/**
 * Batches of events in, those of matching processes out (statistics and
 * section events always pass).
 *
 * @example Usage
 * ```ts
 * import { ProcessFilterStream } from "./process_filter_stream.ts";
 * const s = new ProcessFilterStream({ pids: [4242] });
 * ```
 */
export class ProcessFilterStream
  extends TransformStream<HoneEvent[], HoneEvent[]> {
  /**
   * Makes the stage.
   *
   * @param spec The filter.
   */
  constructor(spec: EventFilterSpec) {
    const seeds = spec.pids ? new Set(spec.pids) : null;
    const known = new ProcTable(MAX_PROCESSES);
    const matches = (pid: number | null): boolean => {
      if (pid === null) return false;
      if (seeds && !seeds.has(pid)) return false;
      const k = known.get(pid);
      if (spec.comm !== undefined && k?.comm !== spec.comm) return false;
      if (spec.uid !== undefined && k?.uid !== spec.uid) return false;
      if (spec.cgroupId !== undefined && k?.cgroup !== spec.cgroupId) {
        return false;
      }
      return true;
    };
    super({
      transform(batch, controller) {
        const out = batch.filter((e) => {
          switch (e.type) {
            case "process": {
              known.update(e);
              if (
                seeds && spec.children && e.event === "fork" &&
                e.ppid !== null && seeds.has(e.ppid)
              ) seeds.add(e.pid);
              const keep = matches(e.pid);
              if (e.event === "exit") known.forget(e.pid);
              return keep;
            }
            case "packet":
            case "connection":
              return matches(e.pid);
            default:
              return true;
          }
        });
        if (out.length) controller.enqueue(out);
      },
    });
  }
}
