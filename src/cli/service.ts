/**
 * What `hone record` does for a service manager: `-Z USER`'s privilege
 * drop once the sensor is attached, and systemd's readiness notification
 * (sd_notify READY=1 on `$NOTIFY_SOCKET`), both through libc (Deno FFI).
 * Nothing here listens: the notification is one datagram sent.
 *
 * @module
 */

import { type Libc, openLibc } from "./_libc.ts";

function lib(): Libc {
  const c = openLibc();
  if (c === null) throw new Error("cannot open the C library (libc.so.6)");
  return c;
}

const cstr = (s: string) => new TextEncoder().encode(s + "\0");

/** A user's ids, from the passwd database. */
export interface UserIds {
  /** The user's name. */
  name: string;
  /** Its uid. */
  uid: number;
  /** Its primary gid. */
  gid: number;
}

/**
 * Looks a user up by name (getpwnam(3)).
 *
 * @param name The user name.
 * @returns Its ids, or null if there is no such user.
 */
export function lookupUser(name: string): UserIds | null {
  const p = lib().getpwnam(cstr(name));
  if (p === null) return null;
  const v = new Deno.UnsafePointerView(p);
  // struct passwd on 64-bit glibc: two pointers, then pw_uid, pw_gid.
  return { name, uid: v.getUint32(16), gid: v.getUint32(20) };
}

/**
 * Becomes `user` for good, as tcpdump's -Z: its supplementary groups, its
 * group, its uid (every thread: glibc sets the ids process-wide).
 *
 * @param user The user.
 * @throws {Error} If a step fails, or the ids did not change.
 */
export function dropPrivileges(user: UserIds): void {
  const c = lib();
  if (c.initgroups(cstr(user.name), user.gid) !== 0) {
    throw new Error(`initgroups for ${user.name} failed`);
  }
  if (c.setgid(user.gid) !== 0) throw new Error(`setgid ${user.gid} failed`);
  if (c.setuid(user.uid) !== 0) throw new Error(`setuid ${user.uid} failed`);
  if (
    c.getuid() !== user.uid || c.geteuid() !== user.uid ||
    c.getegid() !== user.gid
  ) {
    throw new Error(`still uid ${c.geteuid()} after setuid ${user.uid}`);
  }
}

/**
 * Tells systemd the service is ready (sd_notify(3) READY=1), when it runs
 * hone with `Type=notify`; does nothing without `$NOTIFY_SOCKET`.
 *
 * @param status A STATUS= line for `systemctl status`.
 * @returns Whether a notification was sent.
 */
export function notifyReady(status: string): boolean {
  const path = Deno.env.get("NOTIFY_SOCKET");
  if (!path || (path[0] !== "/" && path[0] !== "@")) return false;
  const name = new TextEncoder().encode(path);
  if (name.length > 107) return false;
  // struct sockaddr_un: sun_family (AF_UNIX), then the path; an abstract
  // name starts with a NUL instead of '@'.
  const addr = new Uint8Array(2 + 108);
  addr[0] = 1;
  addr.set(name, 2);
  if (path[0] === "@") addr[2] = 0;
  const len = 2 + name.length + (path[0] === "@" ? 0 : 1);
  const c = lib();
  const SOCK_DGRAM = 2, SOCK_CLOEXEC = 0o2000000, MSG_NOSIGNAL = 0x4000;
  const fd = c.socket(1, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const msg = new TextEncoder().encode(
    `READY=1\nSTATUS=${status.replace(/\n/g, " ")}\nMAINPID=${Deno.pid}\n`,
  );
  const n = c.sendto(fd, msg, BigInt(msg.length), MSG_NOSIGNAL, addr, len);
  c.close(fd);
  return Number(n) === msg.length;
}
