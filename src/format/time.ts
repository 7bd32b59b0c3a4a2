/**
 * Exact conversions between PCAP-NG 64-bit timestamps (two u32 words in
 * interface units) and hone's `(sec, nsec)` pairs, without a `bigint` per
 * packet.
 *
 * @module
 */

/** A timestamp resolution: units per second, and whether it is a power of ten. */
export interface Resolution {
  /** Units per second (10^k or 2^k). */
  unitsPerSec: number;
  /** The raw `if_tsresol` byte. */
  raw: number;
}

/** Microseconds, the PCAP-NG default when an interface has no `if_tsresol`. */
export const MICROSECONDS: Resolution = { unitsPerSec: 1e6, raw: 6 };
/** Nanoseconds, what hone writes. */
export const NANOSECONDS: Resolution = { unitsPerSec: 1e9, raw: 9 };

/**
 * Decodes an `if_tsresol` byte (spec §4.2: MSB clear = 10^-n, set = 2^-n).
 *
 * @param raw The option's byte.
 * @returns The resolution, or `null` if hone cannot represent it exactly.
 *
 * @example Usage
 * ```ts
 * import { resolutionFromByte } from "./time.ts";
 * if (resolutionFromByte(9)?.unitsPerSec !== 1e9) throw new Error();
 * ```
 */
export function resolutionFromByte(raw: number): Resolution | null {
  const n = raw & 0x7f;
  if (raw & 0x80) {
    return n <= 30 ? { unitsPerSec: 2 ** n, raw } : null;
  }
  return n <= 9 ? { unitsPerSec: 10 ** n, raw } : null;
}

/**
 * Splits a 64-bit timestamp into seconds and nanoseconds, exactly.
 *
 * @param hi High 32 bits of the timestamp.
 * @param lo Low 32 bits of the timestamp.
 * @param res Units per second of the timestamp.
 * @param out Receives `[sec, nsec]`.
 *
 * @example Usage
 * ```ts
 * import { NANOSECONDS, splitTimestamp } from "./time.ts";
 * const out = new Float64Array(2);
 * splitTimestamp(0, 1_500_000_000, NANOSECONDS, out);
 * if (out[0] !== 1 || out[1] !== 500_000_000) throw new Error();
 * ```
 */
export function splitTimestamp(
  hi: number,
  lo: number,
  res: Resolution,
  out: Float64Array,
): void {
  const d = res.unitsPerSec;
  if (d === 1e9) {
    // The quotient from a double is off by at most one (the 64-bit value
    // rounds by under 2^11 ns); the remainder's low 32 bits are exact, and
    // it lies in (-1e9, 2e9), so they are all of it.
    let q = Math.floor((hi * 4294967296 + lo) / 1e9);
    let rem = (lo - Math.imul(q | 0, 1e9)) | 0;
    if (rem < 0) {
      q--;
      rem += 1e9;
    } else if (rem >= 1e9) {
      q++;
      rem -= 1e9;
    }
    out[0] = q;
    out[1] = rem;
    return;
  }
  // Long division of the 64-bit value by d (< 2^31) in 16-bit limbs: every
  // intermediate stays below 2^47, so doubles are exact.
  let rem = 0;
  let q = 0;
  let cur = rem * 65536 + (hi >>> 16);
  let t = Math.floor(cur / d);
  q = t;
  rem = cur - t * d;
  cur = rem * 65536 + (hi & 0xffff);
  t = Math.floor(cur / d);
  q = q * 65536 + t;
  rem = cur - t * d;
  cur = rem * 65536 + (lo >>> 16);
  t = Math.floor(cur / d);
  q = q * 65536 + t;
  rem = cur - t * d;
  cur = rem * 65536 + (lo & 0xffff);
  t = Math.floor(cur / d);
  q = q * 65536 + t;
  rem = cur - t * d;
  out[0] = q;
  if (d === 1e9) out[1] = rem;
  else if (d <= 1e9 && 1e9 % d === 0) out[1] = rem * (1e9 / d);
  else out[1] = Math.floor((rem * 1e9) / d);
}

/**
 * Joins seconds and nanoseconds into a 64-bit nanosecond timestamp, exactly.
 *
 * @param sec Seconds since the epoch (below 2^32).
 * @param nsec Nanoseconds within the second.
 * @param out Receives `[hi, lo]` 32-bit words.
 *
 * @example Usage
 * ```ts
 * import { joinNanoseconds } from "./time.ts";
 * const out = new Float64Array(2);
 * joinNanoseconds(1, 500_000_000, out);
 * if (out[0] !== 0 || out[1] !== 1_500_000_000) throw new Error();
 * ```
 */
export function joinNanoseconds(
  sec: number,
  nsec: number,
  out: Float64Array,
): void {
  // The low word is exact modulo 2^32; the double sec * 1e9 + nsec is off
  // by under 2^11, so rounding gives the exact high word.
  const lo = (Math.imul(sec | 0, 1e9) + nsec) >>> 0;
  out[0] = Math.round((sec * 1e9 + nsec - lo) / 4294967296);
  out[1] = lo;
}

/**
 * Joins seconds and nanoseconds into a timestamp in the given units,
 * truncating what the units cannot hold.
 *
 * @param sec Seconds since the epoch.
 * @param nsec Nanoseconds within the second.
 * @param res Units of the result.
 * @param out Receives `[hi, lo]` 32-bit words.
 *
 * @example Usage
 * ```ts
 * import { joinTimestamp, MICROSECONDS } from "./time.ts";
 * const out = new Float64Array(2);
 * joinTimestamp(2, 5_000, MICROSECONDS, out);
 * if (out[1] !== 2_000_005) throw new Error();
 * ```
 */
export function joinTimestamp(
  sec: number,
  nsec: number,
  res: Resolution,
  out: Float64Array,
): void {
  if (res.unitsPerSec === 1e9) return joinNanoseconds(sec, nsec, out);
  const frac = Math.floor((nsec * res.unitsPerSec) / 1e9);
  // sec * units + frac: units <= 2^30 and sec < 2^33 keep limbs exact.
  const u = res.unitsPerSec;
  const u1 = Math.floor(u / 65536);
  const u0 = u - u1 * 65536;
  const s1 = Math.floor(sec / 65536);
  const s0 = sec - s1 * 65536;
  const mid = s1 * u0 + s0 * u1;
  const midHi = Math.floor(mid / 65536);
  const low = s0 * u0 + frac + (mid - midHi * 65536) * 65536;
  const carry = Math.floor(low / 4294967296);
  out[0] = s1 * u1 + midHi + carry;
  out[1] = low - carry * 4294967296;
}
