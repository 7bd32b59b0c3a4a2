/**
 * The original Hone's pcapng blocks: the process event block (0x101) and
 * the connection event block (0x102), in the HoneProject layout and the
 * Google fork's (64-bit connection ids, u32 user and group ids).
 *
 * @module
 */

import type {
  ConnectionEvent,
  HoneEvent,
  ProcessEventKind,
} from "../events/mod.ts";
import { processEvent } from "../events/mod.ts";
import { HoneFormatError } from "../format/mod.ts";
import * as C from "../format/mod.ts";
import {
  type DecoderState,
  decodeText,
  decodeUtf8,
  forEachOption,
  looksLikeText,
  pad4,
  stamp,
  wideId,
} from "./_decoder_state.ts";

/** Decodes a Hone process event block into a process event. */
export function decodeProcessBlock(
  s: DecoderState,
  buf: Uint8Array,
  v: DataView,
  start: number,
  end: number,
  out: HoneEvent[],
): void {
  const le = s.le;
  stamp(s, s.ifaces[0], v.getUint32(start + 4, le), v.getUint32(start + 8, le));
  const e = processEvent({
    sec: s.ts[0]!,
    nsec: s.ts[1]!,
    event: "exec",
    pid: v.getUint32(start, le),
  });
  let googleIds = false;
  let euid8: number | null = null;
  forEachOption(s, v, start + 12, end, (code, o, n) => {
    const val = buf.subarray(o, o + n);
    switch (code) {
      case C.PEB_EVENT:
        if (n >= 4) e.event = pebEvent(v.getUint32(o, le));
        break;
      case C.PEB_PATH:
        e.exe = decodeText(val);
        break;
      case C.PEB_ARGV: {
        const parts = decodeUtf8(val).split("\0");
        if (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
        e.argv = parts;
        break;
      }
      case C.PEB_PPID:
        if (n >= 4) e.ppid = v.getUint32(o, le);
        break;
      case C.PEB_EUID:
        if (n >= 4) e.uid = v.getUint32(o, le);
        break;
      case C.PEB_EGID:
        if (n >= 4) e.gid = v.getUint32(o, le);
        break;
      case C.PEB_USER:
        // A string user name (the original document), or the Google
        // fork's u32 euid; a 4-byte value is a name only if it is text.
        if (n === 4 && !looksLikeText(val)) {
          googleIds = true;
          euid8 = v.getUint32(o, le);
        } else e.user = decodeText(val);
        break;
      case C.PEB_GROUP:
        if (n === 4 && !looksLikeText(val)) googleIds = true;
        else e.group = decodeText(val);
        break;
      case C.PEB_GOOGLE_EXIT_CODE:
        if (n >= 4) e.exitCode = v.getInt32(o, le);
        break;
      case C.PEB_HONE_COMM:
        e.comm = decodeText(val);
        break;
      case C.PEB_HONE_TID:
        if (n >= 4) e.tid = v.getUint32(o, le);
        break;
      case C.PEB_HONE_EXIT_CODE:
        if (n >= 4) e.exitCode = v.getInt32(o, le);
        break;
      case C.PEB_HONE_CGROUP:
        if (n >= 8) e.cgroup = Number(v.getBigUint64(o, le));
        break;
      case C.PEB_HONE_NETNS:
        if (n >= 4) e.netns = v.getUint32(o, le);
        break;
    }
  });
  // The Google fork writes real uid/gid in 6/7 and the effective uid in 8.
  if (googleIds && euid8 !== null) e.uid = euid8;
  if (e.event === "kthread" && e.exe && /^\[.*\]$/.test(e.exe)) {
    e.comm ??= e.exe.slice(1, -1);
    e.exe = null;
  }
  out.push(e);
}

/** Decodes a Hone connection event block (either layout). */
export function decodeConnectionBlock(
  s: DecoderState,
  buf: Uint8Array,
  v: DataView,
  start: number,
  end: number,
  abs: number,
  out: HoneEvent[],
): void {
  const le = s.le;
  // HoneProject: conn u32, pid, ts (16 bytes); Google: conn u64 (20 bytes).
  const narrowOk = optionsValid(s, v, start + 16, end);
  const wideOk = end - start >= 20 && optionsValid(s, v, start + 20, end);
  let wide: boolean;
  if (narrowOk !== wideOk) wide = wideOk;
  else if (!narrowOk) {
    throw new HoneFormatError(
      "Cannot read Hone connection block: its options run past the end of the block",
      abs,
    );
  } else if (s.wideConn !== null) wide = s.wideConn;
  else {
    // Both parse: a Google id is a kernel pointer (high word 0xffff....).
    const hiWord = v.getUint32(start + (le ? 4 : 0), le);
    wide = end - start === 20 && (hiWord >>> 16) === 0xffff;
  }
  s.wideConn = wide;
  const conn = wide ? wideId(v, start, le) : v.getUint32(start, le);
  const f = wide ? start + 8 : start + 4;
  stamp(s, s.ifaces[0], v.getUint32(f + 4, le), v.getUint32(f + 8, le));
  const e: ConnectionEvent = {
    type: "connection",
    sec: s.ts[0]!,
    nsec: s.ts[1]!,
    event: "open",
    conn,
    pid: v.getUint32(f, le) || null,
  };
  forEachOption(s, v, f + 12, end, (code, o, n) => {
    if (code === C.CEB_EVENT && n >= 4 && v.getUint32(o, le) !== 0) {
      e.event = "close";
    } else if (code === C.CEB_HONE_PROTO && n >= 4) {
      e.proto = v.getUint32(o, le);
    } else if (code === C.CEB_HONE_LOCAL) {
      e.local = decodeText(buf.subarray(o, o + n));
    } else if (code === C.CEB_HONE_REMOTE) {
      e.remote = decodeText(buf.subarray(o, o + n));
    }
  });
  out.push(e);
}

/** Whether the options from `p` parse exactly up to `end`. */
function optionsValid(
  s: DecoderState,
  v: DataView,
  p: number,
  end: number,
): boolean {
  const le = s.le;
  while (p < end) {
    if (end - p < 4) return false;
    const code = v.getUint16(p, le);
    const n = v.getUint16(p + 2, le);
    if (code === 0) return n === 0;
    if (p + 4 + n > end) return false;
    p += 4 + pad4(n);
  }
  return p === end;
}

function pebEvent(x: number): ProcessEventKind {
  switch (x) {
    case 1:
      return "fork";
    case 2:
      return "kthread";
    case 0xffffffff:
      return "exit";
    default:
      return "exec";
  }
}
