import assert from "node:assert/strict";
import { strftime } from "./strftime.ts";

Deno.test("strftime prints the fields of a rotated file's name", () => {
  const t = new Date(2026, 0, 5, 7, 8, 9);
  assert.equal(
    strftime("%Y %y %m %d %e %H %M %S", t),
    "2026 26 01 05  5 07 08 09",
  );
  assert.equal(
    strftime("%F_%T %j %b %a %%", t),
    "2026-01-05_07:08:09 005 Jan Mon %",
  );
  assert.equal(strftime("%s", t), String(Math.floor(t.getTime() / 1000)));
  assert.equal(strftime("cap.pcapng %Q", t), "cap.pcapng %Q");
  assert.equal(strftime("%j", new Date(2024, 11, 31)), "366");
});
