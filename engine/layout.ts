/**
 * Where a byte range of an image falls in its blocks: the pure mapping from
 * (offset, length) to per-block segments that every read, write and discard
 * starts with.
 *
 * @module
 */

import { assert } from "../base/assert.ts";

/** The part of an I/O that falls in one block. */
export interface Segment {
  /** Index of the block. */
  readonly block: number;
  /** Offset of the segment inside the block. */
  readonly blockOffset: number;
  /** Bytes in the segment. */
  readonly length: number;
  /** Offset of the segment inside the caller's buffer. */
  readonly bufferOffset: number;
}

/**
 * Splits `[offset, offset + length)` into block segments, in order.
 *
 * @example
 * ```ts
 * import { splitIntoSegments } from "./layout.ts";
 * const parts = splitIntoSegments(4090, 10, 4096);
 * if (parts.length !== 2 || parts[1]!.block !== 1 || parts[1]!.length !== 4) throw new Error();
 * ```
 */
export function splitIntoSegments(offset: number, length: number, blockSize: number): Segment[] {
  assert(Number.isSafeInteger(offset) && offset >= 0, "offset must be a non-negative integer");
  assert(Number.isSafeInteger(length) && length >= 0, "length must be a non-negative integer");
  assert(blockSize > 0, "blockSize must be positive");
  const segments: Segment[] = [];
  let done = 0;
  while (done < length) {
    const position = offset + done;
    const block = Math.floor(position / blockSize);
    const blockOffset = position - block * blockSize;
    const take = Math.min(blockSize - blockOffset, length - done);
    segments.push({ block, blockOffset, length: take, bufferOffset: done });
    done += take;
  }
  assert(segments.reduce((sum, s) => sum + s.length, 0) === length, "segments cover the range");
  return segments;
}
