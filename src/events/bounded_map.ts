/**
 * A size bound for the per-process and per-socket tables that correlators
 * and writers keep, so a long capture cannot grow them without end.
 *
 * @module
 */

/** The share of a full table forgotten at once: an eighth. */
const EVICT_SHIFT = 3;

/**
 * Sets `key` to `value` as the newest entry of `map`; when the map holds
 * `max` entries, it first forgets the oldest eighth of them (Maps iterate in
 * insertion order). Forgetting in batches keeps this O(1) amortized: V8
 * leaves deleted entries as holes that every new iterator walks from the
 * start, so forgetting one entry per insert would cost O(holes) each time.
 *
 * @param map The table.
 * @param key The key.
 * @param value The value.
 * @param max Most entries kept.
 *
 * @example Usage
 * ```ts
 * import { setBounded } from "./bounded_map.ts";
 * const m = new Map([[1, "a"], [2, "b"]]);
 * setBounded(m, 3, "c", 2);
 * if (m.has(1) || !m.has(3)) throw new Error();
 * ```
 */
export function setBounded<K, V>(
  map: Map<K, V>,
  key: K,
  value: V,
  max: number,
): void {
  map.delete(key);
  if (map.size >= max) {
    let n = Math.max(1, max >> EVICT_SHIFT);
    for (const k of map.keys()) {
      map.delete(k);
      if (--n === 0) break;
    }
  }
  map.set(key, value);
}
