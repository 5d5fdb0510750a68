/**
 * The frame: a fixed 32-byte header followed by a body. The header carries
 * its own CRC-32, so it is checked before its body length is trusted, and a
 * CRC-32 of the body, checked once the body is complete. Layout and rules are
 * in docs/PROTOCOL.md; this file is their single implementation.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { crc32 } from "../base/checksum.ts";
import { MESSAGE_SIZE_MAX } from "../constants.ts";

/** Bytes in every frame header. */
export const FRAME_HEADER_SIZE = 32;
/** First two header bytes: "UK". */
export const FRAME_MAGIC = 0x554b;
/** The frame format this code speaks. */
export const FRAME_VERSION = 1;
/** Largest value of a 32-bit request id. */
export const REQUEST_ID_MAX = 0xffff_ffff;
/** Largest message type. */
export const MESSAGE_TYPE_MAX = 0xffff;
/** Message types below this are reserved for net/ itself (handshake, ping). */
export const MESSAGE_TYPE_USER_MIN = 100;

/** Message types used by net/ itself. */
export const NET_MESSAGE_TYPE = {
  /** Handshake step 1 (request): the client's nonce and node id. */
  hello: 1,
  /** Handshake step 2 (request): the client's proof. */
  proof: 2,
  /** Round-trip measurement (request): the body is echoed. */
  ping: 3,
} as const;

/** What a frame is: a request expecting a response, a response, or a one-way message. */
export type FrameKind = "request" | "response" | "one-way";

const KIND_TO_WIRE: Record<FrameKind, number> = { "request": 1, "response": 2, "one-way": 3 };
const WIRE_TO_KIND: readonly (FrameKind | undefined)[] = [
  undefined,
  "request",
  "response",
  "one-way",
];

// Byte offsets inside the header (big-endian fields).
const OFFSET_MAGIC = 0;
const OFFSET_VERSION = 2;
const OFFSET_KIND = 3;
const OFFSET_TYPE = 4;
const OFFSET_STATUS = 6;
const OFFSET_REQUEST_ID = 8;
const OFFSET_BODY_SIZE = 12;
const OFFSET_BODY_CHECKSUM = 16;
const OFFSET_RESERVED = 20;
const RESERVED_SIZE = 8;
const OFFSET_HEADER_CHECKSUM = 28;

/** The fields of a frame header (the checksums are computed, not chosen). */
export interface FrameHeader {
  /** Request, response or one-way. */
  readonly kind: FrameKind;
  /** Message type, 1-65535, chosen by the user of net/ (1-99 are net/'s own). */
  readonly type: number;
  /** Pairs a response with its request; 0 for one-way frames, never 0 otherwise. */
  readonly requestId: number;
  /** 0 for success, otherwise the `wire` number of an error code; only responses carry one. */
  readonly status: number;
  /** Length of the body in bytes. */
  readonly bodySize: number;
  /** CRC-32 of the body (0 for an empty body). */
  readonly bodyChecksum: number;
}

/** A complete, checked frame. */
export interface Frame {
  /** The checked header. */
  readonly header: FrameHeader;
  /** The body, owned by the receiver. Invariant: `body.length === header.bodySize`. */
  readonly body: Uint8Array;
}

/** The header fields a sender chooses (sizes and checksums follow from the body). */
export type FrameHeaderFields = Omit<FrameHeader, "bodySize" | "bodyChecksum">;

/** Limits that a header is checked against. */
export interface FrameLimits {
  /** Largest body accepted; default `MESSAGE_SIZE_MAX`. */
  readonly bodySizeMax?: number;
}

/** Total length of `parts`. */
export function bodySizeOf(parts: readonly Uint8Array[]): number {
  let size = 0;
  for (const part of parts) size += part.length;
  return size;
}

/** CRC-32 of the concatenation of `parts`, without concatenating them. */
export function bodyChecksumOf(parts: readonly Uint8Array[]): number {
  let checksum = 0;
  for (const part of parts) checksum = crc32(part, checksum);
  return checksum;
}

/** The reason `fields` cannot be sent, or null. Shared by encode (asserted) and decode. */
function fieldsInvalid(fields: FrameHeaderFields, bodySize: number, bodySizeMax: number) {
  if (!Number.isInteger(fields.type) || fields.type < 1 || fields.type > MESSAGE_TYPE_MAX) {
    return `message type ${fields.type} is outside 1-${MESSAGE_TYPE_MAX}`;
  }
  if (bodySize > bodySizeMax) return `body of ${bodySize} bytes exceeds ${bodySizeMax}`;
  const id = fields.requestId;
  if (!Number.isInteger(id) || id < 0 || id > REQUEST_ID_MAX) return `request id ${id} is invalid`;
  if (fields.kind === "one-way" && id !== 0) return `one-way frame carries request id ${id}`;
  if (fields.kind !== "one-way" && id === 0) return `${fields.kind} frame has request id 0`;
  if (!Number.isInteger(fields.status) || fields.status < 0 || fields.status > 0xffff) {
    return `status ${fields.status} is invalid`;
  }
  if (fields.kind !== "response" && fields.status !== 0) {
    return `${fields.kind} frame carries status ${fields.status}`;
  }
  return null;
}

/**
 * Encodes a header for a body made of `parts` (its size and CRC-32 are
 * computed here). Asserts the fields are valid: a bad frame is a bug.
 *
 * @example
 * ```ts
 * import { encodeFrameHeader, frameInvalid } from "./frame.ts";
 * const body = new TextEncoder().encode("hello");
 * const header = encodeFrameHeader(
 *   { kind: "request", type: 200, requestId: 1, status: 0 },
 *   [body],
 * );
 * if (frameInvalid(header) !== null) throw new Error("encoded an invalid header");
 * ```
 */
export function encodeFrameHeader(
  fields: FrameHeaderFields,
  parts: readonly Uint8Array[],
  limits: FrameLimits = {},
): Uint8Array {
  const bodySize = bodySizeOf(parts);
  const reason = fieldsInvalid(fields, bodySize, limits.bodySizeMax ?? MESSAGE_SIZE_MAX);
  assert(reason === null, `Cannot encode frame header: ${reason}`);
  const header = new Uint8Array(FRAME_HEADER_SIZE);
  const view = new DataView(header.buffer);
  view.setUint16(OFFSET_MAGIC, FRAME_MAGIC);
  view.setUint8(OFFSET_VERSION, FRAME_VERSION);
  view.setUint8(OFFSET_KIND, KIND_TO_WIRE[fields.kind]);
  view.setUint16(OFFSET_TYPE, fields.type);
  view.setUint16(OFFSET_STATUS, fields.status);
  view.setUint32(OFFSET_REQUEST_ID, fields.requestId);
  view.setUint32(OFFSET_BODY_SIZE, bodySize);
  view.setUint32(OFFSET_BODY_CHECKSUM, bodySize === 0 ? 0 : bodyChecksumOf(parts));
  view.setUint32(
    OFFSET_HEADER_CHECKSUM,
    crc32(header.subarray(0, OFFSET_HEADER_CHECKSUM)),
  );
  return header;
}

/**
 * Why the 32 header bytes in `header` must be refused, or null when they form
 * a valid header. Checks, in order: length, header CRC-32, magic, version,
 * reserved bytes, kind, type, request id and status rules, body size limit.
 *
 * @example
 * ```ts
 * import { frameInvalid } from "./frame.ts";
 * const reason = frameInvalid(new Uint8Array(32));
 * if (reason === null) throw new Error("zeros accepted");
 * ```
 */
export function frameInvalid(header: Uint8Array, limits: FrameLimits = {}): string | null {
  const decoded = decodeFrameHeader(header, limits);
  return typeof decoded === "string" ? decoded : null;
}

/**
 * Reads the fields of a header that {@link frameInvalid} accepts; asserts
 * that it does (callers check first, as the decoder does).
 */
export function parseFrameHeader(header: Uint8Array, limits: FrameLimits = {}): FrameHeader {
  const decoded = decodeFrameHeader(header, limits);
  assert(typeof decoded !== "string", `parseFrameHeader() needs a valid header: ${decoded}`);
  return decoded;
}

/**
 * Checks and reads a header in one pass: the fields, or why the header must
 * be refused. The gateway of every frame that arrives (see {@link frameInvalid}).
 */
export function decodeFrameHeader(
  header: Uint8Array,
  limits: FrameLimits = {},
): FrameHeader | string {
  if (header.length !== FRAME_HEADER_SIZE) {
    return `header is ${header.length} bytes, expected ${FRAME_HEADER_SIZE}`;
  }
  const view = new DataView(header.buffer, header.byteOffset, FRAME_HEADER_SIZE);
  const expected = crc32(header.subarray(0, OFFSET_HEADER_CHECKSUM));
  if (view.getUint32(OFFSET_HEADER_CHECKSUM) !== expected) return "header checksum mismatch";
  if (view.getUint16(OFFSET_MAGIC) !== FRAME_MAGIC) return "bad magic";
  const version = view.getUint8(OFFSET_VERSION);
  if (version !== FRAME_VERSION) return `unsupported frame version ${version}`;
  for (let i = 0; i < RESERVED_SIZE; i++) {
    if (header[OFFSET_RESERVED + i] !== 0) return "reserved bytes are not zero";
  }
  const kind = WIRE_TO_KIND[view.getUint8(OFFSET_KIND)];
  if (kind === undefined) return `unknown frame kind ${view.getUint8(OFFSET_KIND)}`;
  const decoded: FrameHeader = {
    kind,
    type: view.getUint16(OFFSET_TYPE),
    requestId: view.getUint32(OFFSET_REQUEST_ID),
    status: view.getUint16(OFFSET_STATUS),
    bodySize: view.getUint32(OFFSET_BODY_SIZE),
    bodyChecksum: view.getUint32(OFFSET_BODY_CHECKSUM),
  };
  const reason = fieldsInvalid(decoded, decoded.bodySize, limits.bodySizeMax ?? MESSAGE_SIZE_MAX);
  if (reason !== null) return reason;
  if (decoded.bodySize === 0 && decoded.bodyChecksum !== 0) {
    return "empty body with a non-zero checksum";
  }
  return decoded;
}

/**
 * Why `body` does not belong to `header`, or null when its size and CRC-32
 * match. `checksum` is the body's CRC-32 when the caller already has it (a
 * decoder computes it piece by piece as the body arrives).
 */
export function frameBodyInvalid(
  header: FrameHeader,
  body: Uint8Array,
  checksum: number = body.length === 0 ? 0 : crc32(body),
): string | null {
  if (body.length !== header.bodySize) {
    return `body is ${body.length} bytes, header says ${header.bodySize}`;
  }
  if (checksum !== header.bodyChecksum) return "body checksum mismatch";
  return null;
}

/**
 * Encodes a whole frame into one buffer (tests and small control frames; the
 * transport writes header and parts separately to avoid the copy).
 */
export function encodeFrame(
  fields: FrameHeaderFields,
  parts: readonly Uint8Array[],
  limits: FrameLimits = {},
): Uint8Array {
  const header = encodeFrameHeader(fields, parts, limits);
  const frame = new Uint8Array(FRAME_HEADER_SIZE + bodySizeOf(parts));
  frame.set(header, 0);
  let offset = FRAME_HEADER_SIZE;
  for (const part of parts) {
    frame.set(part, offset);
    offset += part.length;
  }
  assert(offset === frame.length);
  return frame;
}
