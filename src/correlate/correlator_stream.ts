/**
 * {@linkcode SensorCorrelator} as a stage of `hone record`.
 *
 * @module
 */

import {
  type ChunkEvent,
  pointsInto,
  type ReleaseOptions,
} from "../events/mod.ts";
import type { SensorCorrelator } from "./sensor_correlator.ts";

/**
 * Batches of sensor records in, batches of events out, each packet with
 * its process (runs of packets, when the correlator makes them). An empty
 * batch is a tick: the correlator releases what has waited long enough.
 * At the end everything held is released.
 *
 * @example Usage
 * ```ts ignore
 * import { CorrelatorStream, SensorCorrelator } from "./mod.ts";
 * const events = records.pipeThrough(new CorrelatorStream(new SensorCorrelator()));
 * ```
 */
export class CorrelatorStream
  extends TransformStream<Uint8Array, ChunkEvent[]> {
  /**
   * Makes the stage.
   *
   * @param corr The correlator (its counts stay readable by the caller).
   * @param options `releaseBatch`: called with a batch's buffer when none
   * of the events that come out points into it (no packets, or all held:
   * held packets have their own copy), so that it can be polled into
   * again at once; else the stage that encodes them gives it back.
   */
  constructor(
    corr: SensorCorrelator,
    options: ReleaseOptions = {},
  ) {
    const { releaseBatch } = options;
    super({
      start(controller) {
        // What the correlator knew before the first record: the snapshot.
        const first = corr.drainChunk(performance.now());
        if (first.length) controller.enqueue(first);
      },
      transform(batch, controller) {
        const now = performance.now();
        if (batch.length) corr.pushBatch(batch, now);
        const out = corr.drainChunk(now);
        if (
          releaseBatch && batch.length && !pointsInto(out, batch.buffer)
        ) releaseBatch(batch.buffer);
        if (out.length) controller.enqueue(out);
      },
      flush(controller) {
        const out = corr.drainChunk(performance.now(), true);
        if (out.length) controller.enqueue(out);
      },
    });
  }
}
