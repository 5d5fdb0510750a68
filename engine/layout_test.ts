/** Tests of the offset → block segment mapping, against a naive byte-by-byte oracle. */

import assert from "node:assert/strict";
import { Rng } from "../base/rng.ts";
import { splitIntoSegments } from "./layout.ts";

Deno.test("splitIntoSegments() splits a write that crosses block boundaries", () => {
  assert.deepEqual(splitIntoSegments(4000, 5000, 4096), [
    { block: 0, blockOffset: 4000, length: 96, bufferOffset: 0 },
    { block: 1, blockOffset: 0, length: 4096, bufferOffset: 96 },
    { block: 2, blockOffset: 0, length: 808, bufferOffset: 4192 },
  ]);
  assert.deepEqual(splitIntoSegments(8192, 0, 4096), []);
});

Deno.test("splitIntoSegments() agrees with a byte-by-byte oracle on random ranges", () => {
  const rng = new Rng(11);
  for (let i = 0; i < 500; i++) {
    const blockSize = 2 ** rng.between(4, 10);
    const offset = rng.int(8 * blockSize);
    const length = rng.int(5 * blockSize);
    const oracle: string[] = [];
    for (let byte = offset; byte < offset + length; byte++) {
      oracle.push(`${Math.floor(byte / blockSize)}:${byte % blockSize}:${byte - offset}`);
    }
    const mapped: string[] = [];
    for (const segment of splitIntoSegments(offset, length, blockSize)) {
      for (let k = 0; k < segment.length; k++) {
        mapped.push(`${segment.block}:${segment.blockOffset + k}:${segment.bufferOffset + k}`);
      }
    }
    assert.deepEqual(mapped, oracle);
  }
});
