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

/**
 * Refuses fields other than `known`, so a misspelt field is an error rather
 * than a silently ignored default.
 */
export function knownFields(fields: Fields, known: readonly string[]): void {
  for (const key of Object.keys(fields)) {
    if (!known.includes(key)) {
      invalid(
        known.length === 0
          ? `This request takes no body, but it has field "${key}"`
          : `Field "${key}" is not known here; known fields: ${known.join(", ")}`,
      );
    }
  }
}

/** Refuses query parameters other than `known`. */
export function knownQuery(query: URLSearchParams, known: readonly string[]): void {
  for (const key of query.keys()) {
    if (!known.includes(key)) {
      invalid(
        known.length === 0
          ? `This request takes no query parameters, but it has "${key}"`
          : `Query parameter "${key}" is not known here; known parameters: ${known.join(", ")}`,
      );
    }
  }
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
  if (typeof value === "string") return named(key, (text) => parseSize(text as string), value);
  invalid(`Field "${key}" must be a number of bytes or a size such as "8G"`);
}

/** A rate in bytes per second: a number, or a string such as "50M" or "50M/s". */
export function rateField(fields: Fields, key: string): number | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number") return sizeField(fields, key);
  if (typeof value === "string") return named(key, (text) => parseRate(text as string), value);
  invalid(`Field "${key}" must be a number of bytes per second or a rate such as "50M"`);
}

/** `check(value)`, with the field named in its error. */
function named<T>(key: string, check: (value: unknown) => T, value: unknown): T {
  try {
    return check(value);
  } catch (error) {
    if (error instanceof UkaiError) invalid(`Field "${key}": ${error.message}`);
    throw error;
  }
}

/** A required node id. */
export function nodeField(fields: Fields, key: string): string {
  if (fields[key] === undefined) invalid(`Field "${key}" is required`);
  return named(key, checkNodeId, fields[key]);
}

/** An optional node id. */
export function optionalNodeField(fields: Fields, key: string): string | undefined {
  return fields[key] === undefined ? undefined : nodeField(fields, key);
}

/** A list of node ids (absent: undefined). */
export function nodeListField(fields: Fields, key: string): string[] | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > 64) {
    invalid(`Field "${key}" must be a list of node ids`);
  }
  return value.map((item) => named(key, checkNodeId, item));
}

/** A required image name in field `key`. */
export function imageField(fields: Fields, key: string): string {
  if (fields[key] === undefined) invalid(`Field "${key}" is required`);
  return named(key, checkImageName, fields[key]);
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

/** A boolean query parameter: "1", "true", "yes" or empty; "0", "false", "no"; absent is false. */
export function queryFlag(query: URLSearchParams, key: string): boolean {
  const value = query.get(key)?.toLowerCase();
  if (value === undefined || ["0", "false", "no"].includes(value)) return false;
  if (["1", "true", "yes", ""].includes(value)) return true;
  invalid(`Query parameter "${key}" must be 1 or 0 (true or false)`);
}
