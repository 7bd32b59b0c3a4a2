/**
 * The start-up snapshot of running processes, read from /proc, as the
 * original Hone made one when a reader opened its device: every process
 * with its exe, argv, ppid, effective uid and gid, timestamped with the
 * process's start time.
 *
 * @module
 */

import { type ProcessEvent, processEvent } from "../events/mod.ts";

const dec = new TextDecoder();

/** What /proc says about one process. */
export interface ProcInfo {
  /** Process id. */
  pid: number;
  /** Parent process id. */
  ppid: number;
  /** Effective uid. */
  uid: number;
  /** Effective gid. */
  gid: number;
  /** Kernel task name. */
  comm: string;
  /** Executable path, or null (kernel threads, exited processes). */
  exe: string | null;
  /** Arguments, or null when unreadable. */
  argv: string[] | null;
  /** Whether it is a kernel thread. */
  kthread: boolean;
  /** Start time in clock ticks after boot. */
  startTicks: number;
}

/**
 * Reads one process from /proc.
 *
 * @param pid The process id.
 * @param root Where procfs is mounted.
 * @returns What was found, or null if the process is gone.
 */
export function readProc(pid: number, root = "/proc"): ProcInfo | null {
  try {
    const stat = Deno.readTextFileSync(`${root}/${pid}/stat`);
    // comm may hold spaces and parentheses: it ends at the last ')'.
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const f = stat.slice(close + 2).split(" ");
    const flags = Number(f[6]);
    const status = Deno.readTextFileSync(`${root}/${pid}/status`);
    const uid = Number(/^Uid:\s+\d+\s+(\d+)/m.exec(status)?.[1] ?? 0);
    const gid = Number(/^Gid:\s+\d+\s+(\d+)/m.exec(status)?.[1] ?? 0);
    const kthread = (flags & 0x00200000) !== 0; // PF_KTHREAD
    let exe: string | null = null;
    let argv: string[] | null = null;
    if (!kthread) {
      try {
        exe = Deno.readLinkSync(`${root}/${pid}/exe`);
      } catch { /* exited, or no permission */ }
      try {
        const raw = Deno.readFileSync(`${root}/${pid}/cmdline`);
        const parts = dec.decode(raw).split("\0");
        if (parts.at(-1) === "") parts.pop();
        argv = parts;
      } catch { /* exited */ }
    }
    return {
      pid,
      ppid: Number(f[1]),
      uid,
      gid,
      comm,
      exe,
      argv,
      kthread,
      startTicks: Number(f[19]),
    };
  } catch {
    return null;
  }
}

/**
 * Reads the wall-clock time of boot, in seconds, from /proc/stat's btime
 * refined with the current uptime.
 *
 * @returns Seconds since the epoch at boot (fractional).
 */
export function bootTime(): number {
  const up = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
  return Date.now() / 1000 - up;
}

/**
 * Snapshots every running process as events: `exec` for user processes,
 * `kthread` for kernel threads, oldest first.
 *
 * @param ticksPerSec Clock ticks per second (USER_HZ, 100 on Linux).
 * @param keep Which processes to report (a filter's test); all by default.
 * @returns The events.
 */
export function snapshotProcesses(
  ticksPerSec = 100,
  keep: (p: ProcInfo) => boolean = () => true,
): ProcessEvent[] {
  const boot = bootTime();
  const procs = runningProcesses().filter(keep);
  procs.sort((a, b) => a.startTicks - b.startTicks || a.pid - b.pid);
  return procs.map((p) => {
    const t = boot + p.startTicks / ticksPerSec;
    const sec = Math.floor(t);
    return processEvent({
      sec,
      nsec: Math.min(999_999_999, Math.round((t - sec) * 1e9)),
      event: p.kthread ? "kthread" : "exec",
      pid: p.pid,
      tid: p.pid,
      ppid: p.ppid,
      uid: p.uid,
      gid: p.gid,
      exe: p.exe,
      argv: p.argv,
      comm: p.comm,
    });
  });
}

/**
 * Every process /proc shows now.
 *
 * @returns What {@linkcode readProc} gives of each.
 */
export function runningProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const p = readProc(Number(e.name));
    if (p) out.push(p);
  }
  return out;
}
