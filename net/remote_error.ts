/**
 * How a handler's error crosses the wire: the response status is the error
 * code's `wire` number and the body is JSON `{ message, details? }`, cut to
 * {@link ERROR_BODY_BYTES_MAX}. The caller rebuilds an equal `UkaiError`.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { describeError, ERROR_TABLE, errorCodeFromWire, UkaiError } from "../base/errors.ts";
import { ERROR_BODY_BYTES_MAX, ERROR_MESSAGE_BYTES_MAX } from "./limits.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function truncate(text: string, bytesMax: number): string {
  const whole = encoder.encode(text);
  if (whole.length <= bytesMax) return text;
  // encodeInto() writes whole characters only, so the cut never splits one.
  const cut = new Uint8Array(bytesMax - 3);
  const { written } = encoder.encodeInto(text, cut);
  return decoder.decode(cut.subarray(0, written)) + "...";
}

/**
 * The status and body that report `error` to the caller. A `UkaiError` keeps
 * its code, message and (JSON-safe) details; anything else becomes IO with
 * `context` and the error's description.
 *
 * @example
 * ```ts
 * import { decodeRemoteError, encodeRemoteError } from "./remote_error.ts";
 * import { UkaiError } from "../base/errors.ts";
 * const sent = encodeRemoteError(new UkaiError("NOT_OWNER", "not the owner"), "handler");
 * const back = decodeRemoteError(sent.status, sent.body);
 * if (back.code !== "NOT_OWNER" || back.message !== "not the owner") throw new Error("bad");
 * ```
 */
export function encodeRemoteError(
  error: unknown,
  context: string,
): { status: number; body: Uint8Array } {
  const ukai = error instanceof UkaiError
    ? error
    : new UkaiError("IO", `${context}: ${describeError(error)}`);
  const message = truncate(ukai.message, ERROR_MESSAGE_BYTES_MAX);
  let body: Uint8Array = encoder.encode(JSON.stringify({ message }));
  if (ukai.details !== undefined) {
    const withDetails = safeJson({ message, details: ukai.details });
    if (withDetails !== null && withDetails.length <= ERROR_BODY_BYTES_MAX) body = withDetails;
  }
  const status = ERROR_TABLE[ukai.code].wire;
  assert(status > 0 && body.length <= ERROR_BODY_BYTES_MAX);
  return { status, body };
}

function safeJson(value: unknown): Uint8Array | null {
  try {
    return encoder.encode(JSON.stringify(value));
  } catch (error) {
    // Details that do not serialise (bigint, cycles) are left out; the code and message still go.
    assert(error instanceof TypeError, `unexpected JSON failure: ${describeError(error)}`);
    return null;
  }
}

/**
 * Rebuilds the `UkaiError` from a response's status and body. A status no
 * code knows (a newer peer) becomes IO naming the number; a malformed body
 * keeps the code with a generic message.
 */
export function decodeRemoteError(status: number, body: Uint8Array): UkaiError {
  assert(status !== 0, "decodeRemoteError() needs a failure status");
  const code = errorCodeFromWire(status);
  let message = `Peer reported error ${status} without a readable message`;
  let details: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(decoder.decode(body));
    if (typeof parsed === "object" && parsed !== null && "message" in parsed) {
      if (typeof parsed.message === "string") message = parsed.message;
      if ("details" in parsed && typeof parsed.details === "object" && parsed.details !== null) {
        details = parsed.details as Record<string, unknown>;
      }
    }
  } catch (error) {
    message += ` (${describeError(error)})`;
  }
  if (code === undefined) return new UkaiError("IO", `${message} (unknown error number ${status})`);
  return details === undefined
    ? new UkaiError(code, message)
    : new UkaiError(code, message, { details });
}
