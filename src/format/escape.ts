/**
 * Escaping of strings that a process controls (argv, comm, exe paths), so
 * that one event is always one line and nothing reaches a terminal as a
 * control sequence.
 *
 * The rules, the same in every text output:
 *
 * - a backslash becomes `\\`;
 * - an ASCII control byte (0x00–0x1f, 0x7f) becomes `\xHH`;
 * - a Unicode control or separator that a terminal or a line splitter acts
 *   on becomes `\uHHHH`: C1 controls (U+0080–U+009F, such as NEL and the
 *   8-bit CSI and OSC), U+2028 and U+2029, and the bidirectional controls
 *   (U+200E, U+200F, U+202A–U+202E, U+2066–U+2069);
 * - with `words`, a space becomes `\x20` and a double quote `\x22`, so a
 *   field cannot pose as several.
 *
 * Bytes that were not UTF-8 have already become U+FFFD when decoded.
 *
 * @module
 */

const UNSAFE =
  // deno-lint-ignore no-control-regex -- control characters are the point
  /[\\\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const UNSAFE_G = new RegExp(UNSAFE.source, "g");
const UNSAFE_WORDS = new RegExp(`[ "${UNSAFE.source.slice(1, -1)}]`);
const UNSAFE_WORDS_G = new RegExp(UNSAFE_WORDS.source, "g");
/** What JSON.stringify leaves as it is but line splitters and terminals act on. */
const JSON_UNSAFE =
  /[\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const JSON_UNSAFE_G = new RegExp(JSON_UNSAFE.source, "g");

function escapeChar(c: string): string {
  if (c === "\\") return "\\\\";
  const code = c.charCodeAt(0);
  if (code < 0x80) return "\\x" + code.toString(16).padStart(2, "0");
  return "\\u" + code.toString(16).padStart(4, "0");
}

function escapeCharJson(c: string): string {
  return "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");
}

/**
 * Escapes a string for a text line (see the module documentation).
 *
 * @param s The string, as the process gave it.
 * @param words Also escape spaces and double quotes.
 * @returns The escaped string: printable, on one line.
 *
 * @example Usage
 * ```ts
 * import { escapeText } from "./escape.ts";
 * if (escapeText("a\nb\x1b]0;x\x07") !== "a\\x0ab\\x1b]0;x\\x07") throw new Error();
 * if (escapeText("two words", true) !== "two\\x20words") throw new Error();
 * ```
 */
export function escapeText(s: string, words = false): string {
  if (words) {
    return UNSAFE_WORDS.test(s) ? s.replace(UNSAFE_WORDS_G, escapeChar) : s;
  }
  return UNSAFE.test(s) ? s.replace(UNSAFE_G, escapeChar) : s;
}

/**
 * Makes a JSON string literal that is safe on one line: JSON.stringify
 * plus `\uHHHH` for the C1 controls, U+2028/U+2029 and the bidirectional
 * controls, which JSON allows raw.
 *
 * @param s The string.
 * @returns The JSON literal, quotes included.
 *
 * @example Usage
 * ```ts
 * import { jsonString } from "./escape.ts";
 * if (jsonString("a\u2028b\u0085") !== '"a\\u2028b\\u0085"') throw new Error();
 * ```
 */
export function jsonString(s: string): string {
  const j = JSON.stringify(s);
  return JSON_UNSAFE.test(j) ? j.replace(JSON_UNSAFE_G, escapeCharJson) : j;
}
