/**
 * Validation of control API input: every field a request may carry, checked
 * for type and range, with messages that name the field. Sizes and rates
 * accept numbers of bytes or strings with units ("8G", "50M/s").
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import { type BlockRange, parseBlockRange, parseRate, parseSize } from "../base/units.ts";
import { checkImageName, checkNodeId } from "../meta/mod.ts";

type Fields = Readonly<Record<string, unknown>>;

function invalid(message: string): never {
  throw new UkaiError("INVALID_ARGUMENT", message);
}

/** A byte count: a non-negative integer, or a size string with units. */
export function sizeField(fields: Fields, key: string): number | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      invalid(`Field "${key}" must be a non-negative integer number of bytes`);
    }
    return value;
  }
  if (typeof value === "string") return parseSize(value, key);
  invalid(`Field "${key}" must be a number of bytes or a size such as "8G"`);
}

/** A rate in bytes per second: a number, or a string such as "50M" or "50M/s". */
export function rateField(fields: Fields, key: string): number | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number") return sizeField(fields, key);
  if (typeof value === "string") return parseRate(value, key);
  invalid(`Field "${key}" must be a number of bytes per second or a rate such as "50M"`);
}

/** A required node id. */
export function nodeField(fields: Fields, key: string): string {
  if (fields[key] === undefined) invalid(`Field "${key}" is required`);
  return checkNodeId(fields[key]);
}

/** A list of node ids (absent: undefined). */
export function nodeListField(fields: Fields, key: string): string[] | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > 64) {
    invalid(`Field "${key}" must be a list of node ids`);
  }
  return value.map(checkNodeId);
}

/** A required image name. */
export function imageField(value: unknown): string {
  return checkImageName(value);
}

/** An optional boolean. */
export function flagField(fields: Fields, key: string): boolean {
  const value = fields[key] ?? false;
  if (typeof value !== "boolean") invalid(`Field "${key}" must be true or false`);
  return value;
}

/** An optional short string. */
export function textField(fields: Fields, key: string, maxLength = 64): string | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value.length > maxLength) {
    invalid(`Field "${key}" must be a string of at most ${maxLength} characters`);
  }
  return value;
}

/** An optional inclusive block range "A-B", "A-" or "A", checked against `blockCount`. */
export function rangeField(value: unknown, blockCount: number): BlockRange | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") invalid(`Field "range" must be a string such as "0-99"`);
  return parseBlockRange(value, blockCount);
}

/** A boolean query parameter ("1", "true", "yes"). */
export function queryFlag(query: URLSearchParams, key: string): boolean {
  const value = query.get(key);
  return value !== null && ["1", "true", "yes", ""].includes(value.toLowerCase());
}
