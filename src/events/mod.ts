/**
 * hone's event model: process, connection, packet, stats and section events.
 *
 * @module
 */

export * from "./types.ts";
export * from "./batched_packet.ts";
export * from "./packet_run.ts";
export * from "./packet_limit.ts";
export * from "./bounded_map.ts";
export * from "./proc_table.ts";
