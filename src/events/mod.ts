/**
 * hone's event model: process, connection, packet, stats and section events.
 *
 * @module
 */

export * from "./types.ts";
