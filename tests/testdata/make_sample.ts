// Writes tests/testdata/sample.pcapng, the small capture `make run` reads:
// deno run -A tests/testdata/make_sample.ts
import { PcapngWriter } from "../../src/writers/pcapng/pcapng_writer.ts";
import { sampleEvents } from "./sample_events.ts";

const out = new URL("./sample.pcapng", import.meta.url);
await Deno.writeFile(out, new PcapngWriter().encode(sampleEvents()), {
  mode: 0o644,
});
