/**
 * Codecs shared by readers and writers: pcapng codes, exact timestamps, IP
 * summaries, GUIDs, escaping, the format error.
 *
 * @module
 */

export * from "./errors.ts";
export * from "./escape.ts";
export * from "./guid.ts";
export * from "./ip.ts";
export * from "./pcapng_codes.ts";
export * from "./time.ts";
export * from "./strftime.ts";
