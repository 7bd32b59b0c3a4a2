/**
 * Sensor records: the TypeScript mirror of `ffi/hone.h` and a decoder for
 * the batches the sensor returns.
 *
 * @module
 */

export * from "./layout.ts";
export * from "./decode.ts";
