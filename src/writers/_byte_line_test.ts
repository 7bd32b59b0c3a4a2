import assert from "node:assert/strict";
import { ByteLine } from "./_byte_line.ts";

const text = new TextDecoder();

function printed(f: (o: ByteLine) => void): string {
  const o = new ByteLine();
  o.room(64);
  f(o);
  return text.decode(o.take());
}

Deno.test("ByteLine.num prints as String() does", () => {
  for (
    const x of [
      0,
      7,
      10,
      99,
      65535,
      1e9,
      2147483647,
      2147483648,
      1764134800123,
      2 ** 53 - 1,
      2 ** 53,
      -1,
      1.5,
      NaN,
      Infinity,
      1e21,
    ]
  ) {
    assert.equal(printed((o) => o.num(x)), String(x));
  }
});

Deno.test("ByteLine prints padded numbers, hex, addresses and any text", () => {
  assert.equal(printed((o) => o.padded(5, 9)), "000000005");
  assert.equal(printed((o) => o.hex8(0xdeadbeef)), "deadbeef");
  assert.equal(printed((o) => o.hex(new Uint8Array([0, 15, 255]))), "000fff");
  assert.equal(
    printed((o) => o.ipv4(new Uint8Array([1, 10, 0, 255, 7]), 1)),
    "10.0.255.7",
  );
  assert.equal(printed((o) => o.text("é\u2028😀")), "é\u2028😀");
});

Deno.test("ByteLine grows and hands over its own copy", () => {
  const o = new ByteLine();
  const long = "x".repeat(200_000);
  o.text(long);
  const a = o.take();
  o.text("y");
  assert.equal(a.length, 200_000);
  assert.equal(a[0], 120);
  assert.equal(text.decode(o.take()), "y");
});
