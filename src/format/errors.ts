/**
 * The error a capture reader throws for a malformed file.
 *
 * @module
 */

/**
 * A capture file is malformed at a known byte offset.
 *
 * @example Usage
 * ```ts
 * import { HoneFormatError } from "./errors.ts";
 * const e = new HoneFormatError("Cannot read block: truncated", 4096);
 * if (e.offset !== 4096) throw new Error("offset lost");
 * ```
 */
export class HoneFormatError extends SyntaxError {
  /** Byte offset in the input where the fault was found. */
  readonly offset: number;

  /**
   * Makes the error.
   *
   * @param message What is wrong, in std's style (no final period).
   * @param offset Byte offset in the input.
   */
  constructor(message: string, offset: number) {
    super(`${message} (at byte offset ${offset})`);
    this.name = "HoneFormatError";
    this.offset = offset;
  }
}
