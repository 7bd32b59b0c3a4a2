/**
 * SIGUSR1, "print the counts", without Deno's V8 inspector.
 *
 * Deno 2.9.2 and later open an inspector on 127.0.0.1:9229 when the
 * process takes SIGUSR1, even with a listener of its own: in a hone that
 * runs as root, any local user could then run code as root. The launcher
 * of dist/hone (ffi/launcher/launcher.c) therefore blocks SIGUSR1 before
 * it starts deno. Every thread inherits the block, so no thread ever takes
 * the signal and it stays pending; {@linkcode watchCountsSignal} takes it
 * with sigtimedwait(2), on a timer and whenever its caller polls. Where
 * SIGUSR1 is not blocked (`deno run main.ts`, for development), it falls
 * back on `Deno.addSignalListener`, and there Deno's inspector still opens.
 *
 * @module
 */

import { type Libc, openLibc } from "./_libc.ts";

/** SIGUSR1 on Linux (x86-64, arm64). */
const SIGUSR1 = 10;
/** `how` for pthread_sigmask(3); ignored when `set` is NULL. */
const SIG_BLOCK = 0;
/** Bytes in glibc's sigset_t (1024 bits). */
const SIGSET_BYTES = 128;
/** How often the timer looks for a pending SIGUSR1, in milliseconds. */
const POLL_MS = 200;

/** A sigset_t with SIGUSR1 alone; words are native-endian `unsigned long`s. */
function usr1Set(): Uint8Array<ArrayBuffer> {
  const set = new Uint8Array(SIGSET_BYTES);
  new BigUint64Array(set.buffer)[0] = 1n << BigInt(SIGUSR1 - 1);
  return set;
}

function usr1Blocked(lib: Libc): boolean {
  const mask = new Uint8Array(SIGSET_BYTES);
  if (lib.pthread_sigmask(SIG_BLOCK, null, mask) !== 0) return false;
  return (new BigUint64Array(mask.buffer)[0]! >> BigInt(SIGUSR1 - 1) & 1n) ===
    1n;
}

/** What {@linkcode watchCountsSignal} returns. */
export interface CountsSignalWatch extends Disposable {
  /**
   * Takes a pending SIGUSR1 now, if there is one, and calls back; for
   * loops that keep the timer from running. Does nothing where the
   * listener is used, or after {@linkcode CountsSignalWatch.stop}.
   */
  poll(): void;
  /** Stops watching; calling it again does nothing. */
  stop(): void;
}

/**
 * Calls `onSignal` once for each SIGUSR1 the process gets (signals that
 * come together count once), without ever letting Deno take the signal
 * where the launcher blocked it. The timer does not keep the process
 * alive. Errors thrown by `onSignal` (stderr closed, say) are ignored: a
 * request for the counts must not end a capture.
 *
 * @param onSignal Prints the counts.
 * @returns The watch, to poll and to stop (or dispose of).
 *
 * @example Usage
 * ```ts
 * import { watchCountsSignal } from "./usr1.ts";
 * let n = 0;
 * const watch = watchCountsSignal(() => n++);
 * watch.poll();
 * watch.stop();
 * ```
 */
export function watchCountsSignal(onSignal: () => void): CountsSignalWatch {
  const call = () => {
    try {
      onSignal();
    } catch { /* see above */ }
  };
  let stopped = false;
  const lib = openLibc();
  if (lib === null || !usr1Blocked(lib)) {
    Deno.addSignalListener("SIGUSR1", call);
    const stop = () => {
      if (stopped) return;
      stopped = true;
      Deno.removeSignalListener("SIGUSR1", call);
    };
    return { poll() {}, stop, [Symbol.dispose]: stop };
  }
  const set = usr1Set();
  const noWait = new Uint8Array(16); // struct timespec { 0, 0 }
  const poll = () => {
    // -1 with EAGAIN: nothing pending.
    if (!stopped && lib.sigtimedwait(set, null, noWait) === SIGUSR1) call();
  };
  const timer = setInterval(poll, POLL_MS);
  Deno.unrefTimer(timer);
  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
  };
  return { poll, stop, [Symbol.dispose]: stop };
}
