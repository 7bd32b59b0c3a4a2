/**
 * hone events as JSON lines.
 *
 * @module
 */

export * from "./jsonl_writer.ts";
