import assert from "node:assert/strict";
import { escapeText, jsonString } from "./escape.ts";

Deno.test("escapeText leaves printable text as it is", () => {
  const s = "/usr/bin/python3 -c print('héllo wörld') ✓";
  assert.equal(escapeText(s), s);
});

Deno.test("escapeText escapes every byte that ends a line or drives a terminal", () => {
  for (let c = 0; c < 0x20; c++) {
    assert.equal(
      escapeText(String.fromCharCode(c)),
      "\\x" + c.toString(16).padStart(2, "0"),
    );
  }
  assert.equal(escapeText("\x7f"), "\\x7f");
  assert.equal(escapeText("\\"), "\\\\");
  for (const c of [0x85, 0x9b, 0x9d, 0x2028, 0x2029, 0x202e, 0x2066, 0x200f]) {
    assert.equal(
      escapeText(String.fromCharCode(c)),
      "\\u" + c.toString(16).padStart(4, "0"),
    );
  }
});

Deno.test("escapeText with words makes one field of one argument", () => {
  assert.equal(escapeText('a b"c', true), "a\\x20b\\x22c");
  assert.equal(escapeText('a b"c'), 'a b"c');
  assert.equal(escapeText("a\\x20b", true), "a\\\\x20b");
});

Deno.test("jsonString round-trips and keeps one line under any line splitter", () => {
  const s = "a\nb\r\x1b]0;t\x07\u0085\u2028\u2029\u202e\ud800z";
  const j = jsonString(s);
  assert.equal(JSON.parse(j), s);
  // deno-lint-ignore no-control-regex -- control characters are the point
  assert.doesNotMatch(j, /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202e]/);
  // deno-lint-ignore no-control-regex -- the line breaks of str.splitlines()
  assert.equal(j.split(/\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/).length, 1);
});
