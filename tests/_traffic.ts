/**
 * Tagged traffic for end-to-end tests: real datagrams between real sockets
 * over loopback, each read before the next is sent (so none is lost).
 *
 * @module
 */

import assert from "node:assert/strict";
import { run } from "./_helpers.ts";

/**
 * Sends `n` UDP datagrams of `size` bytes (at least the tag and a number:
 * `TAG000123;`) from one process to itself over 127.0.0.1.
 *
 * @param n Datagrams.
 * @param size Bytes each, padded with "x".
 * @param tag What each starts with.
 * @returns The sending (and reading) process's pid, once all arrived.
 */
export async function udpBurst(
  n: number,
  size: number,
  tag: string,
): Promise<number> {
  const script = `
import os, socket, sys
n, size, tag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 0))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n):
    m = tag + b"%06d;" % i
    s.sendto(m + b"x" * (size - len(m)), r.getsockname())
    r.recv(65536)
print(os.getpid())
`;
  // Debian's python3: any user may run it.
  const r = await run("/usr/bin/python3", [
    "-c",
    script,
    String(n),
    String(size),
    tag,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return Number(r.stdout.trim());
}
