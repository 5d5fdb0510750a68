/**
 * Assertions that stay on in production. A failed assertion is a bug: it throws
 * {@link AssertionError}, which nothing catches, and the process exits (a dropped
 * mount is better than wrong data). Operating errors use `UkaiError` instead.
 *
 * @module
 */

/** Thrown when an invariant of the program does not hold. Never caught on purpose. */
export class AssertionError extends Error {
  override name = "AssertionError";
}

/**
 * Throws {@link AssertionError} unless `condition` holds.
 *
 * @example
 * ```ts
 * import { assert } from "./assert.ts";
 * assert(1 + 1 === 2, "arithmetic works");
 * ```
 */
export function assert(condition: unknown, message = "Assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Marks a branch the type system proves impossible; throws if reached at run time. */
export function unreachable(value: never, message = "Unreachable code reached"): never {
  throw new AssertionError(`${message}: ${JSON.stringify(value)}`);
}

/** Asserts that `value` is a non-negative safe integer and returns it. */
export function assertIndex(value: number, name = "value"): number {
  assert(Number.isSafeInteger(value) && value >= 0, `${name} must be a non-negative integer`);
  return value;
}
