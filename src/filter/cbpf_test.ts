import assert from "node:assert/strict";
import { type BpfInsn, runFilter, validProgram } from "./cbpf.ts";

const i = (code: number, k = 0, jt = 0, jf = 0): BpfInsn => ({
  code,
  jt,
  jf,
  k,
});

Deno.test("runFilter: a load past the captured bytes rejects the packet", () => {
  // ld [8]; ret a
  const prog = [i(0x20, 8), i(0x16)];
  assert.equal(runFilter(prog, new Uint8Array(12).fill(1), 12), 0x01010101);
  assert.equal(runFilter(prog, new Uint8Array(11), 100), 0);
});

Deno.test("runFilter: ldx msh, indirect loads, arithmetic, len", () => {
  // ldxb 4*([0]&0xf); ldh [x+2]; add #1; st M[3]; ld len; sub M[3]... use txa
  const prog = [
    i(0xb1, 0), // ldxb 4*([0]&0xf)  -> x = 20 for 0x45
    i(0x48, 2), // ldh [x + 2]
    i(0x04, 1), // add #1
    i(0x02, 3), // st M[3]
    i(0x80), // ld len
    i(0x61, 3), // ldx M[3]
    i(0x1c), // sub x
    i(0x16), // ret a
  ];
  const p = new Uint8Array(24);
  p[0] = 0x45;
  p[22] = 0x01;
  p[23] = 0x02; // 0x0102 + 1 = 259
  assert.equal(runFilter(prog, p, 1000), 1000 - 259);
  // Division by zero rejects, as in the kernel.
  assert.equal(runFilter([i(0x00, 5), i(0x34, 0), i(0x16)], p, 1), 0);
});

Deno.test("validProgram refuses jumps out of the program and a missing return", () => {
  assert.ok(validProgram([i(0x15, 1, 0, 1), i(0x06, 1), i(0x06, 0)]));
  assert.ok(!validProgram([i(0x15, 1, 5, 0), i(0x06, 0)]));
  assert.ok(!validProgram([i(0x05, 9), i(0x06, 0)]));
  assert.ok(!validProgram([i(0x00, 1)]));
  assert.ok(!validProgram([i(0x02, 16), i(0x06, 0)]));
  assert.ok(!validProgram([]));
});
