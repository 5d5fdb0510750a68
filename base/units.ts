/**
 * Sizes, rates and ranges as people type them ("8G", "4MiB", "50M/s", "0-99")
 * and as they read them ("8.0 GiB"). Every unit is binary: K = KiB = 1024, as
 * in qemu-img and LVM. Parsing rejects anything it does not fully understand.
 *
 * @module
 */

import { UkaiError } from "./errors.ts";

const UNIT_SHIFT: Record<string, number> = { "": 0, K: 10, M: 20, G: 30, T: 40, P: 50 };

/**
 * Parses a byte size such as `8G`, `4MiB`, `512`, `1.5T` into bytes.
 *
 * @throws {UkaiError} INVALID_ARGUMENT when the text is not a size or not a whole number of bytes
 * @example
 * ```ts
 * import { parseSize } from "./units.ts";
 * if (parseSize("4M") !== 4194304) throw new Error("bad");
 * ```
 */
export function parseSize(text: string, what = "size"): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:i?B)?\s*$/i.exec(text);
  if (!match) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Cannot parse ${what} "${text}": expected a number with an optional unit K, M, G, T or P`,
    );
  }
  const unit = (match[2] ?? "").toUpperCase();
  const bytes = Number(match[1]) * 2 ** (UNIT_SHIFT[unit] ?? 0);
  if (!Number.isSafeInteger(bytes)) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Cannot use ${what} "${text}": it is not a whole number of bytes below 2^53`,
    );
  }
  return bytes;
}

/**
 * Parses a rate such as `50M`, `50M/s` or `0` (no limit) into bytes per second.
 *
 * @throws {UkaiError} INVALID_ARGUMENT when the text is not a rate
 */
export function parseRate(text: string, what = "rate"): number {
  return parseSize(text.replace(/\/s\s*$/i, ""), what);
}

/**
 * Formats a byte count for people: `8.0 GiB`, `512 B`.
 *
 * @example
 * ```ts
 * import { formatSize } from "./units.ts";
 * if (formatSize(8 * 2 ** 30) !== "8.0 GiB") throw new Error("bad");
 * ```
 */
export function formatSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A half-open range of block indexes `[start, end)`. */
export interface BlockRange {
  readonly start: number;
  readonly end: number;
}

/**
 * Parses an inclusive block range as typed on the command line: `A-B`, `A-`
 * (to the last block) or `A` (one block). `blockCount` bounds the result.
 *
 * @throws {UkaiError} INVALID_ARGUMENT for malformed, empty or out-of-bounds ranges
 * @example
 * ```ts
 * import { parseBlockRange } from "./units.ts";
 * const r = parseBlockRange("2-5", 10);
 * if (r.start !== 2 || r.end !== 6) throw new Error("bad");
 * ```
 */
export function parseBlockRange(text: string, blockCount: number): BlockRange {
  const match = /^\s*(\d+)\s*(?:(-)\s*(\d*))?\s*$/.exec(text);
  if (!match) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Cannot parse block range "${text}": expected A-B, A- or A (block indexes, inclusive)`,
    );
  }
  const start = Number(match[1]);
  const last = match[2] === undefined
    ? start
    : match[3] === undefined || match[3] === ""
    ? blockCount - 1
    : Number(match[3]);
  if (last < start) {
    throw new UkaiError("INVALID_ARGUMENT", `Cannot use block range "${text}": it is empty`);
  }
  if (last >= blockCount) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Cannot use block range "${text}": the image has blocks 0-${blockCount - 1}`,
    );
  }
  return { start, end: last + 1 };
}

/** Formats `[start, end)` the way people type it (`A-B`, inclusive). */
export function formatBlockRange(range: BlockRange): string {
  return range.end - range.start === 1 ? `${range.start}` : `${range.start}-${range.end - 1}`;
}

/**
 * Parses a duration such as `150ms`, `2s`, `1m` into milliseconds.
 *
 * @throws {UkaiError} INVALID_ARGUMENT when the text is not a duration
 */
export function parseDuration(text: string, what = "duration"): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!match) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Cannot parse ${what} "${text}": expected a number with ms, s, m or h`,
    );
  }
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? "ms"] ?? 1;
  return Math.round(Number(match[1]) * factor);
}
