/**
 * Builds PCAP-NG bytes by hand, field by field from the specification, in
 * either byte order. Tests use it to make inputs independently of hone's
 * writer.
 *
 * @module
 */

/** Little helper to assemble bytes in a chosen byte order. */
export class Bytes {
  #parts: number[] = [];
  /** Little-endian when true. */
  readonly le: boolean;

  /**
   * Makes an empty byte list.
   *
   * @param le Little-endian when true.
   */
  constructor(le: boolean) {
    this.le = le;
  }

  /** Appends a u8. */
  u8(x: number): this {
    this.#parts.push(x & 0xff);
    return this;
  }

  /** Appends a u16. */
  u16(x: number): this {
    const b = [x & 0xff, (x >>> 8) & 0xff];
    this.#parts.push(...(this.le ? b : b.reverse()));
    return this;
  }

  /** Appends a u32. */
  u32(x: number): this {
    const b = [
      x & 0xff,
      (x >>> 8) & 0xff,
      (x >>> 16) & 0xff,
      (x >>> 24) & 0xff,
    ];
    this.#parts.push(...(this.le ? b : b.reverse()));
    return this;
  }

  /** Appends a u64. */
  u64(x: bigint): this {
    const lo = Number(x & 0xffffffffn), hi = Number(x >> 32n);
    return this.le ? this.u32(lo).u32(hi) : this.u32(hi).u32(lo);
  }

  /** Appends raw bytes, then zero padding to 4. */
  padded(b: Uint8Array | number[]): this {
    this.#parts.push(...b);
    while (this.#parts.length % 4) this.#parts.push(0);
    return this;
  }

  /** Appends an option (code, length, value, padding). */
  opt(code: number, value: Uint8Array | number[] | string): this {
    const v = typeof value === "string"
      ? new TextEncoder().encode(value)
      : value;
    return this.u16(code).u16(v.length).padded(v);
  }

  /** Appends a u32 option. */
  optU32(code: number, x: number): this {
    return this.opt(code, new Bytes(this.le).u32(x).bytes());
  }

  /** Appends opt_endofopt. */
  end(): this {
    return this.u16(0).u16(0);
  }

  /** The bytes so far. */
  bytes(): Uint8Array {
    return new Uint8Array(this.#parts);
  }
}

/**
 * Wraps a block body with its type and both length fields.
 *
 * @param le Byte order.
 * @param type Block type.
 * @param body The body (a multiple of 4 bytes).
 * @returns The block.
 */
export function block(le: boolean, type: number, body: Uint8Array): Uint8Array {
  const len = body.length + 12;
  return new Bytes(le).u32(type).u32(len).padded(body).u32(len).bytes();
}

/**
 * Concatenates byte arrays.
 *
 * @param parts The arrays.
 * @returns One array.
 */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.length;
  return out;
}

/**
 * A section header block.
 *
 * @param le Byte order.
 * @param opts Options body (already encoded, with end), or nothing.
 * @returns The block.
 */
export function shb(le: boolean, opts?: Bytes): Uint8Array {
  const b = new Bytes(le).u32(0x1a2b3c4d).u16(1).u16(0).u64(
    0xffffffffffffffffn,
  );
  return block(
    le,
    0x0a0d0d0a,
    concat(b.bytes(), opts?.bytes() ?? new Uint8Array(0)),
  );
}

/**
 * An interface description block.
 *
 * @param le Byte order.
 * @param linktype Link type.
 * @param snaplen Snapshot length.
 * @param tsresol `if_tsresol` byte, or undefined for the default (µs).
 * @returns The block.
 */
export function idb(
  le: boolean,
  linktype: number,
  snaplen: number,
  tsresol?: number,
): Uint8Array {
  const b = new Bytes(le).u16(linktype).u16(0).u32(snaplen);
  if (tsresol !== undefined) b.opt(9, [tsresol]).end();
  return block(le, 1, b.bytes());
}

/**
 * An enhanced packet block.
 *
 * @param le Byte order.
 * @param tsUnits Timestamp in the interface's units.
 * @param data Captured bytes.
 * @param origLen Original length.
 * @param opts Options (with end), or nothing.
 * @returns The block.
 */
export function epb(
  le: boolean,
  tsUnits: bigint,
  data: Uint8Array,
  origLen: number,
  opts?: Bytes,
): Uint8Array {
  const b = new Bytes(le).u32(0).u32(Number(tsUnits >> 32n)).u32(
    Number(tsUnits & 0xffffffffn),
  )
    .u32(data.length).u32(origLen).padded(data);
  return block(le, 6, concat(b.bytes(), opts?.bytes() ?? new Uint8Array(0)));
}

/**
 * A minimal IPv4 UDP packet 127.0.0.1:sport -> 127.0.0.1:dport.
 *
 * @param sport Source port.
 * @param dport Destination port.
 * @param payload Payload length.
 * @returns The packet bytes.
 */
export function udp4(sport: number, dport: number, payload = 4): Uint8Array {
  const len = 28 + payload;
  const p = new Uint8Array(len);
  p.set([
    0x45,
    0,
    len >> 8,
    len & 0xff,
    0,
    0,
    0x40,
    0,
    64,
    17,
    0,
    0,
    127,
    0,
    0,
    1,
    127,
    0,
    0,
    1,
  ]);
  p.set([
    sport >> 8,
    sport & 0xff,
    dport >> 8,
    dport & 0xff,
    0,
    8 + payload,
    0,
    0,
  ], 20);
  return p;
}
