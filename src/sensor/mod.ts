/**
 * The sensors, reached through `libhone.so` and Deno FFI: eBPF, and the
 * kernel module's device.
 *
 * @module
 */

export * from "./names.ts";
export * from "./proc_snapshot.ts";
export * from "./kmod.ts";
export * from "./shim.ts";
export * from "./sensor_source.ts";
export * from "./batch_pool.ts";
export * from "./process_filter.ts";
