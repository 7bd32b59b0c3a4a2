/**
 * Correlation: which process each packet belongs to.
 *
 * @module
 */

export * from "./conn_pids.ts";
export * from "./sensor_correlator.ts";
export * from "./conn_pids_stream.ts";
export * from "./correlator_stream.ts";
