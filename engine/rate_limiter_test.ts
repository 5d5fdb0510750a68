/** Tests of the resync token bucket on a manual clock. */

import assert from "node:assert/strict";
import { ManualClock } from "../base/clock.ts";
import { RateLimiter } from "./rate_limiter.ts";

Deno.test("RateLimiter holds a long-run rate within its burst", () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter(1000, clock);
  let moved = 0;
  for (let step = 0; step < 10_000; step++) {
    const wait = limiter.delayFor();
    if (wait > 0) {
      clock.advance(wait);
      continue;
    }
    limiter.charge(300);
    moved += 300;
  }
  const seconds = clock.monotonicMs() / 1000;
  const rate = moved / seconds;
  assert.ok(rate <= 1000 * 1.05 + 1000 / seconds, `rate ${rate}`);
  assert.ok(rate >= 1000 * 0.95, `rate ${rate}`);
});

Deno.test("RateLimiter with rate 0 never asks to wait", () => {
  const limiter = new RateLimiter(0, new ManualClock());
  limiter.charge(1e12);
  assert.equal(limiter.delayFor(), 0);
});

Deno.test("RateLimiter.setRate() applies a new cap to the next work", () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter(1000, clock);
  limiter.charge(3000);
  assert.equal(limiter.delayFor(), 2000);
  limiter.setRate(2000);
  assert.equal(limiter.delayFor(), 1000);
});

Deno.test("RateLimiter.refund() gives back an unused reservation, never above the burst", () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter(1000, clock);
  limiter.charge(4000); // four pieces reserved at once: the next waits for the debt
  assert.equal(limiter.delayFor(), 3000);
  limiter.refund(2500); // two of them shipped only holes
  assert.equal(limiter.delayFor(), 500);
  limiter.refund(10_000);
  limiter.charge(1000);
  assert.equal(limiter.delayFor(), 0, "the refund stopped at one second's burst");
  limiter.charge(1);
  assert.equal(limiter.delayFor(), 1);
});
