/** Tests of the reconnect delays. */

import { ok as assert } from "node:assert/strict";
import { Rng } from "../base/rng.ts";
import { backoffDelayMs } from "./backoff.ts";

Deno.test("backoffDelayMs() doubles up to the maximum with half of it jitter", () => {
  const rng = new Rng(5);
  const limits = { minMs: 100, maxMs: 5000 };
  for (let failures = 1; failures <= 40; failures++) {
    const base = Math.min(5000, 100 * 2 ** (failures - 1));
    for (let sample = 0; sample < 50; sample++) {
      const delay = backoffDelayMs(failures, limits, rng);
      assert(delay >= base / 2 && delay <= base, `failures ${failures}: ${delay}`);
    }
  }
  const spread = new Set(Array.from({ length: 20 }, () => backoffDelayMs(5, limits, rng)));
  assert(spread.size > 10, "no jitter");
});
