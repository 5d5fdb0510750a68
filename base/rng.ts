/**
 * A small seeded pseudo-random generator (sfc32). Everything random in ukai
 * (election jitter, backoff jitter, replica tie-breaks, the simulator) takes an
 * `Rng` so that a test or a simulation replays exactly from its seed.
 *
 * @module
 */

import { assert } from "./assert.ts";

/** A deterministic random source built from a 32-bit seed. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /**
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   * const a = new Rng(7), b = new Rng(7);
   * if (a.uint32() !== b.uint32()) throw new Error("not deterministic");
   * ```
   */
  constructor(seed: number) {
    assert(Number.isSafeInteger(seed), "Rng seed must be an integer");
    this.#a = 0x9e3779b9;
    this.#b = 0x243f6a88;
    this.#c = 0xb7e15162;
    this.#d = (seed ^ Math.floor(seed / 0x100000000)) >>> 0;
    for (let i = 0; i < 15; i++) this.uint32();
  }

  /** The next value in [0, 2^32). */
  uint32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.uint32() / 0x100000000;
  }

  /** An integer in [0, bound). */
  int(bound: number): number {
    assert(Number.isSafeInteger(bound) && bound > 0, "Rng.int bound must be a positive integer");
    return Math.floor(this.float() * bound);
  }

  /** An integer in [low, high] (both inclusive). */
  between(low: number, high: number): number {
    assert(low <= high, "Rng.between needs low <= high");
    return low + this.int(high - low + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, "Rng.pick needs a non-empty array");
    return items[this.int(items.length)] as T;
  }

  /** Shuffles `items` in place and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j] as T, items[i] as T];
    }
    return items;
  }

  /** Fills `target` with random bytes and returns it. */
  fill(target: Uint8Array): Uint8Array {
    for (let i = 0; i < target.length; i++) target[i] = this.uint32() & 0xff;
    return target;
  }

  /** A new generator whose sequence is derived from this one. */
  fork(): Rng {
    return new Rng(this.uint32() * 0x100000 + (this.uint32() & 0xfffff));
  }
}
