/**
 * Packets of one sensor batch as columns: `hone record`'s packets between
 * the correlator and the pcapng writer, with no object per packet.
 *
 * Under a flood nearly every packet is attributed at once (its sender's
 * syscall, its socket's owner) and nothing waits in the correlator's
 * hold queue. Those packets go on as one {@linkcode PacketRun} per batch:
 * for each packet, words of time, lengths, place in the batch, process and
 * connection. A stage that does not read runs takes them as packet
 * events with {@linkcode expandRuns}.
 *
 * @module
 */

import { BatchedPacket } from "./batched_packet.ts";
import {
  type Attribution,
  ATTRIBUTIONS,
  type HoneEvent,
  type PacketEvent,
} from "./types.ts";

/** Most packets in one run (the size of an encoded batch). */
export const MAX_RUN_PACKETS = 1024;

/** `PacketRun.flags`: direction in (the low two bits). */
export const RUN_IN = 1;
/** `PacketRun.flags`: direction out. */
export const RUN_OUT = 2;
/** `PacketRun.flags`: the sensor ran the filter expression and kept it. */
export const RUN_KEPT = 4;
/** `PacketRun.flags`: shift of the attribution's number (1 + its index). */
export const RUN_HOW_SHIFT = 3;

/**
 * Where a packet's fields are among its {@linkcode PACKET_RUN_WORDS} words
 * of `PacketRun.fields`.
 */
export const RUN_FIELD = {
  /** Seconds since the Unix epoch. */
  sec: 0,
  /** Nanoseconds within `sec`. */
  nsec: 1,
  /** Length on the wire. */
  len: 2,
  /** Byte offset of the packet in the batch (4-aligned). */
  dataAt: 3,
  /** Captured bytes. */
  caplen: 4,
  /** Connection id, low word (both words 0: unknown). */
  connLo: 5,
  /** Connection id, high word. */
  connHi: 6,
  /** Process id, {@linkcode RUN_NONE} when unknown. */
  pid: 7,
  /** Thread id, {@linkcode RUN_NONE} when unknown. */
  tid: 8,
  /** `RUN_*` direction and kept bits, and the attribution's number. */
  flags: 9,
} as const;

/** Words per packet in `PacketRun.fields`. */
export const PACKET_RUN_WORDS = 10;

/** A pid or tid field that is unknown. */
export const RUN_NONE = 0xffffffff;

/**
 * Packets of one sensor batch, in order, their bytes still in the batch:
 * {@linkcode PACKET_RUN_WORDS} words of fields per packet, in a slab that
 * runs share (a typed array of its own for each run cost more than a short
 * run's packets: V8 allocates its memory outside the heap). A slab is
 * never written again once full: the runs in it own their words.
 *
 * @example Usage
 * ```ts
 * import { HOW_FLAGS, PacketRun, RUN_OUT } from "./packet_run.ts";
 * const batch = new Uint32Array([0, 0x45, 0]);
 * const run = new PacketRun(batch, new Uint32Array(10), 0, 1);
 * run.push(1, 0, 40, 4, 1, 7, 0, RUN_OUT | HOW_FLAGS.sender, 42, 43);
 * const p = run.at(0);
 * if (p.pid !== 42 || p.how !== "sender" || p.data[0] !== 0x45) throw new Error();
 * ```
 */
export class PacketRun {
  /** Discriminant. */
  readonly type = "packets" as const;
  /** Number of packets. */
  length = 0;
  /** Of those, packets without a process. */
  noProcess = 0;
  /** The batch as 32-bit words (index 0 = the batch's first byte). */
  readonly batchWords: Uint32Array;
  /**
   * The slab the packets' fields ({@linkcode RUN_FIELD}) are in, packet
   * after packet from word {@linkcode start}.
   */
  readonly fields: Uint32Array;
  /** Index in `fields` of the first packet's first word. */
  readonly start: number;
  #end: number;
  #limit: number;

  /**
   * Makes an empty run.
   *
   * @param batchWords The batch as words; it must not change while the
   *   run lives.
   * @param fields The slab for the fields: nothing else may write its
   *   words from `start` on while the run is filled.
   * @param start Where in it the run starts.
   * @param capacity Most packets it will hold (at most
   *   {@linkcode MAX_RUN_PACKETS}, and what fits).
   */
  constructor(
    batchWords: Uint32Array,
    fields: Uint32Array,
    start: number,
    capacity: number,
  ) {
    const n = Math.max(1, Math.min(capacity, MAX_RUN_PACKETS));
    this.batchWords = batchWords;
    this.fields = fields;
    this.start = start;
    this.#end = start;
    this.#limit = Math.min(fields.length, start + n * PACKET_RUN_WORDS);
  }

  /** Whether no more packets fit. */
  get full(): boolean {
    return this.#end + PACKET_RUN_WORDS > this.#limit;
  }

  /** Index in `fields` just past the last packet's words. */
  get end(): number {
    return this.#end;
  }

  /**
   * Adds a packet (the run must not be {@linkcode full}).
   *
   * @param sec Seconds since the Unix epoch.
   * @param nsec Nanoseconds within `sec`.
   * @param len Length on the wire.
   * @param dataAt Byte offset of its bytes in the batch (4-aligned).
   * @param caplen Captured bytes.
   * @param connLo Connection id's low word (0 and 0: unknown).
   * @param connHi Its high word.
   * @param flags `RUN_*` bits and the attribution's number.
   * @param pid Process id, {@linkcode RUN_NONE} when unknown.
   * @param tid Thread id, {@linkcode RUN_NONE} when unknown.
   */
  push(
    sec: number,
    nsec: number,
    len: number,
    dataAt: number,
    caplen: number,
    connLo: number,
    connHi: number,
    flags: number,
    pid: number,
    tid: number,
  ): void {
    const f = this.fields;
    const q = this.#end;
    f[q] = sec;
    f[q + 1] = nsec;
    f[q + 2] = len;
    f[q + 3] = dataAt;
    f[q + 4] = caplen;
    f[q + 5] = connLo;
    f[q + 6] = connHi;
    f[q + 7] = pid;
    f[q + 8] = tid;
    f[q + 9] = flags;
    this.#end = q + PACKET_RUN_WORDS;
    this.length++;
    if (pid === RUN_NONE) this.noProcess++;
  }

  /**
   * The packet at `i` as an event.
   *
   * @param i Its index.
   * @returns A new event over the same bytes.
   */
  at(i: number): PacketEvent {
    const F = RUN_FIELD;
    const w = this.fields, q = this.start + i * PACKET_RUN_WORDS;
    const flags = w[q + F.flags]!;
    const conn = w[q + F.connLo]! + w[q + F.connHi]! * 4294967296;
    const p = new BatchedPacket(
      w[q + F.sec]!,
      w[q + F.nsec]!,
      (flags & 3) === RUN_OUT ? "out" : "in",
      conn === 0 ? null : conn,
      w[q + F.len]!,
      this.batchWords,
      w[q + F.dataAt]!,
      w[q + F.caplen]!,
      (flags & RUN_KEPT) !== 0,
    );
    const pid = w[q + F.pid]!, tid = w[q + F.tid]!;
    p.pid = pid === RUN_NONE ? null : pid;
    p.tid = tid === RUN_NONE ? null : tid;
    p.how = runHow(flags);
    return p;
  }

  /**
   * Keeps the first `n` packets only.
   *
   * @param n How many.
   */
  truncate(n: number): void {
    if (n >= this.length) return;
    const w = this.fields;
    const end = this.start + n * PACKET_RUN_WORDS;
    for (let q = end; q < this.#end; q += PACKET_RUN_WORDS) {
      if (w[q + RUN_FIELD.pid] === RUN_NONE) this.noProcess--;
    }
    this.length = n;
    this.#end = end;
  }
}

/** An event of a chunk between `hone record`'s stages: one, or a run. */
export type ChunkEvent = HoneEvent | PacketRun;

/** Each attribution's number in a run's flags, shifted into place. */
export const HOW_FLAGS: Readonly<Record<Attribution, number>> = Object
  .fromEntries(
    ATTRIBUTIONS.map((h, i) => [h, (i + 1) << RUN_HOW_SHIFT]),
  ) as Record<Attribution, number>;

/**
 * The attribution a run's flags name.
 *
 * @param flags A packet's flags.
 * @returns The attribution, or null.
 */
export function runHow(flags: number): Attribution | null {
  const k = flags >> RUN_HOW_SHIFT;
  return k === 0 ? null : ATTRIBUTIONS[k - 1]!;
}

/**
 * The events with every run taken apart into packet events.
 *
 * @param events A chunk.
 * @returns The same array when it holds no run, else a new one.
 *
 * @example Usage
 * ```ts
 * import { expandRuns, PacketRun, RUN_IN, RUN_NONE } from "./packet_run.ts";
 * const run = new PacketRun(new Uint32Array(2), new Uint32Array(20), 0, 2);
 * run.push(1, 0, 4, 0, 4, 0, 0, RUN_IN, RUN_NONE, RUN_NONE);
 * const out = expandRuns([run]);
 * if (out.length !== 1 || out[0]!.type !== "packet") throw new Error();
 * ```
 */
export function expandRuns(events: readonly ChunkEvent[]): HoneEvent[] {
  let k = 0;
  while (k < events.length && events[k]!.type !== "packets") k++;
  if (k === events.length) return events as HoneEvent[];
  const out: HoneEvent[] = events.slice(0, k) as HoneEvent[];
  for (; k < events.length; k++) {
    const e = events[k]!;
    if (e.type !== "packets") out.push(e);
    else for (let i = 0; i < e.length; i++) out.push(e.at(i));
  }
  return out;
}

/**
 * The number of packets among the events, a run counting its packets.
 *
 * @param events A chunk.
 * @returns How many packets.
 */
export function packetCount(events: readonly ChunkEvent[]): number {
  let n = 0;
  for (const e of events) {
    if (e.type === "packet") n++;
    else if (e.type === "packets") n += e.length;
  }
  return n;
}

/**
 * Cuts a chunk into parts of at most `max` events, a run weighing its
 * packets (a run is never cut: it holds at most
 * {@linkcode MAX_RUN_PACKETS}).
 *
 * @param events A chunk.
 * @param max Most events per part.
 * @returns The parts, in order (the chunk itself when it fits).
 */
export function partsOf(
  events: readonly ChunkEvent[],
  max: number,
): (readonly ChunkEvent[])[] {
  let weight = 0;
  for (const e of events) weight += e.type === "packets" ? e.length : 1;
  if (weight <= max) return [events];
  const parts: ChunkEvent[][] = [];
  let part: ChunkEvent[] = [];
  weight = 0;
  for (const e of events) {
    const w = e.type === "packets" ? e.length : 1;
    if (weight + w > max && part.length) {
      parts.push(part);
      part = [];
      weight = 0;
    }
    part.push(e);
    weight += w;
  }
  if (part.length) parts.push(part);
  return parts;
}
