/**
 * The error a capture reader throws for a malformed file.
 *
 * @module
 */

/**
 * A capture file is malformed at a known byte offset. The message is one
 * line, `<what failed> at byte <offset>`, e.g. "Cannot read block of type
 * 0x6: length 13 is not a multiple of 4 at byte 48"; `hone read` prints it
 * after `hone: read <file>: `.
 *
 * Truncated input is a `HoneFormatError` too (not a `RangeError`), so a
 * caller catches one class for every malformed file.
 *
 * @example Usage
 * ```ts
 * import { HoneFormatError } from "./errors.ts";
 * const e = new HoneFormatError("Cannot read block: truncated", 4096);
 * if (e.offset !== 4096) throw new Error("offset lost");
 * if (e.message !== "Cannot read block: truncated at byte 4096") {
 *   throw new Error("unexpected message");
 * }
 * ```
 */
export class HoneFormatError extends SyntaxError {
  /** Byte offset in the input where the fault was found. */
  readonly offset: number;

  /**
   * Makes the error.
   *
   * @param message What failed, in std's style (action first, details after
   * a colon, no final period); " at byte N" is appended.
   * @param offset Byte offset in the input.
   * @param options `cause`: the error behind this one, if any.
   */
  constructor(message: string, offset: number, options?: ErrorOptions) {
    super(`${message} at byte ${offset}`, options);
    this.name = "HoneFormatError";
    this.offset = offset;
  }
}
