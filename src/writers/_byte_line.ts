/**
 * A growable byte buffer that the JSON-lines and text writers print their
 * lines into, so that a batch is one `Uint8Array` with no string built per
 * field and no UTF-8 pass over the whole batch.
 *
 * @module
 */

import { SpareBuffers } from "./_spare_buffers.ts";

const utf8 = new TextEncoder();

/** "00" to "99" as ASCII, two bytes each. */
const DIGIT_PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  DIGIT_PAIRS[2 * i] = 48 + ((i / 10) | 0);
  DIGIT_PAIRS[2 * i + 1] = 48 + (i % 10);
}

/** The two lower-case hex digits of each byte, as character codes. */
const HEX_CODES = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  const h = i.toString(16).padStart(2, "0");
  HEX_CODES[2 * i] = h.charCodeAt(0);
  HEX_CODES[2 * i + 1] = h.charCodeAt(1);
}

/** Bytes printed into a buffer that grows by doubling. */
export class ByteLine {
  /** The bytes; valid up to {@linkcode ByteLine.pos}. */
  buf: Uint8Array = new Uint8Array(1 << 16);
  /** Bytes printed so far. */
  pos = 0;
  /** The seconds {@linkcode ByteLine.ts} printed last, and their digits. */
  #sec = -1;
  #secDigits = new Uint8Array(16);
  #secLen = 0;
  /** Buffers given back with recycle(), for the next detach(). */
  #spares = new SpareBuffers();

  /**
   * Makes room for `n` more bytes. Every writer method but
   * {@linkcode ByteLine.text} needs the room made first.
   *
   * @param n Bytes about to be printed.
   */
  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
  }

  /**
   * Prints a string known to be ASCII (one byte per character).
   *
   * @param s The string.
   */
  ascii(s: string): void {
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /**
   * Prints any string as UTF-8 (making room itself).
   *
   * @param s The string.
   */
  text(s: string): void {
    this.room(s.length * 3);
    this.pos += utf8.encodeInto(s, this.buf.subarray(this.pos)).written;
  }

  /**
   * Prints bytes.
   *
   * @param a The bytes.
   */
  bytes(a: Uint8Array): void {
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < a.length; i++) b[p++] = a[i]!;
    this.pos = p;
  }

  /**
   * Prints a number as `String(x)` would.
   *
   * @param x The number.
   */
  num(x: number): void {
    if ((x | 0) === x && x >= 0) {
      // int32 fast path: digit count by comparison, two digits by each
      // integer division (a multiplication once optimized).
      const n = x < 10
        ? 1
        : x < 100
        ? 2
        : x < 1000
        ? 3
        : x < 10000
        ? 4
        : x < 100000
        ? 5
        : x < 1000000
        ? 6
        : x < 10000000
        ? 7
        : x < 100000000
        ? 8
        : x < 1000000000
        ? 9
        : 10;
      const b = this.buf;
      let p = this.pos + n;
      this.pos = p;
      for (; x >= 100;) {
        const q = (x / 100) | 0;
        const r = (x - q * 100) << 1;
        b[--p] = DIGIT_PAIRS[r + 1]!;
        b[--p] = DIGIT_PAIRS[r]!;
        x = q;
      }
      if (x >= 10) {
        b[--p] = DIGIT_PAIRS[(x << 1) + 1]!;
        b[--p] = DIGIT_PAIRS[x << 1]!;
      } else {
        b[--p] = 48 + x;
      }
      return;
    }
    if (!(x >= 0 && x <= 0x1fffffffffffff && Math.floor(x) === x)) {
      this.ascii(String(x));
      return;
    }
    let n = 1;
    for (let t = x; t >= 10; t = Math.floor(t / 10)) n++;
    const b = this.buf;
    let p = this.pos + n;
    this.pos = p;
    do {
      const q = Math.floor(x / 10);
      b[--p] = 48 + (x - q * 10);
      x = q;
    } while (x > 0);
  }

  /**
   * Prints a number below 10^`width` with leading zeros to `width` digits.
   *
   * @param x A non-negative integer below 10^width and 2^31.
   * @param width Digits to print.
   */
  padded(x: number, width: number): void {
    const b = this.buf;
    let p = this.pos + width;
    this.pos = p;
    let w = width;
    // Two digits a division (a line's nanoseconds: 5, not 9).
    for (; w >= 2; w -= 2) {
      const q = (x / 100) | 0;
      const r = (x - q * 100) << 1;
      b[--p] = DIGIT_PAIRS[r + 1]!;
      b[--p] = DIGIT_PAIRS[r]!;
      x = q;
    }
    if (w) b[--p] = 48 + x;
  }

  /**
   * Prints bytes as lower-case hex, two digits each.
   *
   * @param d The bytes.
   */
  hex(d: Uint8Array): void {
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < d.length; i++) {
      const x = d[i]! * 2;
      b[p++] = HEX_CODES[x]!;
      b[p++] = HEX_CODES[x + 1]!;
    }
    this.pos = p;
  }

  /**
   * Prints 8 lower-case hex digits of a 32-bit unsigned integer.
   *
   * @param x An integer from 0 to 2^32 - 1.
   */
  hex8(x: number): void {
    const b = this.buf;
    const p = this.pos;
    for (let i = 0; i < 4; i++) {
      const y = ((x >>> (24 - 8 * i)) & 0xff) * 2;
      b[p + 2 * i] = HEX_CODES[y]!;
      b[p + 2 * i + 1] = HEX_CODES[y + 1]!;
    }
    this.pos = p + 8;
  }

  /**
   * Prints an IPv4 address in dotted decimal.
   *
   * @param d Bytes holding the address.
   * @param off Offset of its first byte.
   */
  ipv4(d: Uint8Array, off: number): void {
    for (let i = 0; i < 4; i++) {
      if (i) this.buf[this.pos++] = 46;
      this.num(d[off + i]!);
    }
  }

  /**
   * Prints a time as seconds with nine decimals, as `formatTs` in
   * jsonl_writer.ts does (any numbers, the same text).
   *
   * @param sec Seconds since the epoch.
   * @param nsec Nanoseconds.
   */
  ts(sec: number, nsec: number): void {
    if (
      (nsec | 0) === nsec && nsec >= 0 && nsec < 1e9 && sec >= 0 &&
      Number.isSafeInteger(sec)
    ) {
      // Lines come in time order: the seconds are mostly the last ones.
      const b = this.buf;
      if (sec === this.#sec) {
        const d = this.#secDigits;
        let p = this.pos;
        for (let i = 0; i < this.#secLen; i++) b[p++] = d[i]!;
        this.pos = p;
      } else {
        const p = this.pos;
        this.num(sec);
        this.#secLen = this.pos - p;
        for (let i = 0; i < this.#secLen; i++) this.#secDigits[i] = b[p + i]!;
        this.#sec = sec;
      }
      b[this.pos++] = 46;
      this.padded(nsec, 9);
      return;
    }
    const n = String(nsec);
    this.ascii(`${sec}.${"000000000".slice(n.length)}${n}`);
  }

  /**
   * Hands the bytes printed so far over and starts again.
   *
   * @returns A copy of the bytes, the caller's own.
   */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.pos);
    this.pos = 0;
    return out;
  }

  /**
   * Hands over what was printed, without a copy, and starts over.
   *
   * @returns A view of the buffer: valid until the next print, unless
   * {@linkcode ByteLine.detach} is called first.
   */
  view(): Uint8Array {
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    return out;
  }

  /** Prints from now on into another buffer (a spare one, or a new one). */
  detach(): void {
    this.buf = this.#spares.take(this.buf.length);
    this.pos = 0;
  }

  /**
   * Gives back a buffer that {@linkcode ByteLine.view} returned before a
   * {@linkcode ByteLine.detach}, once its bytes are written. Anything
   * else, or a second time, is ignored.
   *
   * @param bytes What `view` returned.
   */
  recycle(bytes: Uint8Array): void {
    this.#spares.give(bytes, this.buf.buffer);
  }
}
