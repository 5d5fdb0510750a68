/** Tests of the byte-array helpers. */

import assert from "node:assert/strict";
import { concatBytes } from "./bytes.ts";

Deno.test("concatBytes copies the parts, in order, into one new array", () => {
  const first = new Uint8Array([1, 2]);
  const joined = concatBytes([first, new Uint8Array(0), new Uint8Array([3])]);
  assert.deepEqual([...joined], [1, 2, 3]);
  first[0] = 9;
  assert.equal(joined[0], 1, "a copy, not a view");
  assert.equal(concatBytes([]).length, 0);
});
