/**
 * GUIDs as text (host ids of the original Hone's section headers).
 *
 * @module
 */

/**
 * A 16-byte GUID as 8-4-4-4-12 lower-case hex digits, bytes in order.
 *
 * @param g The 16 bytes.
 * @returns The text, without braces.
 *
 * @example Usage
 * ```ts
 * import { formatGuid } from "./guid.ts";
 * const g = new Uint8Array(16).map((_, i) => i * 17);
 * if (formatGuid(g) !== "00112233-4455-6677-8899-aabbccddeeff") throw new Error();
 * ```
 */
export function formatGuid(g: Uint8Array): string {
  const h = Array.from(g, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${
    h.slice(16, 20)
  }-${h.slice(20)}`;
}
