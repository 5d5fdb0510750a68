/**
 * Minimal assertions for the ffi tests (no test library is vendored):
 * structural equality with a readable message, and byte-array equality that
 * names the first differing offset.
 *
 * @module
 */

import { AssertionError } from "../../base/assert.ts";

/** Throws unless `actual` and `expected` serialise to the same JSON. */
export function expectEqual<T>(actual: T, expected: T, what = "value"): void {
  const a = JSON.stringify(actual);
  const b = JSON.stringify(expected);
  if (a !== b) throw new AssertionError(`${what}: expected ${b}, got ${a}`);
}

/** Throws unless the two byte arrays are identical. */
export function expectBytes(actual: Uint8Array, expected: Uint8Array, what = "bytes"): void {
  if (actual.length !== expected.length) {
    throw new AssertionError(`${what}: length ${actual.length}, expected ${expected.length}`);
  }
  const at = actual.findIndex((byte, index) => byte !== expected[index]);
  if (at >= 0) {
    throw new AssertionError(`${what}: differ at offset ${at} (${actual[at]} vs ${expected[at]})`);
  }
}

/** Awaits `promise` and returns the `code` of the error it rejects with (throws if it resolves). */
export async function errorCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return String((error as { code?: unknown }).code);
  }
  throw new AssertionError("expected the operation to fail");
}
