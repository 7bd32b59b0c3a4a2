/**
 * tcpdump's filter expressions, compiled by libpcap's own compiler
 * (pcap_compile(3PCAP), Debian's libpcap0.8, loaded through Deno FFI) into
 * classic BPF for hone's link type (RAW: packets start at the IP header).
 *
 * @module
 */

import type { BpfInsn } from "./cbpf.ts";

const SYMBOLS = {
  pcap_open_dead: { parameters: ["i32", "i32"], result: "pointer" },
  pcap_compile: {
    parameters: ["pointer", "buffer", "buffer", "i32", "u32"],
    result: "i32",
  },
  pcap_geterr: { parameters: ["pointer"], result: "pointer" },
  pcap_freecode: { parameters: ["buffer"], result: "void" },
  pcap_close: { parameters: ["pointer"], result: "void" },
} as const;

/** libpcap's sonames on Debian and elsewhere. */
const LIBPCAP = ["libpcap.so.0.8", "libpcap.so.1", "libpcap.so"];
/** DLT_RAW on Linux: raw IPv4 or IPv6, as hone's captures. */
const DLT_RAW = 12;
/** PCAP_NETMASK_UNKNOWN: "ip broadcast" cannot be used. */
const NETMASK_UNKNOWN = 0xffffffff;

/** A filter that cannot be used; the message says why, as tcpdump would. */
export class FilterError extends Error {
  /**
   * Makes the error.
   *
   * @param message Why.
   */
  constructor(message: string) {
    super(message);
    this.name = "FilterError";
  }
}

/**
 * Compiles a filter expression with libpcap, optimized, for raw IP.
 *
 * @param expr The expression, e.g. `tcp port 443 and host 10.0.0.1`.
 * @param snaplen The snapshot length the program may assume.
 * @returns The program.
 * @throws {FilterError} If libpcap is missing or the expression is bad.
 *
 * @example Usage
 * ```ts ignore
 * import { compileFilter } from "./pcap_compile.ts";
 * const prog = compileFilter("udp port 53");
 * ```
 */
export function compileFilter(expr: string, snaplen = 262144): BpfInsn[] {
  let lib: Deno.DynamicLibrary<typeof SYMBOLS> | null = null;
  for (const name of LIBPCAP) {
    try {
      lib = Deno.dlopen(name, SYMBOLS);
      break;
    } catch { /* the next name */ }
  }
  if (lib === null) {
    throw new FilterError(
      "a filter expression needs libpcap (Debian: apt install libpcap0.8)",
    );
  }
  const c = lib.symbols;
  const p = c.pcap_open_dead(DLT_RAW, snaplen);
  if (p === null) {
    lib.close();
    throw new FilterError("libpcap could not open a dead handle");
  }
  // struct bpf_program { u_int bf_len; struct bpf_insn *bf_insns; }
  const prog = new Uint8Array(16);
  try {
    const text = new TextEncoder().encode(expr + "\0");
    if (c.pcap_compile(p, prog, text, 1, NETMASK_UNKNOWN) !== 0) {
      const err = c.pcap_geterr(p);
      const why = err ? new Deno.UnsafePointerView(err).getCString() : "";
      throw new FilterError(why || "can't parse filter expression");
    }
    const view = new DataView(prog.buffer);
    const n = view.getUint32(0, true);
    const insns = Deno.UnsafePointer.create(view.getBigUint64(8, true));
    const out: BpfInsn[] = [];
    if (insns !== null) {
      const v = new Deno.UnsafePointerView(insns);
      for (let i = 0; i < n; i++) {
        out.push({
          code: v.getUint16(8 * i),
          jt: v.getUint8(8 * i + 2),
          jf: v.getUint8(8 * i + 3),
          k: v.getUint32(8 * i + 4),
        });
      }
    }
    c.pcap_freecode(prog);
    return out;
  } finally {
    c.pcap_close(p);
    lib.close();
  }
}
