/**
 * Reconnect delays: exponential backoff with full jitter, as a pure function
 * of the attempt number and an injected `Rng` (no clock, no Math.random).
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Rng } from "../base/rng.ts";

/** Most doublings considered; past this the delay is simply the maximum. */
const DOUBLINGS_MAX = 30;

/**
 * The delay before reconnect attempt `failures` (1 after the first failure):
 * uniformly random in [base/2, base] where base = min(max, min × 2^(failures-1)).
 * Half the delay is jitter, so peers that lost a node at once do not redial in step.
 *
 * @example
 * ```ts
 * import { backoffDelayMs } from "./backoff.ts";
 * import { Rng } from "../base/rng.ts";
 * const delay = backoffDelayMs(3, { minMs: 100, maxMs: 5000 }, new Rng(1));
 * if (delay < 200 || delay > 400) throw new Error("out of range");
 * ```
 */
export function backoffDelayMs(
  failures: number,
  limits: { minMs: number; maxMs: number },
  rng: Rng,
): number {
  assert(Number.isSafeInteger(failures) && failures >= 1, "backoff needs failures >= 1");
  assert(0 < limits.minMs && limits.minMs <= limits.maxMs, "backoff needs 0 < min <= max");
  const doublings = Math.min(failures - 1, DOUBLINGS_MAX);
  const base = Math.min(limits.maxMs, limits.minMs * 2 ** doublings);
  const delay = Math.round(base / 2 + rng.float() * (base / 2));
  assert(delay >= Math.floor(base / 2) && delay <= base);
  return delay;
}
