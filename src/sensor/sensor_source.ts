/**
 * The eBPF sensor as the first stage of `hone record`: a stream of record
 * batches read from the shim's ring buffer.
 *
 * @module
 */

import type { Sensor, SensorStats } from "./shim.ts";
import type { BatchPool } from "./batch_pool.ts";

/** How long one poll waits for records, in milliseconds. */
export const SENSOR_POLL_MS = 100;
/** Below this many bytes a batch counts as small. */
export const SMALL_BATCH_BYTES = 256 * 1024;
/** How long records gather after a small batch, in milliseconds. */
export const GATHER_MS = 5;

/** Options for {@linkcode sensorSource}. */
export interface SensorSourceOptions {
  /** When aborted, the source stops: see {@linkcode sensorSource}. */
  stop: AbortSignal;
  /** Receives the counters read when the sensor stopped. */
  onFinalStats?: (stats: SensorStats) => void;
  /**
   * Buffers to poll into: each batch is then a view of one, no copy, and
   * must be given back (`pool.give(batch.buffer)`) once nothing reads it;
   * when all are out, batches are copied as without a pool.
   */
  pool?: BatchPool;
}

/**
 * A running sensor as a stream of batches of records (bytes, each batch
 * its own copy or pool buffer, so later stages may lag behind the next
 * poll). A poll that
 * times out yields an empty batch: a tick that lets the correlator release
 * what it holds.
 *
 * When `stop` is aborted the sensor detaches its programs, the counters are
 * read once (they are final: nothing is counted after the detach), every
 * record still in the ring is passed on, and the stream closes. Cancelling
 * the stream detaches the sensor too.
 *
 * @param sensor A started sensor.
 * @param options The stop signal.
 * @returns The batches.
 *
 * @example Usage
 * ```ts ignore
 * import { openSensor, sensorSource } from "./mod.ts";
 * const stop = new AbortController();
 * const batches = sensorSource(openSensor(), { stop: stop.signal });
 * ```
 */
export function sensorSource(
  sensor: Sensor,
  options: SensorSourceOptions,
): ReadableStream<Uint8Array> {
  const { stop, pool } = options;
  let draining = false;
  let gather = false;
  // Into a pool buffer when one is free, else the sensor's own and a copy.
  const next = async (
    timeoutMs: number,
    afterMs = 0,
  ): Promise<Uint8Array> => {
    const into = pool?.take() ?? null;
    if (into === null) {
      return (await sensor.poll(timeoutMs, undefined, afterMs)).slice();
    }
    let batch;
    try {
      batch = await sensor.poll(timeoutMs, into, afterMs);
    } catch (e) {
      pool!.give(into.buffer);
      throw e;
    }
    if (batch.length === 0) pool!.give(into.buffer);
    return batch;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!draining && !stop.aborted) {
        // A small batch under load: let records gather for a moment, so
        // each round trip (poll, decode, write) carries many of them.
        const batch = await next(SENSOR_POLL_MS, gather ? GATHER_MS : 0);
        gather = batch.length > 0 && batch.length < SMALL_BATCH_BYTES;
        controller.enqueue(batch);
        return;
      }
      if (!draining) {
        draining = true;
        sensor.detach();
        options.onFinalStats?.(sensor.stats());
      }
      const batch = await next(0);
      if (batch.length) controller.enqueue(batch);
      else controller.close();
    },
    cancel() {
      sensor.detach();
    },
  }, { highWaterMark: 0 });
}
