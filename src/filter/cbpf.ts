/**
 * A classic BPF (cBPF) interpreter: runs the programs libpcap's compiler
 * makes (see {@linkcode compileFilter}) on a packet's captured bytes, as
 * the kernel and libpcap's bpf_filter() do. Loads past the captured bytes
 * reject the packet.
 *
 * @module
 */

/** One instruction: `struct bpf_insn`. */
export interface BpfInsn {
  /** Opcode. */
  code: number;
  /** Jump offset if true. */
  jt: number;
  /** Jump offset if false. */
  jf: number;
  /** Constant. */
  k: number;
}

// Classes, sizes, modes, operations, sources (linux/filter.h, pcap/bpf.h).
const LD = 0x00,
  LDX = 0x01,
  ST = 0x02,
  STX = 0x03,
  ALU = 0x04,
  JMP = 0x05,
  RET = 0x06,
  MISC = 0x07;
const W = 0x00, H = 0x08; // and B = 0x10: bytes
const IMM = 0x00, ABS = 0x20, IND = 0x40, MEM = 0x60, LEN = 0x80, MSH = 0xa0;
const ADD = 0x00,
  SUB = 0x10,
  MUL = 0x20,
  DIV = 0x30,
  OR = 0x40,
  AND = 0x50,
  LSH = 0x60,
  RSH = 0x70,
  NEG = 0x80,
  MOD = 0x90,
  XOR = 0xa0;
const JA = 0x00, JEQ = 0x10, JGT = 0x20, JGE = 0x30, JSET = 0x40;
const X = 0x08, RET_A = 0x10, TXA = 0x80;

/**
 * Checks a program as the kernel's bpf_check_classic() does: jumps land
 * inside it, it ends with a return, memory slots are in range.
 *
 * @param prog The program.
 * @returns Whether it is safe to run.
 */
export function validProgram(prog: readonly BpfInsn[]): boolean {
  if (prog.length === 0 || prog.length > 4096) return false;
  for (let pc = 0; pc < prog.length; pc++) {
    const i = prog[pc]!;
    const cls = i.code & 0x07;
    if (cls === JMP) {
      const op = i.code & 0xf0;
      if (op === JA) {
        if (pc + 1 + i.k >= prog.length) return false;
      } else if (
        pc + 1 + i.jt >= prog.length || pc + 1 + i.jf >= prog.length
      ) return false;
    }
    if (
      (cls === ST || cls === STX ||
        ((cls === LD || cls === LDX) && (i.code & 0xe0) === MEM)) &&
      i.k >= 16
    ) return false;
  }
  return (prog.at(-1)!.code & 0x07) === RET;
}

/** A big-endian load of `size` bytes at `k`, or -1 past the bytes. */
function load(p: Uint8Array, k: number, size: number): number {
  if (k < 0 || k + size > p.length) return -1;
  if (size === 1) return p[k]!;
  if (size === 2) return (p[k]! << 8) | p[k + 1]!;
  return ((p[k]! << 24) | (p[k + 1]! << 16) | (p[k + 2]! << 8) | p[k + 3]!) >>>
    0;
}

/**
 * Runs a program on a packet.
 *
 * @param prog A program that passed {@linkcode validProgram}.
 * @param p The captured bytes (here from the IP header: link type RAW).
 * @param wirelen The packet's length on the wire.
 * @param mem The scratch memory M[0..15], zeroed here: give one to reuse
 *   it across runs (a run never yields).
 * @returns The program's return: 0 rejects the packet.
 *
 * @example Usage
 * ```ts
 * import { runFilter } from "./cbpf.ts";
 * // "ip": ldb [0]; and #0xf0; jeq #0x40 jt 0 jf 1; ret #262144; ret #0
 * const prog = [
 *   { code: 0x30, jt: 0, jf: 0, k: 0 },
 *   { code: 0x54, jt: 0, jf: 0, k: 0xf0 },
 *   { code: 0x15, jt: 0, jf: 1, k: 0x40 },
 *   { code: 0x06, jt: 0, jf: 0, k: 262144 },
 *   { code: 0x06, jt: 0, jf: 0, k: 0 },
 * ];
 * if (runFilter(prog, new Uint8Array([0x45]), 20) === 0) throw new Error();
 * ```
 */
export function runFilter(
  prog: readonly BpfInsn[],
  p: Uint8Array,
  wirelen: number,
  mem: Uint32Array = new Uint32Array(16),
): number {
  let a = 0, x = 0, pc = 0;
  mem.fill(0);
  for (;;) {
    const i = prog[pc++];
    if (i === undefined) return 0;
    const code = i.code, k = i.k >>> 0;
    switch (code & 0x07) {
      case LD:
      case LDX: {
        const mode = code & 0xe0;
        const size = (code & 0x18) === W ? 4 : (code & 0x18) === H ? 2 : 1;
        let v: number;
        if (mode === IMM) v = k;
        else if (mode === LEN) v = wirelen;
        else if (mode === MEM) v = mem[k & 15]!;
        else if (mode === ABS) v = load(p, k, size);
        else if (mode === IND) v = load(p, (x + k) >>> 0, size);
        else if (mode === MSH && (code & 0x07) === LDX) {
          const b = load(p, k, 1);
          v = b < 0 ? -1 : (b & 0x0f) << 2;
        } else return 0;
        if (v < 0) return 0;
        if ((code & 0x07) === LD) a = v >>> 0;
        else x = v >>> 0;
        break;
      }
      case ST:
        mem[k & 15] = a;
        break;
      case STX:
        mem[k & 15] = x;
        break;
      case ALU: {
        const v = code & X ? x : k;
        switch (code & 0xf0) {
          case ADD:
            a = (a + v) >>> 0;
            break;
          case SUB:
            a = (a - v) >>> 0;
            break;
          case MUL:
            a = Math.imul(a, v) >>> 0;
            break;
          case DIV:
            if (v === 0) return 0;
            a = Math.floor(a / v) >>> 0;
            break;
          case MOD:
            if (v === 0) return 0;
            a = (a % v) >>> 0;
            break;
          case OR:
            a = (a | v) >>> 0;
            break;
          case AND:
            a = (a & v) >>> 0;
            break;
          case XOR:
            a = (a ^ v) >>> 0;
            break;
          case LSH:
            a = v >= 32 ? 0 : (a << v) >>> 0;
            break;
          case RSH:
            a = v >= 32 ? 0 : a >>> v;
            break;
          case NEG:
            a = (-a) >>> 0;
            break;
          default:
            return 0;
        }
        break;
      }
      case JMP: {
        const op = code & 0xf0;
        if (op === JA) {
          pc += k;
          break;
        }
        const v = code & X ? x : k;
        const t = op === JEQ
          ? a === v
          : op === JGT
          ? a > v
          : op === JGE
          ? a >= v
          : op === JSET
          ? (a & v) !== 0
          : false;
        pc += t ? i.jt : i.jf;
        break;
      }
      case RET:
        return ((code & 0x18) === RET_A ? a : k) >>> 0;
      case MISC:
        if ((code & 0xf8) === TXA) a = x;
        else x = a;
        break;
    }
  }
}
