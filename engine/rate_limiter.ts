/**
 * A token bucket that caps resync traffic in bytes per second. Pure: time
 * comes from an injected clock, and `delayFor` says how long to wait instead
 * of waiting, so the caller (or a test) decides how to sleep.
 *
 * Work is charged before it starts, at its largest possible size, and what
 * it did not use is refunded once its real size is known; the bucket may go
 * into debt, and the next piece of work waits until the debt is paid. A
 * burst of one second's worth is allowed.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Clock } from "../base/clock.ts";

/** A byte-rate cap; a rate of 0 means unlimited. */
export class RateLimiter {
  #bytesPerSecond: number;
  #tokens: number;
  #updatedMs: number;
  readonly #clock: Clock;

  constructor(bytesPerSecond: number, clock: Clock) {
    assert(Number.isFinite(bytesPerSecond) && bytesPerSecond >= 0, "rate must be ≥ 0");
    this.#bytesPerSecond = bytesPerSecond;
    this.#tokens = bytesPerSecond;
    this.#clock = clock;
    this.#updatedMs = clock.monotonicMs();
  }

  /** The cap in bytes per second (0: unlimited). */
  get bytesPerSecond(): number {
    return this.#bytesPerSecond;
  }

  /** Changes the cap; the current debt or credit is kept within the new burst. */
  setRate(bytesPerSecond: number): void {
    assert(Number.isFinite(bytesPerSecond) && bytesPerSecond >= 0, "rate must be ≥ 0");
    this.#refill();
    this.#bytesPerSecond = bytesPerSecond;
    this.#tokens = Math.min(this.#tokens, bytesPerSecond);
  }

  #refill(): void {
    const now = this.#clock.monotonicMs();
    const elapsedMs = Math.max(0, now - this.#updatedMs);
    this.#updatedMs = now;
    if (this.#bytesPerSecond === 0) return;
    this.#tokens = Math.min(
      this.#bytesPerSecond,
      this.#tokens + (elapsedMs / 1000) * this.#bytesPerSecond,
    );
  }

  /** Milliseconds to wait before the next piece of work may start (0: now). */
  delayFor(): number {
    if (this.#bytesPerSecond === 0) return 0;
    this.#refill();
    if (this.#tokens >= 0) return 0;
    return Math.ceil((-this.#tokens / this.#bytesPerSecond) * 1000);
  }

  /** Gives back `bytes` charged for work that turned out smaller (never above the burst). */
  refund(bytes: number): void {
    assert(bytes >= 0, "refunded bytes must be ≥ 0");
    if (this.#bytesPerSecond === 0) return;
    this.#refill();
    this.#tokens = Math.min(this.#bytesPerSecond, this.#tokens + bytes);
  }

  /** Charges `bytes` of work (started, or done). */
  charge(bytes: number): void {
    assert(bytes >= 0, "charged bytes must be ≥ 0");
    if (this.#bytesPerSecond === 0) return;
    this.#refill();
    this.#tokens -= bytes;
  }
}
