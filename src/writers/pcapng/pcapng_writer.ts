/**
 * A streaming PCAP-NG writer for hone events: section header, one raw-IP
 * interface with nanosecond timestamps, the original Hone's process (0x101)
 * and connection (0x102) blocks, enhanced packet blocks that carry the
 * process both as Hone options (257, 258), as the standard
 * `epb_processid_threadid` (8) and as a short comment tshark shows as
 * `frame.comment`, and interface statistics at the end of a section.
 *
 * Everything is written into one reused buffer: no object or string is made
 * per packet.
 *
 * @module
 */

import type {
  Attribution,
  ChunkEvent,
  ConnectionEvent,
  HostId,
  PacketEvent,
  ProcessEvent,
  SectionEvent,
  StatsEvent,
} from "../../events/mod.ts";
import * as C from "../../format/mod.ts";
import {
  ATTRIBUTIONS,
  BatchedPacket,
  PACKET_RUN_WORDS,
  type PacketRun,
  RUN_FIELD,
  RUN_HOW_SHIFT,
  RUN_NONE,
} from "../../events/mod.ts";
import { joinNanoseconds } from "../../format/mod.ts";
import { VERSION } from "../../version.ts";
import { setBounded } from "../../events/mod.ts";
import { ProcTable } from "../../events/mod.ts";
import { escapeText } from "../../format/mod.ts";
import { SpareBuffers } from "../_spare_buffers.ts";

/** Options of {@linkcode PcapngWriter}. */
export interface PcapngWriterOptions {
  /**
   * Snapshot length written in the interface block, and applied to packets
   * (0 = whole packets).
   *
   * @default {0}
   */
  snaplen?: number;
  /** Operating system description (`shb_os`), e.g. `uname -srvmo`. */
  os?: string | null;
  /** Hardware description (`shb_hardware`), e.g. `x86_64`. */
  hardware?: string | null;
  /** Host id for the original Hone's SHB option 257. */
  hostId?: HostId | null;
  /** Section comment. */
  comment?: string | null;
  /**
   * Take host id, OS, comment and snaplen from section events in the input
   * (when rewriting a capture).
   *
   * @default {true}
   */
  followSections?: boolean;
  /**
   * Largest number of processes remembered for packet comments.
   *
   * @default {65536}
   */
  maxProcesses?: number;
  /**
   * Also describe each process in Wireshark 4.7's own process block (a
   * custom block, PEN 32622): tshark before 4.7 shows it as a frame.
   *
   * @default {false}
   */
  wiresharkProcessBlocks?: boolean;
  /**
   * Write the second copy of a packet seen twice (loopback: sent, then
   * received) as hone's copy block, which refers to the first, instead of
   * a second EPB that Wireshark would call a retransmission. `hone read`
   * gives both packets as before.
   *
   * @default {false}
   */
  loopbackOnce?: boolean;
}

/** How far back (in EPBs) a copy block may refer: half the reader's ring. */
const COPY_WINDOW = 1 << 15;
/** Most first copies remembered for a copy block. */
const MAX_FIRST_COPIES = 4096;

/** FNV-1a of a packet's bytes and length. */
function packetHash(d: Uint8Array, len: number): number {
  let h = 0x811c9dc5 ^ len;
  for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i]!, 0x01000193);
  return h >>> 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const enc = new TextEncoder();
const MAX_OPT = 65532;
/** The EPB option saying how the pid was known, ready to copy. */
const HOW_OPTS = Object.fromEntries(
  ATTRIBUTIONS.map((h) => {
    const o = new Uint8Array(4 + ((h.length + 3) & ~3));
    new DataView(o.buffer).setUint16(0, C.EPB_HONE_HOW, true);
    new DataView(o.buffer).setUint16(2, h.length, true);
    o.set(enc.encode(h), 4);
    return [h, new Uint32Array(o.buffer)];
  }),
) as Record<Attribution, Uint32Array>;

/** {@linkcode HOW_OPTS} in the order of ATTRIBUTIONS (a run's numbers). */
const HOW_BY_NUMBER = ATTRIBUTIONS.map((h) => HOW_OPTS[h]);

/**
 * Encodes hone events as PCAP-NG.
 *
 * @example Usage
 * ```ts
 * import { PcapngWriter } from "./pcapng_writer.ts";
 * const w = new PcapngWriter({ snaplen: 128 });
 * const bytes = w.encode([]);
 * if (bytes.length === 0) throw new Error("expected a section header");
 * ```
 */
export class PcapngWriter {
  #buf = new Uint8Array(1 << 20);
  #v = new DataView(this.#buf.buffer);
  #w32 = new Uint32Array(this.#buf.buffer);
  /** Buffers given back with recycle(), for the next detach(). */
  #spares = new SpareBuffers();
  #pos = 0;
  #opts: Required<PcapngWriterOptions>;
  #started = false;
  #sawSection = false;
  #ts = new Float64Array(2);
  #procs: ProcTable;
  /** Apple process blocks written in this section. */
  #pibs = 0;
  /** Each pid's EPB options in this section, as words. */
  #procOpts = new Map<number, Uint32Array<ArrayBuffer>>();
  /** EPBs written in this section. */
  #epbs = 0;
  /** With loopbackOnce: sent packets by hash, for their received copy. */
  #firstCopies = new Map<
    number,
    { index: number; data: Uint8Array; len: number }
  >();

  /**
   * Makes a writer.
   *
   * @param options How to write the section header and interface.
   */
  constructor(options: PcapngWriterOptions = {}) {
    this.#opts = {
      snaplen: options.snaplen ?? 0,
      os: options.os ?? null,
      hardware: options.hardware ?? null,
      hostId: options.hostId ?? null,
      comment: options.comment ?? null,
      followSections: options.followSections ?? true,
      maxProcesses: options.maxProcesses ?? 65536,
      wiresharkProcessBlocks: options.wiresharkProcessBlocks ?? false,
      loopbackOnce: options.loopbackOnce ?? false,
    };
    this.#procs = new ProcTable(this.#opts.maxProcesses);
  }

  /**
   * Encodes a batch of events. The first call also writes the section
   * header and interface description.
   *
   * @param events The events, in order.
   * @returns The bytes, a view into the writer's buffer that stays valid
   * until the next call (or, after {@linkcode detach}, until given back
   * with {@linkcode recycle}).
   */
  encode(events: readonly ChunkEvent[]): Uint8Array {
    this.#pos = 0;
    for (const e of events) {
      switch (e.type) {
        case "packet":
          this.#start();
          this.#packet(e);
          break;
        case "packets":
          this.#start();
          this.#packets(e);
          break;
        case "process":
          this.#start();
          this.#process(e);
          break;
        case "connection":
          this.#start();
          this.#connection(e);
          break;
        case "stats":
          this.#start();
          this.#stats(e);
          break;
        case "section":
          this.#section(e);
          break;
      }
    }
    if (events.length === 0) this.#start();
    return this.#buf.subarray(0, this.#pos);
  }

  #section(s: SectionEvent): void {
    if (!this.#opts.followSections) return;
    const first = !this.#sawSection && !this.#started;
    this.#sawSection = true;
    const o = this.#opts;
    o.hostId = s.hostId ?? o.hostId;
    o.os = s.os ?? o.os;
    o.hardware = s.hardware ?? o.hardware;
    o.comment = s.comment ?? o.comment;
    if (s.snaplen && !o.snaplen) o.snaplen = s.snaplen;
    if (!first) {
      // A later section in the input starts a new section here too.
      this.#started = false;
    }
    this.#start();
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    // Process block indexes count within a section.
    this.#procOpts.clear();
    this.#pibs = 0;
    this.#epbs = 0;
    this.#firstCopies.clear();
    this.#shb();
    this.#idb();
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.#buf.subarray(0, this.#pos));
    this.#use(b);
  }

  #use(b: Uint8Array<ArrayBuffer>): void {
    this.#buf = b;
    this.#v = new DataView(b.buffer);
    this.#w32 = new Uint32Array(b.buffer);
  }

  /**
   * Lets go of the buffer that the last {@linkcode encode} wrote into, so
   * that its bytes stay valid after the next call (no copy of them is
   * needed): the next call writes into a buffer given back with
   * {@linkcode recycle}, or into a new one.
   */
  detach(): void {
    this.#use(this.#spares.take(this.#buf.length));
  }

  /**
   * Gives back the bytes of an {@linkcode encode} followed by
   * {@linkcode detach}, once they are written: a later call may write
   * into them again. Giving back anything else, or twice, is ignored.
   *
   * @param bytes What {@linkcode encode} returned.
   */
  recycle(bytes: Uint8Array): void {
    this.#spares.give(bytes, this.#buf.buffer);
  }

  #u32(x: number): void {
    this.#v.setUint32(this.#pos, x, true);
    this.#pos += 4;
  }

  #begin(type: number): number {
    const at = this.#pos;
    this.#u32(type);
    this.#u32(0);
    return at;
  }

  #end(at: number): void {
    const len = this.#pos - at + 4;
    this.#u32(len);
    this.#v.setUint32(at + 4, len, true);
  }

  #pad(): void {
    while (this.#pos & 3) this.#buf[this.#pos++] = 0;
  }

  #optU32(code: number, x: number): void {
    this.#ensure(8);
    this.#v.setUint16(this.#pos, code, true);
    this.#v.setUint16(this.#pos + 2, 4, true);
    this.#v.setUint32(this.#pos + 4, x, true);
    this.#pos += 8;
  }

  #optU64(code: number, x: number): void {
    this.#ensure(12);
    this.#v.setUint16(this.#pos, code, true);
    this.#v.setUint16(this.#pos + 2, 8, true);
    this.#v.setUint32(this.#pos + 4, x % 4294967296, true);
    this.#v.setUint32(this.#pos + 8, Math.floor(x / 4294967296), true);
    this.#pos += 12;
  }

  #optBytes(code: number, b: Uint8Array): void {
    const n = Math.min(b.length, MAX_OPT);
    this.#ensure(8 + n);
    this.#v.setUint16(this.#pos, code, true);
    this.#v.setUint16(this.#pos + 2, n, true);
    this.#buf.set(n === b.length ? b : b.subarray(0, n), this.#pos + 4);
    this.#pos += 4 + n;
    this.#pad();
  }

  #optString(code: number, s: string): void {
    // Encode straight into the buffer; a string longer than an option can
    // hold is cut at MAX_OPT bytes.
    this.#ensure(4 + Math.min(s.length * 3, MAX_OPT) + 4);
    const at = this.#pos;
    const r = enc.encodeInto(
      s,
      this.#buf.subarray(at + 4, at + 4 + MAX_OPT),
    );
    this.#v.setUint16(at, code, true);
    this.#v.setUint16(at + 2, r.written, true);
    this.#pos = at + 4 + r.written;
    this.#pad();
  }

  #optEnd(): void {
    this.#ensure(4);
    this.#u32(0);
  }

  #stamp(sec: number, nsec: number): void {
    joinNanoseconds(sec, nsec, this.#ts);
    this.#u32(this.#ts[0]!);
    this.#u32(this.#ts[1]!);
  }

  // Section Header Block (pcapng spec §4.1).
  #shb(): void {
    const o = this.#opts;
    this.#ensure(64);
    const at = this.#begin(C.BT_SHB);
    this.#u32(C.BYTE_ORDER_MAGIC);
    this.#v.setUint16(this.#pos, 1, true);
    this.#v.setUint16(this.#pos + 2, 0, true);
    this.#pos += 4;
    this.#u32(0xffffffff);
    this.#u32(0xffffffff);
    if (o.hostId) this.#optBytes(C.SHB_HONE_HOSTID, hostIdBytes(o.hostId));
    if (o.hardware) this.#optString(C.SHB_HARDWARE, o.hardware);
    if (o.os) this.#optString(C.SHB_OS, o.os);
    this.#optString(C.SHB_USERAPPL, `hone ${VERSION}`);
    if (o.comment) this.#optString(C.OPT_COMMENT, o.comment);
    if (o.loopbackOnce) this.#optBytes(C.SHB_HONE_COPIES, new Uint8Array(0));
    this.#optEnd();
    this.#ensure(4);
    this.#end(at);
  }

  // Interface Description Block (pcapng spec §4.2): raw IP, nanoseconds.
  #idb(): void {
    this.#ensure(96);
    const at = this.#begin(C.BT_IDB);
    this.#v.setUint16(this.#pos, C.LINKTYPE_RAW, true);
    this.#v.setUint16(this.#pos + 2, 0, true);
    this.#pos += 4;
    this.#u32(this.#opts.snaplen);
    this.#optString(C.IF_NAME, "hone");
    this.#optString(C.IF_DESCRIPTION, "Hone Capture Pseudo-device");
    this.#v.setUint16(this.#pos, C.IF_TSRESOL, true);
    this.#v.setUint16(this.#pos + 2, 1, true);
    this.#v.setUint32(this.#pos + 4, 9, true);
    this.#pos += 8;
    this.#optEnd();
    this.#end(at);
  }

  // A packet event: hone's copy block for the received copy of a packet
  // already written (loopbackOnce), else an EPB.
  #packet(e: PacketEvent): void {
    const snap = this.#opts.snaplen;
    // A packet still in its sensor batch is copied from there, a word at
    // a time, with no view made of it.
    const words = e instanceof BatchedPacket ? e.batchWords : null;
    const caplen = words !== null ? (e as BatchedPacket).caplen : e.data.length;
    const cap = snap > 0 && caplen > snap ? snap : caplen;
    if (this.#opts.loopbackOnce && e.dir !== null) {
      const d = e.data;
      const bytes = cap === d.length ? d : d.subarray(0, cap);
      const h = packetHash(bytes, e.len);
      const first = this.#firstCopies.get(h);
      if (
        e.dir === "in" && first && first.len === e.len &&
        this.#epbs - first.index < COPY_WINDOW && sameBytes(first.data, bytes)
      ) {
        this.#firstCopies.delete(h);
        this.#copy(e, first.index);
        return;
      }
      if (e.dir === "out") {
        // Kept past this batch: a copy, as the buffer the bytes are in (a
        // sensor batch, a capture file's chunk) may be read into again.
        const data = bytes.slice();
        setBounded(
          this.#firstCopies,
          h,
          { index: this.#epbs, data, len: e.len },
          MAX_FIRST_COPIES,
        );
      }
    }
    const pid = e.pid;
    this.#epb(
      e.sec,
      e.nsec,
      e.dir === null ? 0 : e.dir === "in" ? 1 : 2,
      pid === null ? -1 : pid,
      e.tid ?? 0,
      e.conn ?? -1,
      e.len,
      cap,
      words,
      words !== null ? (e as BatchedPacket).dataAt : 0,
      words !== null ? null : e.data,
      pid !== null ? this.#processOptions(pid) : null,
      e.how ? HOW_OPTS[e.how] : null,
    );
  }

  // A run of packets still in their sensor batch: an EPB each, as
  // #packet writes them.
  #packets(r: PacketRun): void {
    if (this.#opts.loopbackOnce) {
      for (let i = 0; i < r.length; i++) this.#packet(r.at(i));
      return;
    }
    const snap = this.#opts.snaplen;
    const F = RUN_FIELD;
    const w = r.fields;
    for (let q = r.start, end = q + r.length * PACKET_RUN_WORDS; q < end;) {
      const f = w[q + F.flags]!;
      const pid = w[q + F.pid]!;
      const tid = w[q + F.tid]!;
      const c = w[q + F.caplen]!;
      const hi = w[q + F.connHi]!, lo = w[q + F.connLo]!;
      const how = f >> RUN_HOW_SHIFT;
      const known = pid !== RUN_NONE;
      this.#epb(
        w[q + F.sec]!,
        w[q + F.nsec]!,
        f & 3,
        known ? pid : -1,
        tid === RUN_NONE ? 0 : tid,
        hi === 0 && lo === 0 ? -1 : hi * 4294967296 + lo,
        w[q + F.len]!,
        snap > 0 && c > snap ? snap : c,
        r.batchWords,
        w[q + F.dataAt]!,
        null,
        known ? this.#processOptions(pid) : null,
        how === 0 ? null : HOW_BY_NUMBER[how - 1]!,
      );
      q += PACKET_RUN_WORDS;
    }
  }

  // Enhanced Packet Block (pcapng spec §4.3) with Hone options 257/258:
  // the size computed once, one #ensure, the fields written in place. The
  // bytes are cap words of `words` from byte dataAt, or `data`; dir 0 is
  // unknown, 1 in, 2 out; pid and conn -1 unknown.
  #epb(
    sec: number,
    nsec: number,
    dir: number,
    pid: number,
    tid: number,
    conn: number,
    len: number,
    cap: number,
    words: Uint32Array | null,
    dataAt: number,
    data: Uint8Array | null,
    popt: Uint32Array | null,
    hopt: Uint32Array | null,
  ): void {
    this.#epbs++;
    const padCap = (cap + 3) & ~3;
    const total = 36 + padCap +
      (conn < 0 ? 0 : conn <= 0xffffffff ? 8 : 12) +
      (pid >= 0 ? 20 : 0) + (dir !== 0 ? 8 : 0) +
      (popt !== null ? popt.length << 2 : 0) +
      (hopt !== null ? hopt.length << 2 : 0);
    this.#ensure(total);
    // Every block starts and ends on a word, so the block is written a
    // word at a time (the host is little-endian, as the file is).
    const w32 = this.#w32;
    let q = this.#pos >> 2;
    joinNanoseconds(sec, nsec, this.#ts);
    w32[q] = C.BT_EPB;
    w32[q + 1] = total;
    w32[q + 2] = 0;
    w32[q + 3] = this.#ts[0]!;
    w32[q + 4] = this.#ts[1]!;
    w32[q + 5] = cap;
    w32[q + 6] = len > cap ? len : cap;
    q += 7;
    const n = padCap >> 2;
    if (words !== null) {
      // The record's padding covers the last word's bytes past cap.
      const from = dataAt >> 2;
      for (let k = 0; k < n; k++) w32[q + k] = words[from + k]!;
    } else {
      const d = data!;
      this.#buf.set(cap === d.length ? d : d.subarray(0, cap), q << 2);
    }
    // The padding is zeros, never the bytes past the snap length.
    if (padCap !== cap) {
      const b = this.#buf;
      for (let p = (q << 2) + cap, end = (q << 2) + padCap; p < end; p++) {
        b[p] = 0;
      }
    }
    q += n;
    if (conn >= 0) {
      if (conn <= 0xffffffff) {
        w32[q] = C.EPB_HONE_CONN | (4 << 16);
        w32[q + 1] = conn;
        q += 2;
      } else {
        w32[q] = C.EPB_HONE_CONN | (8 << 16);
        w32[q + 1] = conn % 4294967296;
        w32[q + 2] = Math.floor(conn / 4294967296);
        q += 3;
      }
    }
    if (pid >= 0) {
      w32[q] = C.EPB_HONE_PID | (4 << 16);
      w32[q + 1] = pid;
      q += 2;
    }
    if (dir !== 0) {
      w32[q] = C.EPB_FLAGS | (4 << 16);
      w32[q + 1] = dir;
      q += 2;
    }
    if (pid >= 0) {
      w32[q] = C.EPB_PROCESSID_THREADID | (8 << 16);
      w32[q + 1] = pid;
      w32[q + 2] = tid;
      q += 3;
    }
    if (popt !== null) {
      for (let k = 0; k < popt.length; k++) w32[q++] = popt[k]!;
    }
    if (hopt !== null) {
      for (let k = 0; k < hopt.length; k++) w32[q++] = hopt[k]!;
    }
    w32[q] = 0; // opt_endofopt
    w32[q + 1] = total;
    this.#pos = (q + 2) << 2;
  }

  // hone's copy block: the received copy of a packet already written,
  // with its own time, direction and process.
  #copy(e: PacketEvent, index: number): void {
    this.#ensure(96);
    const at = this.#begin(C.BT_HONE_COPY);
    this.#u32(0);
    joinNanoseconds(e.sec, e.nsec, this.#ts);
    this.#u32(this.#ts[0]!);
    this.#u32(this.#ts[1]!);
    this.#u32(index);
    if (e.conn !== null) {
      if (e.conn <= 0xffffffff) this.#optU32(C.EPB_HONE_CONN, e.conn);
      else this.#optU64(C.EPB_HONE_CONN, e.conn);
    }
    if (e.pid !== null) this.#optU32(C.EPB_HONE_PID, e.pid);
    if (e.dir !== null) this.#optU32(C.EPB_FLAGS, e.dir === "in" ? 1 : 2);
    if (e.pid !== null) {
      this.#ensure(12);
      this.#v.setUint16(this.#pos, C.EPB_PROCESSID_THREADID, true);
      this.#v.setUint16(this.#pos + 2, 8, true);
      this.#v.setUint32(this.#pos + 4, e.pid, true);
      this.#v.setUint32(this.#pos + 8, e.tid ?? 0, true);
      this.#pos += 12;
    }
    if (e.how) {
      const o = HOW_OPTS[e.how];
      this.#ensure(o.length << 2);
      this.#w32.set(o, this.#pos >> 2);
      this.#pos += o.length << 2;
    }
    this.#optEnd();
    this.#ensure(4);
    this.#end(at);
  }

  // Apple's Process Information Block (0x80000001: pid, name, path) for a
  // pid, written once per section and process image (#processOptions);
  // returns its index.
  #pib(pid: number): number {
    const p = this.#procs.get(pid);
    this.#ensure(64);
    const at = this.#begin(C.BT_APPLE_PIB);
    this.#u32(pid);
    if (p?.comm) this.#optString(C.PIB_NAME, p.comm);
    if (p?.exe) this.#optString(C.PIB_PATH, p.exe);
    this.#optEnd();
    this.#ensure(4);
    this.#end(at);
    if (this.#opts.wiresharkProcessBlocks) this.#wsProcess(pid);
    return this.#pibs++;
  }

  // Wireshark 4.7's process information: a custom block (0xBAD, PEN
  // 32622) holding entry type 3 and the process's description, little-
  // endian, matched to packets by pid (EPB option 8) and start time.
  #wsProcess(pid: number): void {
    const p = this.#procs.get(pid);
    this.#ensure(64);
    const at = this.#begin(C.BT_CUSTOM);
    this.#u32(C.PEN_WIRESHARK);
    this.#u32(C.WS_ENTRY_PROCESS);
    const lenAt = this.#pos;
    this.#u32(0);
    const body = this.#pos;
    this.#u32(pid);
    if (p?.comm) this.#optString(C.PIB_NAME, p.comm);
    if (p?.exe) this.#optString(C.PIB_PATH, p.exe);
    if (p?.argv?.length) {
      this.#optString(C.WS_PIB_CMDLINE, p.argv.join("\0"));
    }
    if (p?.ppid != null) this.#optU32(C.WS_PIB_PPID, p.ppid);
    if (p?.uid != null) this.#optU32(C.WS_PIB_UID, p.uid);
    if (p?.user) this.#optString(C.WS_PIB_USER, p.user);
    if (p?.start) {
      // Nanoseconds since the epoch need more than a double's 53 bits.
      const ns = BigInt(p.start[0]) * 1_000_000_000n + BigInt(p.start[1]);
      this.#ensure(12);
      this.#v.setUint16(this.#pos, C.WS_PIB_START, true);
      this.#v.setUint16(this.#pos + 2, 8, true);
      this.#v.setBigUint64(this.#pos + 4, ns, true);
      this.#pos += 12;
    }
    this.#optEnd();
    this.#v.setUint32(lenAt, this.#pos - body, true);
    this.#ensure(4);
    this.#end(at);
  }

  // A process's EPB options, made once per section and process image and
  // copied as words into each of its packets: the comment, then Apple's
  // process block index as the process and the effective process (the
  // same here), the block written first.
  #processOptions(pid: number): Uint32Array<ArrayBuffer> {
    const known = this.#procOpts.get(pid);
    if (known !== undefined) return known;
    const p = this.#procs.get(pid);
    let s = `pid=${pid}`;
    if (p?.comm) s += ` comm=${escapeText(p.comm, true)}`;
    if (p?.exe) s += ` exe=${escapeText(p.exe, true)}`;
    const c = enc.encode(s.length > 200 ? s.slice(0, 200) : s);
    const at = 4 + ((c.length + 3) & ~3);
    const w = new Uint32Array((at >> 2) + 4);
    const v = new DataView(w.buffer);
    v.setUint16(0, C.OPT_COMMENT, true);
    v.setUint16(2, c.length, true);
    new Uint8Array(w.buffer).set(c, 4);
    const pib = this.#pib(pid);
    v.setUint32(at, C.EPB_APPLE_PIB_INDEX | (4 << 16), true);
    v.setUint32(at + 4, pib, true);
    v.setUint32(at + 8, C.EPB_APPLE_E_PIB_INDEX | (4 << 16), true);
    v.setUint32(at + 12, pib, true);
    setBounded(this.#procOpts, pid, w, this.#opts.maxProcesses);
    return w;
  }

  // Hone Process Event Block (0x101), as the original's pcapng.c wrote it.
  #process(e: ProcessEvent): void {
    const at = (this.#ensure(64), this.#begin(C.BT_HONE_PROCESS));
    this.#u32(e.pid);
    this.#stamp(e.sec, e.nsec);
    if (e.event !== "exec") {
      this.#optU32(
        C.PEB_EVENT,
        e.event === "fork" ? 1 : e.event === "exit" ? 0xffffffff : 2,
      );
    }
    if (e.ppid !== null) this.#optU32(C.PEB_PPID, e.ppid);
    if (e.uid !== null) this.#optU32(C.PEB_EUID, e.uid);
    if (e.gid !== null) this.#optU32(C.PEB_EGID, e.gid);
    if (e.event === "kthread" && !e.exe && e.comm) {
      this.#optString(C.PEB_PATH, `[${e.comm}]`);
    } else if (e.exe !== null) this.#optString(C.PEB_PATH, e.exe);
    if (e.argv !== null) this.#optString(C.PEB_ARGV, argvString(e.argv));
    if (e.user !== null) this.#optString(C.PEB_USER, e.user);
    if (e.group !== null) this.#optString(C.PEB_GROUP, e.group);
    if (e.comm !== null) this.#optString(C.PEB_HONE_COMM, e.comm);
    if (e.cgroup != null) this.#optU64(C.PEB_HONE_CGROUP, e.cgroup);
    if (e.netns != null) this.#optU32(C.PEB_HONE_NETNS, e.netns);
    if (e.tid !== null) this.#optU32(C.PEB_HONE_TID, e.tid);
    if (e.exitCode !== null) {
      this.#optU32(C.PEB_HONE_EXIT_CODE, e.exitCode >>> 0);
    }
    this.#optEnd();
    this.#ensure(4);
    this.#end(at);
    // The process's packets from now on carry what this event says.
    this.#procs.update(e);
    // A new image (exec) gets a new comment and process block at its next
    // packet.
    this.#procOpts.delete(e.pid);
  }

  // Hone Connection Event Block (0x102): 32-bit id as the HoneProject
  // sensor wrote it, or the Google fork's 64-bit id when it does not fit.
  #connection(e: ConnectionEvent): void {
    this.#ensure(48);
    const at = this.#begin(C.BT_HONE_CONNECTION);
    const extra = e.proto != null || e.local != null || e.remote != null;
    const wide = e.conn > 0xffffffff;
    this.#u32(e.conn % 4294967296);
    if (wide) this.#u32(Math.floor(e.conn / 4294967296));
    this.#u32(e.pid ?? 0);
    this.#stamp(e.sec, e.nsec);
    // An open block of a 32-bit id without details stays as the original
    // wrote it: no options at all.
    if (e.event === "close") this.#optU32(C.CEB_EVENT, 0xffffffff);
    else if (wide) this.#optU32(C.CEB_EVENT, 0);
    if (e.proto != null) this.#optU32(C.CEB_HONE_PROTO, e.proto);
    if (e.local != null) this.#optString(C.CEB_HONE_LOCAL, e.local);
    if (e.remote != null) this.#optString(C.CEB_HONE_REMOTE, e.remote);
    if (e.event === "close" || wide || extra) this.#optEnd();
    this.#end(at);
  }

  // Interface Statistics Block (pcapng spec §4.6) with Hone's counters.
  #stats(e: StatsEvent): void {
    this.#ensure(256);
    const at = this.#begin(C.BT_ISB);
    this.#u32(0);
    this.#stamp(e.sec, e.nsec);
    if (e.start) {
      joinNanoseconds(e.start[0], e.start[1], this.#ts);
      this.#v.setUint16(this.#pos, C.ISB_STARTTIME, true);
      this.#v.setUint16(this.#pos + 2, 8, true);
      this.#v.setUint32(this.#pos + 4, this.#ts[0]!, true);
      this.#v.setUint32(this.#pos + 8, this.#ts[1]!, true);
      this.#pos += 12;
    }
    joinNanoseconds(e.sec, e.nsec, this.#ts);
    this.#v.setUint16(this.#pos, C.ISB_ENDTIME, true);
    this.#v.setUint16(this.#pos + 2, 8, true);
    this.#v.setUint32(this.#pos + 4, this.#ts[0]!, true);
    this.#v.setUint32(this.#pos + 8, this.#ts[1]!, true);
    this.#pos += 12;
    const r = e.received, d = e.dropped, u = e.delivered;
    if (r) this.#optU64(C.ISB_IFRECV, r.packet);
    this.#optU64(C.ISB_IFDROP, d.packet);
    if (u) this.#optU64(C.ISB_USRDELIV, u.packet);
    if (r) this.#optU64(C.ISB_HONE_PROC_RECV, r.process);
    this.#optU64(C.ISB_HONE_PROC_DROP, d.process);
    if (u) this.#optU64(C.ISB_HONE_PROC_DELIV, u.process);
    if (r) this.#optU64(C.ISB_HONE_CONN_RECV, r.connection);
    this.#optU64(C.ISB_HONE_CONN_DROP, d.connection);
    if (u) this.#optU64(C.ISB_HONE_CONN_DELIV, u.connection);
    this.#optEnd();
    this.#end(at);
  }
}

/**
 * Joins argv as the original wrote it: every argument NUL-terminated.
 *
 * @param argv The arguments.
 * @returns `"arg0\0arg1\0"`, or `"\0"` for an empty vector.
 */
export function argvString(argv: readonly string[]): string {
  return argv.length === 0 ? "\0" : argv.join("\0") + "\0";
}

/**
 * Encodes a host id as the original's kernel code wrote SHB option 257:
 * a type byte 0 then the string, or a type word 1 then the GUID with its
 * first three fields in little-endian (the host's) order.
 *
 * @param h The host id.
 * @returns The option's value.
 */
export function hostIdBytes(h: HostId): Uint8Array {
  if (h.kind === "string") {
    const s = enc.encode(h.value);
    const b = new Uint8Array(1 + s.length);
    b.set(s, 1);
    return b;
  }
  const g = h.value;
  const b = new Uint8Array(20);
  b[0] = 1;
  b.set([g[3]!, g[2]!, g[1]!, g[0]!, g[5]!, g[4]!, g[7]!, g[6]!], 4);
  b.set(g.subarray(8, 16), 12);
  return b;
}
