/**
 * Writers: hone's events as JSON lines, the original's text lines, or
 * pcapng, one encoder interface over the three, and the encoder as a stream
 * stage.
 *
 * @module
 */

export * from "./encoder.ts";
export * from "./jsonl/mod.ts";
export * from "./pcapng/mod.ts";
export * from "./text/mod.ts";
