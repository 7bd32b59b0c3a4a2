/**
 * A size bound for the per-process and per-socket tables that correlators
 * and writers keep, so a long capture cannot grow them without end.
 *
 * @module
 */

/**
 * Sets `key` to `value` as the newest entry of `map`, first forgetting the
 * oldest entry when the map holds `max` entries (Maps iterate in insertion
 * order).
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
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}
