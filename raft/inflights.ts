/**
 * Flow control for one follower: a ring buffer of the append messages sent
 * but not yet acknowledged, bounded both by message count and by payload
 * bytes. While it is full the leader sends that follower nothing new.
 *
 * @module
 */

import { assert } from "../base/assert.ts";

/**
 * Invariants: `0 <= count <= capacity`; the indexes held are increasing from
 * the oldest (at `start`) to the newest; `bytes` is the sum of their sizes.
 *
 * @example
 * ```ts
 * import { Inflights } from "./inflights.ts";
 * const inflights = new Inflights(2, 0);
 * inflights.add(5, 100);
 * inflights.add(9, 100);
 * if (!inflights.full()) throw new Error("two messages fill a capacity of two");
 * inflights.freeLE(5);
 * if (inflights.count !== 1) throw new Error("the ack for 5 frees one slot");
 * ```
 */
export class Inflights {
  readonly capacity: number;
  /** 0 means no byte limit. */
  readonly maxBytes: number;
  #indexes: number[] = [];
  #sizes: number[] = [];
  #start = 0;
  #count = 0;
  #bytes = 0;

  constructor(capacity: number, maxBytes: number) {
    assert(Number.isSafeInteger(capacity) && capacity >= 1, "Inflights: capacity must be >= 1");
    assert(Number.isSafeInteger(maxBytes) && maxBytes >= 0, "Inflights: maxBytes must be >= 0");
    this.capacity = capacity;
    this.maxBytes = maxBytes;
  }

  /** Number of unacknowledged messages. */
  get count(): number {
    return this.#count;
  }

  /** Payload bytes of the unacknowledged messages. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Records a message whose last entry is `index`, carrying `bytes` of payload. */
  add(index: number, bytes: number): void {
    assert(!this.full(), "Inflights: add into a full buffer");
    const newest = this.#count === 0 ? undefined : this.#indexes[this.#slot(this.#count - 1)];
    assert(newest === undefined || index > newest, "Inflights: indexes must increase");
    const slot = this.#slot(this.#count);
    if (slot >= this.#indexes.length) this.#grow();
    this.#indexes[slot] = index;
    this.#sizes[slot] = bytes;
    this.#count++;
    this.#bytes += bytes;
  }

  /** Frees every message whose last index is `<= index` (they were acknowledged). */
  freeLE(index: number): void {
    let freed = 0;
    let freedBytes = 0;
    while (freed < this.#count) {
      const slot = this.#slot(freed);
      if (this.#indexes[slot]! > index) break;
      freedBytes += this.#sizes[slot]!;
      freed++;
    }
    this.#start = this.#slot(freed);
    this.#count -= freed;
    this.#bytes -= freedBytes;
    if (this.#count === 0) this.#start = 0;
    assert(this.#bytes >= 0, "Inflights: negative byte count");
  }

  /** True when no more messages may be sent (count or byte limit reached). */
  full(): boolean {
    return this.#count === this.capacity || (this.maxBytes !== 0 && this.#bytes >= this.maxBytes);
  }

  /** Forgets everything (the follower's progress state changed). */
  reset(): void {
    this.#start = 0;
    this.#count = 0;
    this.#bytes = 0;
  }

  /** The ring position of the `offset`-th oldest message. */
  #slot(offset: number): number {
    const slot = this.#start + offset;
    return slot >= this.capacity ? slot - this.capacity : slot;
  }

  /** Grows the backing arrays lazily (doubling, up to capacity). */
  #grow(): void {
    const size = Math.min(Math.max(1, this.#indexes.length * 2), this.capacity);
    while (this.#indexes.length < size) {
      this.#indexes.push(0);
      this.#sizes.push(0);
    }
  }
}
