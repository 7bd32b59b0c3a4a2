/**
 * User and group names from /etc/passwd and /etc/group, read once.
 *
 * @module
 */

/** Looks up names by id. */
export interface NameLookup {
  /** User name of a uid, or null. */
  user(uid: number): string | null;
  /** Group name of a gid, or null. */
  group(gid: number): string | null;
}

function readIds(path: string): Map<number, string> {
  const m = new Map<number, string>();
  try {
    for (const line of Deno.readTextFileSync(path).split("\n")) {
      const f = line.split(":");
      if (f.length >= 3 && f[0] && /^\d+$/.test(f[2]!)) {
        if (!m.has(Number(f[2]))) m.set(Number(f[2]), f[0]);
      }
    }
  } catch { /* no such file: names stay unknown */ }
  return m;
}

/**
 * Loads the local user and group databases.
 *
 * @param etc Directory holding passwd and group.
 * @returns A lookup.
 */
export function loadNames(etc = "/etc"): NameLookup {
  const users = readIds(`${etc}/passwd`);
  const groups = readIds(`${etc}/group`);
  return {
    user: (uid) => users.get(uid) ?? null,
    group: (gid) => groups.get(gid) ?? null,
  };
}
