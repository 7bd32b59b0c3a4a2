/**
 * hone events as the original Hone's text lines (/dev/honet).
 *
 * @module
 */

export * from "./text_writer.ts";
