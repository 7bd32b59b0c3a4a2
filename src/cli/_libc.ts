/**
 * The C library, through Deno FFI, for what Deno does not offer: signal
 * masks and sigtimedwait (SIGUSR1), user lookups and the privilege drop
 * (-Z), and one datagram to systemd (sd_notify). Opened once, on first use.
 *
 * @module
 */

const LIBC_SYMBOLS = {
  sigtimedwait: { parameters: ["buffer", "pointer", "buffer"], result: "i32" },
  pthread_sigmask: { parameters: ["i32", "pointer", "buffer"], result: "i32" },
  getpwnam: { parameters: ["buffer"], result: "pointer" },
  initgroups: { parameters: ["buffer", "u32"], result: "i32" },
  setgid: { parameters: ["u32"], result: "i32" },
  setuid: { parameters: ["u32"], result: "i32" },
  getuid: { parameters: [], result: "u32" },
  geteuid: { parameters: [], result: "u32" },
  getegid: { parameters: [], result: "u32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  sendto: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "isize",
  },
  close: { parameters: ["i32"], result: "i32" },
} as const;

/** The C library's functions hone calls. */
export type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

let libc: Libc | null | undefined;

/**
 * Opens the C library (once).
 *
 * @returns Its functions, or null where it cannot be opened.
 */
export function openLibc(): Libc | null {
  if (libc === undefined) {
    try {
      libc = Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
    } catch {
      libc = null;
    }
  }
  return libc;
}
