import assert from "node:assert/strict";
import type { HoneEvent, PacketEvent, StatsEvent } from "../events/mod.ts";
import { processEvent } from "../events/mod.ts";
import { type FileSetOptions, FileSetSink } from "./file_set.ts";

const ZERO = { process: 0, connection: 0, packet: 0 };

function stats(packets: number): StatsEvent {
  return {
    type: "stats",
    sec: 9,
    nsec: 0,
    start: [1, 0],
    received: { ...ZERO, packet: packets },
    dropped: { ...ZERO },
    delivered: { ...ZERO, packet: packets },
  };
}

function packet(i: number): PacketEvent {
  return {
    type: "packet",
    sec: 2,
    nsec: i,
    dir: "out",
    pid: 42,
    tid: 42,
    conn: 7,
    len: 100,
    data: new Uint8Array(100).fill(i & 255),
    how: "sender",
  };
}

async function run(
  dir: string,
  o: Partial<FileSetOptions>,
  batches: HoneEvent[][],
  between?: (sink: FileSetSink) => void,
): Promise<string[]> {
  let total = 0;
  const sink = new FileSetSink({
    path: `${dir}/f.jsonl`,
    format: "json",
    encoder: { snaplen: 0, data: false },
    sizeBytes: 0,
    seconds: 0,
    maxFiles: 0,
    postRotate: null,
    append: false,
    cumulative: () => stats(total),
    onLastFile: () => {},
    warn: () => {},
    ...o,
  });
  const w = sink.getWriter();
  for (const b of batches) {
    total += b.filter((e) => e.type === "packet").length;
    await w.write(b);
    between?.(sink);
  }
  await w.write([stats(total)]);
  await w.close();
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

const lines = async (f: string) =>
  (await Deno.readTextFile(f)).trim().split("\n").map((l) => JSON.parse(l));

Deno.test("FileSetSink -C: each file starts with the live processes and ends with its own counts", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const proc = processEvent({
      sec: 1,
      nsec: 0,
      event: "exec",
      pid: 42,
      comm: "curl",
    });
    const batches: HoneEvent[][] = [[proc]];
    for (let b = 0; b < 6; b++) {
      batches.push(Array.from({ length: 10 }, (_, i) => packet(b * 10 + i)));
    }
    const names = await run(dir, { sizeBytes: 3000 }, batches);
    assert.ok(names.length >= 3, names.join(" "));
    assert.deepEqual(names.slice(0, 3), ["f.jsonl", "f.jsonl1", "f.jsonl2"]);
    let sum = 0;
    for (const n of names) {
      const es = await lines(`${dir}/${n}`);
      assert.equal(es[0].type, "process", `${n} starts with the process`);
      const packets = es.filter((e) => e.type === "packet").length;
      assert.equal(es.at(-1).type, "stats", `${n} ends with its counts`);
      assert.equal(es.at(-1).delivered.packet, packets);
      sum += packets;
    }
    assert.equal(sum, 60, "every packet once");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileSetSink -C -W: a ring of N files named 0..N-1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const batches = Array.from(
      { length: 12 },
      (_, b) => Array.from({ length: 10 }, (_, i) => packet(b * 10 + i)),
    );
    const names = await run(dir, { sizeBytes: 2000, maxFiles: 3 }, batches);
    assert.deepEqual(names, ["f.jsonl0", "f.jsonl1", "f.jsonl2"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileSetSink.reopen: the same name again, appended when nobody moved it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const batches = [[packet(1)], [packet(2)], [packet(3)]];
    let n = 0;
    const names = await run(dir, {}, batches, (sink) => {
      if (n++ === 0) sink.reopen();
    });
    assert.deepEqual(names, ["f.jsonl"]);
    const es = await lines(`${dir}/f.jsonl`);
    assert.equal(es.filter((e) => e.type === "packet").length, 3);
    assert.equal(
      es.filter((e) => e.type === "stats").length,
      2,
      "two sections",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
