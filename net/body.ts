/**
 * Small helpers on message bodies, shared by the outbound and inbound sides.
 *
 * @module
 */

import type { Body } from "./transport.ts";

const NO_PARTS: readonly Uint8Array[] = [];

/** The pieces of `body` as a list (an empty body has none). */
export function bodyParts(body: Body): readonly Uint8Array[] {
  if (body instanceof Uint8Array) return body.length === 0 ? NO_PARTS : [body];
  return body;
}
