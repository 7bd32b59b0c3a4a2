/**
 * `-c COUNT` and the packet counts a capture reports, in one place for
 * `read` and `record`.
 *
 * @module
 */

import type { ChunkEvent } from "./packet_run.ts";

/** Packets passed so far, and where to stop. */
export class PacketLimit {
  /** Packets let through. */
  packets = 0;
  /** Of those, packets without a process. */
  noProcess = 0;
  #limit: number;

  /**
   * Makes a counter.
   *
   * @param limit Stop after this many packets (0 = never).
   */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Whether the limit has been reached. */
  get done(): boolean {
    return this.#limit > 0 && this.packets >= this.#limit;
  }

  /**
   * Counts a batch's packets and cuts it after the one that reaches the
   * limit (within a run of packets, if one reaches it).
   *
   * @param events A batch, in order.
   * @returns The events to write.
   *
   * @example Usage
   * ```ts
   * import { PacketLimit } from "./packet_limit.ts";
   * const p = { type: "packet" as const, sec: 0, nsec: 0, dir: null, pid: null,
   *   tid: null, conn: null, len: 0, data: new Uint8Array(0) };
   * const limit = new PacketLimit(1);
   * if (limit.take([p, p]).length !== 1 || !limit.done) throw new Error();
   * ```
   */
  take<E extends ChunkEvent>(events: E[]): E[] {
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.type === "packets") {
        if (this.#limit > 0 && this.packets + e.length >= this.#limit) {
          e.truncate(this.#limit - this.packets);
        }
        this.packets += e.length;
        this.noProcess += e.noProcess;
        if (this.done) return events.slice(0, i + 1);
        continue;
      }
      if (e.type !== "packet") continue;
      this.packets++;
      if (e.pid === null) this.noProcess++;
      if (this.done) return events.slice(0, i + 1);
    }
    return events;
  }
}

/** Options for {@linkcode PacketLimitStream}. */
export interface PacketLimitStreamOptions {
  /**
   * Called once, when the limit is reached: time to stop the source.
   *
   * @default {undefined}
   */
  onDone?: () => void;
  /**
   * End the stream when the limit is reached (`hone read`). Otherwise
   * later batches go on, without their packets (`hone record`, whose
   * source drains its ring first).
   *
   * @default {true}
   */
  end?: boolean;
}

/**
 * `-c COUNT` as a stage: passes batches of events through, cut after the
 * packet that reaches the limit; {@linkcode PacketLimit} keeps the counts.
 *
 * @example Usage
 * ```ts
 * import { PacketLimit, PacketLimitStream } from "./packet_limit.ts";
 * const p = { type: "packet" as const, sec: 0, nsec: 0, dir: null, pid: null,
 *   tid: null, conn: null, len: 0, data: new Uint8Array(0) };
 * const limit = new PacketLimit(1);
 * const out = await Array.fromAsync(
 *   ReadableStream.from([[p, p], [p]]).pipeThrough(new PacketLimitStream(limit)),
 * );
 * if (out.length !== 1 || out[0]!.length !== 1) throw new Error();
 * ```
 */
export class PacketLimitStream<E extends ChunkEvent = ChunkEvent>
  extends TransformStream<E[], E[]> {
  /**
   * Makes the stage.
   *
   * @param limit The counter, shared with whoever reports the counts.
   * @param options What to do at the limit.
   */
  constructor(limit: PacketLimit, options: PacketLimitStreamOptions = {}) {
    const end = options.end ?? true;
    let told = false;
    super({
      transform(batch, controller) {
        const out = limit.done
          ? batch.filter((e) => e.type !== "packet" && e.type !== "packets")
          : limit.take(batch);
        if (out.length) controller.enqueue(out);
        if (limit.done && !told) {
          told = true;
          options.onDone?.();
          if (end) controller.terminate();
        }
      },
    });
  }
}
