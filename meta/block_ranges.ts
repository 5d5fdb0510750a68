/**
 * Half-open block ranges `[start, end)` and the run-length view of per-block
 * status arrays: how a million blocks are shown, validated and stored as a
 * handful of ranges.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { BlockRange } from "../base/units.ts";

export type { BlockRange };

/** A maximal run of equal values in a byte array. */
export interface Run {
  readonly start: number;
  readonly end: number;
  readonly value: number;
}

/**
 * The runs of equal values in `values[start, end)`.
 *
 * @example
 * ```ts
 * import { runsOf } from "./block_ranges.ts";
 * const runs = runsOf(new Uint8Array([1, 1, 2, 1]));
 * if (runs.length !== 3 || runs[1]!.value !== 2) throw new Error("bad");
 * ```
 */
export function runsOf(values: Uint8Array, start = 0, end = values.length): Run[] {
  assert(0 <= start && start <= end && end <= values.length, "runsOf range out of bounds");
  const runs: Run[] = [];
  let runStart = start;
  while (runStart < end) {
    const value = values[runStart] as number;
    let runEnd = runStart + 1;
    while (runEnd < end && values[runEnd] === value) runEnd++;
    runs.push({ start: runStart, end: runEnd, value });
    runStart = runEnd;
  }
  return runs;
}

/** The ranges where `values[i] === wanted`, in order. */
export function rangesWhere(values: Uint8Array, wanted: number, limit = Infinity): BlockRange[] {
  const ranges: BlockRange[] = [];
  let index = values.indexOf(wanted);
  while (index !== -1 && ranges.length < limit) {
    let end = index + 1;
    while (end < values.length && values[end] === wanted) end++;
    ranges.push({ start: index, end });
    index = values.indexOf(wanted, end);
  }
  return ranges;
}

/** Sorts and merges overlapping or touching ranges. */
export function normalizeRanges(ranges: readonly BlockRange[]): BlockRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const merged: BlockRange[] = [];
  for (const range of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && range.start <= last.end) {
      merged[merged.length - 1] = { start: last.start, end: Math.max(last.end, range.end) };
    } else {
      merged.push(range);
    }
  }
  return merged;
}

/** Turns sorted block indexes into ranges: [1,2,3,7] → [1,4),[7,8). */
export function rangesOfIndexes(indexes: readonly number[]): BlockRange[] {
  const sorted = [...indexes].sort((a, b) => a - b);
  const ranges: BlockRange[] = [];
  for (const index of sorted) {
    const last = ranges[ranges.length - 1];
    if (last !== undefined && index <= last.end) {
      if (index === last.end) ranges[ranges.length - 1] = { start: last.start, end: index + 1 };
    } else {
      ranges.push({ start: index, end: index + 1 });
    }
  }
  return ranges;
}

/** Total number of blocks covered by (normalized) ranges. */
export function rangeBlockCount(ranges: readonly BlockRange[]): number {
  return ranges.reduce((sum, range) => sum + range.end - range.start, 0);
}
