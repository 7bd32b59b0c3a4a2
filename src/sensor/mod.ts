/**
 * The eBPF sensor, reached through `libhone.so` and Deno FFI.
 *
 * @module
 */

export * from "./names.ts";
export * from "./proc_snapshot.ts";
export * from "./shim.ts";
export * from "./sensor_source.ts";
