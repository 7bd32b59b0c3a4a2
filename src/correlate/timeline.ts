/**
 * Who read (or sent) which part of a socket's stream: a short list of the
 * read or send calls made on a socket shared by several processes, so that
 * each packet goes to the process that actually read or wrote its bytes.
 *
 * @module
 */

/** Most read and send calls remembered per socket and direction. */
export const MAX_TIMELINE = 64;

/**
 * The calls on one socket in one direction, oldest first. A position is a
 * TCP sequence number, or a datagram's index in the socket's stream.
 */
export interface Timeline {
  /** Where each call's part of the stream starts. */
  starts: number[];
  /** Where the call itself stopped: known to be read (or sent) by that user. */
  ends: number[];
  /** The calling process. */
  pids: number[];
  /** The calling thread, or 0. */
  tids: number[];
}

/**
 * An empty timeline.
 *
 * @returns The timeline.
 */
export function newTimeline(): Timeline {
  return { starts: [], ends: [], pids: [], tids: [] };
}

/**
 * `a <= b` in 32-bit sequence space.
 *
 * @param a A sequence number.
 * @param b Another.
 * @returns Whether `a` comes at or before `b`.
 */
export function seqLe(a: number, b: number): boolean {
  return ((b - a) | 0) >= 0;
}

/**
 * Records a call, forgetting the oldest beyond {@linkcode MAX_TIMELINE}.
 *
 * @param t The timeline.
 * @param start Where the call's part of the stream starts.
 * @param end Where it ends.
 * @param pid The calling process.
 * @param tid The calling thread.
 */
export function addCall(
  t: Timeline,
  start: number,
  end: number,
  pid: number,
  tid: number,
): void {
  t.starts.push(start);
  t.ends.push(end);
  t.pids.push(pid);
  t.tids.push(tid);
  if (t.starts.length > MAX_TIMELINE) {
    t.starts.shift();
    t.ends.shift();
    t.pids.shift();
    t.tids.shift();
  }
}

/**
 * Finds the call whose part of the stream holds `pos`. Certain once a
 * later call took over after `pos`, or when the call itself covers `pos`;
 * the last call is taken anyway only when `final`.
 *
 * @param t The timeline.
 * @param pos The position.
 * @param tcp Whether positions are TCP sequence numbers.
 * @param final Take the last caller when nothing later is known.
 * @returns The call's index, or -1 when it is not known (yet).
 *
 * @example Usage
 * ```ts
 * import { addCall, callAt, newTimeline } from "./timeline.ts";
 * const t = newTimeline();
 * addCall(t, 0, 1, 41, 41);
 * addCall(t, 1, 2, 42, 42);
 * if (callAt(t, 0, false, false) !== 0) throw new Error();
 * ```
 */
export function callAt(
  t: Timeline,
  pos: number,
  tcp: boolean,
  final: boolean,
): number {
  const n = t.starts.length;
  let k = -1;
  for (let i = n - 1; i >= 0; i--) {
    const s = t.starts[i]!;
    if (tcp ? seqLe(s, pos) : s <= pos) {
      k = i;
      break;
    }
  }
  if (k < 0) return -1;
  if (k === n - 1 && !final) {
    // The last user's own recorded call covers it, or it is not read yet.
    const end = t.ends[k]!;
    if (tcp ? seqLe(end, pos) : pos >= end) return -1;
  }
  return k;
}
