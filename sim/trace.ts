/**
 * The event trace of a run: a fingerprint of every line (so that two runs of
 * one seed can be compared cheaply: same seed, same fingerprint) and the last
 * lines in a bounded ring (the context printed with a failure).
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { Hasher } from "./hash.ts";

/** Lines kept for failure reports by default. */
export const TRACE_LINES_DEFAULT = 60;

/**
 * A bounded trace.
 *
 * @example
 * ```ts
 * import { Trace } from "./trace.ts";
 * const a = new Trace(2), b = new Trace(2);
 * for (const t of [a, b]) { t.add(1, "x"); t.add(2, "y"); t.add(3, "z"); }
 * if (a.fingerprint() !== b.fingerprint() || a.lastLines().length !== 2) throw new Error("trace");
 * ```
 */
export class Trace {
  readonly #capacity: number;
  readonly #ring: string[] = [];
  #next = 0;
  #count = 0;
  readonly #hasher = new Hasher();

  constructor(capacity = TRACE_LINES_DEFAULT) {
    assert(Number.isSafeInteger(capacity) && capacity >= 1, "Trace: capacity must be >= 1");
    this.#capacity = capacity;
  }

  /** Lines added so far. */
  get count(): number {
    return this.#count;
  }

  /** Adds a line at virtual time `timeMs`. */
  add(timeMs: number, text: string): void {
    const line = `${timeMs} ${text}`;
    this.#hasher.string(line);
    if (this.#ring.length < this.#capacity) this.#ring.push(line);
    else this.#ring[this.#next] = line;
    this.#next = (this.#next + 1) % this.#capacity;
    this.#count++;
  }

  /** The fingerprint of every line added, in order. */
  fingerprint(): string {
    return `${this.#count}:${this.#hasher.value().toString(16)}`;
  }

  /** The last lines, oldest first. */
  lastLines(): string[] {
    if (this.#ring.length < this.#capacity) return [...this.#ring];
    return [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
  }
}
