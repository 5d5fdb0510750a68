/**
 * The pool of buffers FUSE requests are received into. A request that keeps
 * its payload (a WRITE, until its reply) keeps its buffer; the receive loop
 * takes the next free one and stops receiving while none is free, which is
 * the session's backpressure. Knows nothing of ukai.
 *
 * @module
 */

import { assert } from "../base/assert.ts";

/** One receive buffer: JS bytes and the native address libfuse reads into. */
export interface ReceiveBuffer {
  /** The buffer's bytes (its backing store never moves). */
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** Native pointer to `bytes[0]`. */
  readonly pointer: Deno.PointerObject;
  /** `pointer` as a number, to locate payload pointers inside the buffer. */
  readonly address: number;
}

/** A new receive buffer of `size` bytes. */
export function allocateReceiveBuffer(size: number): ReceiveBuffer {
  const bytes = new Uint8Array(size);
  const pointer = Deno.UnsafePointer.of(bytes);
  assert(pointer !== null, "receive buffer has no address");
  return { bytes, pointer, address: Number(Deno.UnsafePointer.value(pointer)) };
}

/** A fixed set of equally sized receive buffers. */
export class ReceivePool {
  readonly #free: ReceiveBuffer[] = [];
  readonly #all = new Set<ReceiveBuffer>();
  #waiters: (() => void)[] = [];

  /** Allocates `count` buffers of `bytes` bytes each. */
  constructor(count: number, readonly bufferBytes: number) {
    assert(Number.isSafeInteger(count) && count >= 1, "a receive pool needs at least one buffer");
    for (let index = 0; index < count; index++) {
      const buffer = allocateReceiveBuffer(bufferBytes);
      this.#free.push(buffer);
      this.#all.add(buffer);
    }
  }

  /** Buffers free right now. */
  get available(): number {
    return this.#free.length;
  }

  /** Buffers kept by requests (or by the receive loop) right now. */
  get inUse(): number {
    return this.#all.size - this.#free.length;
  }

  /** A free buffer, or undefined when every buffer is in use. */
  take(): ReceiveBuffer | undefined {
    return this.#free.pop();
  }

  /** Returns `buffer` to the pool and wakes whoever waits for one. */
  give(buffer: ReceiveBuffer): void {
    assert(this.#all.has(buffer), "buffer does not belong to this pool");
    assert(!this.#free.includes(buffer), "buffer returned twice");
    this.#free.push(buffer);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once a buffer is free (at once if one is). */
  whenAvailable(): Promise<void> {
    if (this.#free.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * The bytes `[pointer, pointer + length)` of `buffer` as a view, zero copy.
   * Asserts that the range lies inside the buffer.
   */
  static view(
    buffer: ReceiveBuffer,
    pointer: Deno.PointerObject,
    length: number,
  ): Uint8Array<ArrayBuffer> {
    const start = Number(Deno.UnsafePointer.value(pointer)) - buffer.address;
    assert(
      start >= 0 && start + length <= buffer.bytes.length,
      "payload lies outside its receive buffer",
    );
    return buffer.bytes.subarray(start, start + length);
  }
}
