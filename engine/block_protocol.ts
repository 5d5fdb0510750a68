/**
 * The block operations between nodes, as frame bodies on the peer transport.
 * Hot operations (read, write, punch, flush, fence, export, pull) use a fixed
 * 28-byte little-endian header — image uid, epoch, block, offset, length,
 * flags, reserved zero — followed by the payload; rare ones (forwarded reads,
 * ownership hand-off, health, statistics) carry JSON. Decoding validates every field and
 * throws PROTOCOL for anything malformed.
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import { BLOCK_SIZE_MAX } from "../constants.ts";
import type { BlockExtent } from "../store/mod.ts";

/** Frame types of the block protocol (the 200-299 range of the transport). */
export const BlockMessage = {
  read: 200,
  write: 201,
  punch: 202,
  flush: 203,
  fence: 204,
  exportBlock: 205,
  pull: 206,
  forwardRead: 207,
  release: 208,
  takeOwnership: 209,
  health: 210,
  forwardTruncate: 211,
  stats: 212,
} as const;

/** Size of the fixed header of a hot block operation. */
export const BLOCK_HEADER_SIZE = 28;

/** Write flag: make the data durable (fdatasync) before answering. */
export const WRITE_FLAG_DURABLE = 1;

/** The fixed fields of a hot block operation. */
export interface BlockHeader {
  /** The image's uid (never reused, so a re-created image cannot be confused). */
  readonly uid: number;
  /** The sender's ownership epoch; older than the server's fence is refused. */
  readonly epoch: number;
  readonly block: number;
  /** Byte offset inside the block. */
  readonly offset: number;
  /** Bytes concerned. */
  readonly length: number;
  readonly flags: number;
}

const U32_MAX = 0xffff_ffff;

function protocolError(message: string): never {
  throw new UkaiError("PROTOCOL", `Malformed block message: ${message}`);
}

/**
 * Encodes a header (and room for nothing else).
 *
 * @example
 * ```ts
 * import { decodeBlockHeader, encodeBlockHeader } from "./block_protocol.ts";
 * const header = { uid: 1, epoch: 2, block: 3, offset: 0, length: 4096, flags: 0 };
 * const back = decodeBlockHeader(encodeBlockHeader(header));
 * if (back.header.length !== 4096) throw new Error();
 * ```
 */
export function encodeBlockHeader(header: BlockHeader): Uint8Array<ArrayBuffer> {
  for (const key of ["uid", "epoch", "block", "offset", "length", "flags"] as const) {
    const value = header[key];
    if (!Number.isInteger(value) || value < 0 || value > U32_MAX) {
      throw new UkaiError("INVALID_ARGUMENT", `Block header field ${key}=${value} is out of range`);
    }
  }
  const bytes = new Uint8Array(BLOCK_HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, header.uid, true);
  view.setUint32(4, header.epoch, true);
  view.setUint32(8, header.block, true);
  view.setUint32(12, header.offset, true);
  view.setUint32(16, header.length, true);
  view.setUint32(20, header.flags, true);
  return bytes;
}

/** Decodes a header and returns the bytes after it. */
export function decodeBlockHeader(body: Uint8Array): { header: BlockHeader; rest: Uint8Array } {
  if (body.length < BLOCK_HEADER_SIZE) protocolError(`body of ${body.length} bytes`);
  const view = new DataView(body.buffer, body.byteOffset, BLOCK_HEADER_SIZE);
  if (view.getUint32(24, true) !== 0) protocolError("reserved field is not zero");
  const header = {
    uid: view.getUint32(0, true),
    epoch: view.getUint32(4, true),
    block: view.getUint32(8, true),
    offset: view.getUint32(12, true),
    length: view.getUint32(16, true),
    flags: view.getUint32(20, true),
  };
  if (header.uid === 0) protocolError("image uid 0");
  if (header.length > BLOCK_SIZE_MAX || header.offset > BLOCK_SIZE_MAX) {
    protocolError(`range ${header.offset}+${header.length} exceeds the largest block`);
  }
  return { header, rest: body.subarray(BLOCK_HEADER_SIZE) };
}

/** Encodes an exported block: extent count, extents, then the data of the extents back to back. */
export function encodeExport(extents: readonly BlockExtent[], data: Uint8Array): Uint8Array[] {
  const table = new Uint8Array(4 + extents.length * 8);
  const view = new DataView(table.buffer);
  view.setUint32(0, extents.length, true);
  extents.forEach((extent, index) => {
    view.setUint32(4 + index * 8, extent.byteOffset, true);
    view.setUint32(8 + index * 8, extent.byteLength, true);
  });
  return [table, data];
}

/** Decodes an exported block, checking extents are ordered, disjoint and inside `blockSize`. */
export function decodeExport(
  body: Uint8Array<ArrayBuffer>,
  blockSize: number,
): { extents: BlockExtent[]; data: Uint8Array<ArrayBuffer> } {
  if (body.length < 4) protocolError("export without extent count");
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  const count = view.getUint32(0, true);
  if (count > blockSize / 512 + 1 || 4 + count * 8 > body.length) {
    protocolError(`export with ${count} extents`);
  }
  const extents: BlockExtent[] = [];
  let end = 0;
  let total = 0;
  for (let index = 0; index < count; index++) {
    const offset = view.getUint32(4 + index * 8, true);
    const length = view.getUint32(8 + index * 8, true);
    if (offset < end || length === 0 || offset + length > blockSize) {
      protocolError(`extent ${offset}+${length} out of order or outside the block`);
    }
    extents.push({ byteOffset: offset, byteLength: length });
    end = offset + length;
    total += length;
  }
  const data = body.subarray(4 + count * 8);
  if (data.length !== total) protocolError(`export carries ${data.length} bytes for ${total}`);
  return { extents, data };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes a JSON body. */
export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Decodes a JSON object body. */
export function decodeJson(body: Uint8Array): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(decoder.decode(body));
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // reported below with the common message
  }
  protocolError("body is not a JSON object");
}
