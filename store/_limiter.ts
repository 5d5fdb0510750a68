/**
 * A counting semaphore for async tasks: at most `max` run at once, the rest
 * wait in arrival order. Bounds how many fsyncs occupy worker threads.
 *
 * @module
 */

import { assert } from "../base/assert.ts";

/** Runs async tasks with bounded concurrency, first come first served. */
export class Limiter {
  readonly max: number;
  #running = 0;
  /** Waiting tasks' wake-ups; `#head` is the next to run. Invariant: empty when `#running < max`. */
  #waiting: (() => void)[] = [];
  #head = 0;

  constructor(max: number) {
    assert(Number.isSafeInteger(max) && max >= 1, "Limiter max must be a positive integer");
    this.max = max;
  }

  /** Runs `task` once a slot is free; resolves or rejects as the task does. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running < this.max) {
      this.#running += 1;
    } else {
      // The slot is handed over by #release, so #running already counts us.
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    try {
      return await task();
    } finally {
      this.#release();
    }
  }

  #release(): void {
    if (this.#head < this.#waiting.length) {
      const wake = this.#waiting[this.#head];
      this.#head += 1;
      if (this.#head === this.#waiting.length) {
        this.#waiting = [];
        this.#head = 0;
      } else if (this.#head >= 1024 && this.#head * 2 >= this.#waiting.length) {
        // Never drained for long: drop the consumed prefix so the array stays bounded.
        this.#waiting = this.#waiting.slice(this.#head);
        this.#head = 0;
      }
      assert(wake !== undefined);
      wake();
      return;
    }
    this.#running -= 1;
    assert(this.#running >= 0, "Limiter released more slots than it gave");
  }
}
