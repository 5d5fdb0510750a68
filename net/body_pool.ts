/**
 * Reusable buffers for large frame bodies. A connection receives a body of a
 * pooled size into a buffer taken from here instead of a fresh allocation
 * (which costs a page fault per 4 KiB and, many of them, garbage
 * collections); whoever consumes the body last hands it back with
 * {@link BodyPool.release} once nothing reads it any more. A body never
 * handed back is simply collected, so releasing is an optimisation, never a
 * duty; releasing one that something still reads is a bug the pool cannot
 * see (the next body overwrites it), so each release point is the one place
 * that body ends. Knows nothing of ukai.
 *
 * @module
 */

import { assert } from "../base/assert.ts";

/** How a {@link BodyPool} is sized. */
export interface BodyPoolOptions {
  /** Capacity of each buffer: bodies up to this size are pooled. */
  readonly bufferBytes: number;
  /** Bodies below this size are allocated as usual (cheap, and many). */
  readonly minimumBytes: number;
  /** Free buffers kept for reuse; more are dropped for the collector. */
  readonly freeMax: number;
}

/** A pool of equally sized body buffers, grown on demand. */
export class BodyPool {
  readonly #options: BodyPoolOptions;
  readonly #free: ArrayBuffer[] = [];
  /** Every buffer this pool handed out and has not taken back. */
  readonly #lent = new WeakSet<ArrayBuffer>();

  constructor(options: BodyPoolOptions) {
    assert(
      Number.isSafeInteger(options.bufferBytes) && options.bufferBytes > 0 &&
        Number.isSafeInteger(options.minimumBytes) && options.minimumBytes >= 0 &&
        options.minimumBytes <= options.bufferBytes &&
        Number.isSafeInteger(options.freeMax) && options.freeMax >= 0,
      "bad body pool options",
    );
    this.#options = options;
  }

  /** Free buffers held right now. */
  get free(): number {
    return this.#free.length;
  }

  /**
   * A buffer of exactly `size` bytes when `size` is a pooled size, its
   * contents left over from an earlier body (the caller overwrites them all);
   * null otherwise, and the caller allocates.
   */
  take(size: number): Uint8Array<ArrayBuffer> | null {
    if (size < this.#options.minimumBytes || size > this.#options.bufferBytes) return null;
    const buffer = this.#free.pop() ?? new ArrayBuffer(this.#options.bufferBytes);
    this.#lent.add(buffer);
    return new Uint8Array(buffer, 0, size);
  }

  /**
   * Takes back the buffer under `body` (any view of a body from {@link take});
   * ignores bytes the pool never lent. The caller promises that nothing reads
   * or writes those bytes afterwards. Asserts against a double release.
   */
  release(body: Uint8Array): void {
    const buffer = body.buffer;
    if (!(buffer instanceof ArrayBuffer) || !this.#lent.has(buffer)) {
      assert(!this.#free.includes(buffer as ArrayBuffer), "a pooled body was released twice");
      return;
    }
    this.#lent.delete(buffer);
    if (this.#free.length < this.#options.freeMax) this.#free.push(buffer);
  }
}
