import assert from "node:assert/strict";
import type { HoneEvent, PacketEvent } from "../../events/types.ts";
import { processEvent } from "../../events/types.ts";
import { sampleEvents } from "../../../tests/testdata/sample_events.ts";
import { CaptureDecoder } from "../../readers/capture_decoder.ts";
import { PcapngWriter } from "./pcapng_writer.ts";

function roundTrip(events: HoneEvent[], w = new PcapngWriter()): HoneEvent[] {
  const bytes = w.encode(events).slice();
  const d = new CaptureDecoder();
  const out: HoneEvent[] = [];
  d.push(bytes, out);
  d.finish(out);
  return out;
}

const plain = (e: HoneEvent[]) =>
  JSON.parse(
    JSON.stringify(e, (_k, v) => v instanceof Uint8Array ? [...v] : v),
  );

Deno.test("PcapngWriter round-trips every block and option through the reader", () => {
  const events = sampleEvents();
  const back = roundTrip(events);
  const want = plain(events);
  // The reader reports what the file says: hone as the writing application,
  // the first interface's snaplen.
  want[0].userAppl = "hone 0.1.0";
  // Kernel threads carry their name as the path "[comm]", and the comm option.
  assert.deepEqual(plain(back), want);
});

Deno.test("PcapngWriter applies the snaplen and keeps the original length", () => {
  const back = roundTrip(
    sampleEvents(),
    new PcapngWriter({ snaplen: 30, followSections: false }),
  );
  const pkts = back.filter((e): e is PacketEvent => e.type === "packet");
  assert.deepEqual(pkts.map((p) => [p.data.length, p.len]), [
    [30, 32],
    [30, 32],
    [30, 1500],
  ]);
  const sec = back[0] as Extract<HoneEvent, { type: "section" }>;
  assert.equal(sec.snaplen, 30);
});

Deno.test("PcapngWriter writes a short process comment on each packet", () => {
  const bytes = new PcapngWriter().encode(sampleEvents());
  const text = new TextDecoder().decode(bytes);
  assert.ok(text.includes("pid=4242 comm=curl exe=/usr/bin/curl"));
  // The forked child inherits its parent's image for the comment.
  assert.ok(text.includes("pid=4243 comm=curl exe=/usr/bin/curl"));
});

Deno.test("PcapngWriter writes a valid empty capture", () => {
  const back = roundTrip([]);
  assert.deepEqual(back.map((e) => e.type), ["section"]);
});

Deno.test("PcapngWriter starts a new section for each section in the input", () => {
  const ev = sampleEvents();
  const back = roundTrip([...ev, ...ev]);
  assert.equal(back.filter((e) => e.type === "section").length, 2);
});

Deno.test("PcapngWriter cuts an argv longer than an option can hold", () => {
  const long = "x".repeat(70000);
  const back = roundTrip([
    processEvent({ sec: 1, nsec: 0, event: "exec", pid: 1, argv: [long, "y"] }),
  ]);
  const p = back[1] as Extract<HoneEvent, { type: "process" }>;
  assert.equal(p.argv![0]!.length, 65532);
});
