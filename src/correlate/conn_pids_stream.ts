/**
 * {@linkcode ConnPids} as a stage of `hone read`.
 *
 * @module
 */

import type { HoneEvent } from "../events/mod.ts";
import { ConnPids } from "./conn_pids.ts";

/**
 * Gives packets that carry a connection id but no pid the pid of that
 * connection's open event, as the original's documentation told its users
 * to do; batches pass through in order.
 *
 * @example Usage
 * ```ts
 * import { ConnPidsStream } from "./conn_pids_stream.ts";
 * const open = { type: "connection" as const, sec: 1, nsec: 0,
 *   event: "open" as const, conn: 5, pid: 42 };
 * const p = { type: "packet" as const, sec: 1, nsec: 1, dir: null, pid: null,
 *   tid: null, conn: 5, len: 0, data: new Uint8Array(0) };
 * const [batch] = await Array.fromAsync(
 *   ReadableStream.from([[open, p]]).pipeThrough(new ConnPidsStream()),
 * );
 * if (batch![1]!.type !== "packet" || batch![1]!.pid !== 42) throw new Error();
 * ```
 */
export class ConnPidsStream extends TransformStream<HoneEvent[], HoneEvent[]> {
  /** Makes the stage. */
  constructor() {
    const conns = new ConnPids();
    super({
      transform(batch, controller) {
        controller.enqueue(conns.apply(batch));
      },
    });
  }
}
