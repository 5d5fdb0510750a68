/**
 * Time as an injected dependency. Product logic counts ticks; the few places
 * that need milliseconds take a `Clock`, so tests and the simulator can run
 * on virtual time. `systemClock` is the only implementation that reads the OS.
 *
 * @module
 */

/** A source of time in milliseconds. */
export interface Clock {
  /** Monotonic milliseconds, for durations and deadlines. */
  monotonicMs(): number;
  /** Milliseconds since the Unix epoch, for timestamps shown to people. */
  wallMs(): number;
}

/** The operating system's clocks. */
export const systemClock: Clock = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
};

/** A clock that moves only when told to (tests). */
export class ManualClock implements Clock {
  #nowMs: number;

  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }

  monotonicMs(): number {
    return this.#nowMs;
  }

  wallMs(): number {
    return this.#nowMs;
  }

  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    this.#nowMs += ms;
  }
}
