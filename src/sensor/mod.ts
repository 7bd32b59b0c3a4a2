/**
 * The eBPF sensor, reached through `libhone.so` and Deno FFI.
 *
 * @module
 */

export * from "./shim.ts";
