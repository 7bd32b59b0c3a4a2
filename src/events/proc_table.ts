/**
 * What the writers and the read filters remember about processes, from
 * the process events, to describe (or pick) packets and sockets.
 *
 * @module
 */

import type { ProcessEvent } from "./types.ts";
import { setBounded } from "./bounded_map.ts";

/** What is kept per process. */
export interface KnownProcess {
  /** Parent process id. */
  ppid: number | null;
  /** Effective user id. */
  uid: number | null;
  /** Effective group id. */
  gid: number | null;
  /** Kernel task name, or the executable's base name. */
  comm: string | null;
  /** Executable path. */
  exe: string | null;
  /** Arguments. */
  argv: readonly string[] | null;
  /** Effective user name. */
  user: string | null;
  /** When its image started (the exec or fork event), seconds and ns. */
  start: [number, number] | null;
  /** Its cgroup v2 id. */
  cgroup: number | null;
}

/**
 * A bounded pid → process table, updated from process events; a forked
 * child starts with its parent's image.
 */
export class ProcTable {
  #m = new Map<number, KnownProcess>();
  #max: number;

  /**
   * Makes a table.
   *
   * @param max Most processes kept; the oldest is forgotten first.
   */
  constructor(max = 65536) {
    this.#max = max;
  }

  /**
   * Looks a process up.
   *
   * @param pid The process id.
   * @returns What is known, or `undefined`.
   */
  get(pid: number): KnownProcess | undefined {
    return this.#m.get(pid);
  }

  /**
   * Updates the table from a process event.
   *
   * @param e The event.
   */
  update(e: ProcessEvent): void {
    const old = this.#m.get(e.pid);
    // A forked child is a new process running its parent's image; anything
    // else updates what is known of the process.
    const base = e.event === "fork"
      ? (e.ppid !== null ? this.#m.get(e.ppid) : undefined)
      : old;
    const exe = e.exe ?? base?.exe ?? null;
    const info: KnownProcess = {
      ppid: e.ppid ?? old?.ppid ?? null,
      uid: e.uid ?? base?.uid ?? null,
      gid: e.gid ?? base?.gid ?? null,
      comm: e.comm ?? (e.exe ? basename(e.exe) : base?.comm ?? null),
      exe,
      argv: e.argv ?? base?.argv ?? null,
      user: e.user ?? base?.user ?? null,
      start: e.event === "exit" ? old?.start ?? null : [e.sec, e.nsec],
      cgroup: e.cgroup ?? base?.cgroup ?? null,
    };
    setBounded(this.#m, e.pid, info, this.#max);
  }

  /**
   * Forgets a process (it exited).
   *
   * @param pid The process id.
   */
  forget(pid: number): void {
    this.#m.delete(pid);
  }
}

function basename(p: string): string {
  const i = p.lastIndexOf("/");
  return i >= 0 ? p.slice(i + 1) : p;
}
