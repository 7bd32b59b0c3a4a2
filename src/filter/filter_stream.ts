/**
 * The filter expression as a stage: packet events the program rejects
 * are left out; every other event passes.
 *
 * @module
 */

import {
  BatchedPacket,
  type ChunkEvent,
  expandRuns,
  type HoneEvent,
  pointsInto,
  type ReleaseOptions,
} from "../events/mod.ts";
import { type BpfInsn, runFilter } from "./cbpf.ts";

/** How many packets a {@linkcode PacketFilterStream} left out. */
export interface FilterCounts {
  /** Packets the expression rejected. */
  rejected: number;
}

/**
 * Batches of events in, the same batches without the rejected packets out;
 * packets the sensor's kernel filter already kept (`kept`) pass.
 *
 * @example Usage
 * ```ts ignore
 * import { compileFilter, PacketFilterStream } from "./mod.ts";
 * const s = new PacketFilterStream(compileFilter("tcp"));
 * ```
 */
export class PacketFilterStream
  extends TransformStream<readonly ChunkEvent[], HoneEvent[]> {
  /** What was left out so far. */
  readonly counts: FilterCounts = { rejected: 0 };

  /**
   * Makes the stage.
   *
   * @param prog A valid program (see validProgram in cbpf.ts).
   * @param options `releaseBatch`: called with the buffer of a sensor batch
   * whose every packet still in it was left out (nothing downstream will
   * give it back).
   */
  constructor(
    prog: readonly BpfInsn[],
    options: ReleaseOptions = {},
  ) {
    const { releaseBatch } = options;
    const counts: FilterCounts = { rejected: 0 };
    // The program's scratch memory, one for every packet.
    const mem = new Uint32Array(16);
    super({
      transform(batch, controller) {
        // The batches of the packets left out.
        const left = new Set<ArrayBufferLike>();
        // Runs of packets are taken apart: each packet is run.
        const out = expandRuns(batch).filter((e) => {
          if (e.type !== "packet" || e.kept) return true;
          if (runFilter(prog, e.data, e.len, mem) !== 0) return true;
          counts.rejected++;
          if (releaseBatch && e instanceof BatchedPacket && e.batchWords) {
            left.add(e.batchWords.buffer);
          }
          return false;
        });
        for (const b of left) if (!pointsInto(out, b)) releaseBatch!(b);
        if (out.length) controller.enqueue(out);
      },
    });
    this.counts = counts;
  }
}
