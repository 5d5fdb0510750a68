/**
 * A bounded FIFO queue on a fixed array. `push` returns "full" instead of
 * growing, which is how callers learn about backpressure.
 *
 * @module
 */

import { assert } from "../base/assert.ts";

/**
 * A first-in first-out queue of at most `capacity` items.
 *
 * @example
 * ```ts
 * import { RingBuffer } from "./ring_buffer.ts";
 * const queue = new RingBuffer<number>(2);
 * queue.push(1);
 * queue.push(2);
 * if (queue.push(3) !== "full" || queue.shift() !== 1) throw new Error("bad");
 * ```
 */
export class RingBuffer<T> {
  readonly #items: (T | undefined)[];
  #head = 0;
  #length = 0;

  /** Creates an empty queue that holds at most `capacity` items. */
  constructor(readonly capacity: number) {
    assert(Number.isSafeInteger(capacity) && capacity > 0, "RingBuffer capacity must be positive");
    this.#items = new Array<T | undefined>(capacity).fill(undefined);
  }

  /** Items in the queue. */
  get length(): number {
    return this.#length;
  }

  /** Appends `item`, or returns "full" and leaves the queue unchanged. */
  push(item: T): "ok" | "full" {
    if (this.#length === this.capacity) return "full";
    this.#items[(this.#head + this.#length) % this.capacity] = item;
    this.#length++;
    return "ok";
  }

  /** The oldest item, without removing it. */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head];
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.capacity;
    this.#length--;
    assert(this.#length >= 0);
    return item;
  }

  /** Removes every item and returns them, oldest first. */
  drain(): T[] {
    const items: T[] = [];
    for (let item = this.shift(); item !== undefined; item = this.shift()) items.push(item);
    assert(this.#length === 0);
    return items;
  }

  /** Removes the items for which `remove` is true, keeping the order of the rest. */
  removeWhere(remove: (item: T) => boolean): number {
    const count = this.#length;
    let removed = 0;
    for (let i = 0; i < count; i++) {
      const item = this.shift() as T;
      if (remove(item)) removed++;
      else this.push(item);
    }
    assert(this.#length === count - removed);
    return removed;
  }
}
