/**
 * The virtual clock and the event queue of the simulator. Time is an integer
 * count of virtual milliseconds that only moves when the next event is taken;
 * events due at the same time run in the order they were scheduled (a
 * sequence number breaks ties), so a run is a pure function of its seed.
 *
 * The queue is a binary min-heap with a hard capacity: a simulation that
 * schedules without bound is a bug, not a load test.
 *
 * @module
 */

import { assert } from "../base/assert.ts";

/** Most events waiting at once; more means something schedules in a loop. */
export const SCHEDULED_EVENTS_MAX = 200_000;

const HEAP_DEPTH_MAX = 64;

interface Slot<E> {
  time: number;
  sequence: number;
  event: E;
}

/**
 * A deterministic discrete-event scheduler over events of type `E`.
 *
 * @example
 * ```ts
 * import { Scheduler } from "./scheduler.ts";
 * const scheduler = new Scheduler<string>();
 * scheduler.after(5, "b");
 * scheduler.after(5, "c");
 * scheduler.after(1, "a");
 * const order = [scheduler.next()!, scheduler.next()!, scheduler.next()!];
 * if (order.join("") !== "abc" || scheduler.now !== 5) throw new Error("wrong order");
 * ```
 */
export class Scheduler<E> {
  #heap: Slot<E>[] = [];
  #sequence = 0;
  #now = 0;

  /** The current virtual time in milliseconds (the time of the last event taken). */
  get now(): number {
    return this.#now;
  }

  /** Number of events waiting. */
  get size(): number {
    return this.#heap.length;
  }

  /** Schedules `event` `delay` milliseconds from now (0 = after everything due now). */
  after(delay: number, event: E): void {
    assert(Number.isSafeInteger(delay) && delay >= 0, `Scheduler: bad delay ${delay}`);
    assert(this.#heap.length < SCHEDULED_EVENTS_MAX, "Scheduler: too many scheduled events");
    this.#heap.push({ time: this.#now + delay, sequence: this.#sequence++, event });
    this.#siftUp(this.#heap.length - 1);
  }

  /** The time of the next event, or undefined when none waits. */
  peekTime(): number | undefined {
    return this.#heap[0]?.time;
  }

  /** Takes the next event and moves the clock to its time; undefined when none waits. */
  next(): E | undefined {
    const top = this.#heap[0];
    if (top === undefined) return undefined;
    const last = this.#heap.pop()!;
    if (this.#heap.length > 0) {
      this.#heap[0] = last;
      this.#siftDown(0);
    }
    assert(top.time >= this.#now, "Scheduler: time went backwards");
    this.#now = top.time;
    return top.event;
  }

  #less(i: number, j: number): boolean {
    const a = this.#heap[i]!;
    const b = this.#heap[j]!;
    return a.time < b.time || (a.time === b.time && a.sequence < b.sequence);
  }

  #swap(i: number, j: number): void {
    const a = this.#heap[i]!;
    this.#heap[i] = this.#heap[j]!;
    this.#heap[j] = a;
  }

  #siftUp(start: number): void {
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #siftDown(start: number): void {
    let i = start;
    const size = this.#heap.length;
    // Each round goes one level down: at most the heap's depth (< 64) rounds.
    for (let depth = 0; depth < HEAP_DEPTH_MAX; depth++) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < size && this.#less(left, smallest)) smallest = left;
      if (right < size && this.#less(right, smallest)) smallest = right;
      if (smallest === i) return;
      this.#swap(i, smallest);
      i = smallest;
    }
    assert(false, "Scheduler: heap deeper than its bound");
  }
}
