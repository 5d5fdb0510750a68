/** Tests of BodyPool: which sizes it pools, reuse after release, and what it refuses. */

import assert from "node:assert/strict";
import { AssertionError } from "../base/assert.ts";
import { BodyPool } from "./body_pool.ts";

const options = { bufferBytes: 1000, minimumBytes: 100, freeMax: 1 };

Deno.test("BodyPool lends pooled sizes only, and reuses a buffer once it is released", () => {
  const pool = new BodyPool(options);
  assert.equal(pool.take(99), null, "below the minimum");
  assert.equal(pool.take(1001), null, "above the capacity");
  const first = pool.take(500)!;
  assert.equal(first.length, 500);
  const second = pool.take(1000)!;
  assert.notEqual(second.buffer, first.buffer, "a lent buffer is not lent again");
  pool.release(first.subarray(10, 20));
  assert.equal(pool.free, 1);
  assert.equal(pool.take(100)!.buffer, first.buffer, "reused once released (through any view)");
  pool.release(second);
  assert.equal(pool.free, 1);
});

Deno.test("BodyPool keeps at most freeMax free buffers and ignores bytes it never lent", () => {
  const pool = new BodyPool(options);
  const [a, b] = [pool.take(200)!, pool.take(200)!];
  pool.release(a);
  pool.release(b);
  assert.equal(pool.free, 1, "the second one is left to the collector");
  pool.release(new Uint8Array(500));
  assert.equal(pool.free, 1);
});

Deno.test("BodyPool asserts against a buffer released twice", () => {
  const pool = new BodyPool(options);
  const body = pool.take(300)!;
  pool.release(body);
  assert.throws(() => pool.release(body), AssertionError);
});
