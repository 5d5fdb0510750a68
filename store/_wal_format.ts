/**
 * The byte format of write-ahead log segments.
 *
 * A segment file `%016x.wal` starts with a 24-byte header:
 *
 * | bytes | field |
 * |---|---|
 * | 0-7 | magic `UKAIWAL\0` |
 * | 8-11 | format version (u32 LE, 1) |
 * | 12-19 | segment id (u64 LE; equals the file name) |
 * | 20-23 | CRC-32 of bytes 0-19 |
 *
 * then records, each framed as:
 *
 * | bytes | field |
 * |---|---|
 * | 0-3 | payload length (u32 LE) |
 * | 4-7 | CRC-32 of the length bytes, the type byte and the payload |
 * | 8 | record type (1-255; 0 is never valid, so zeroed space never parses) |
 * | 9… | payload |
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { crc32 } from "../base/checksum.ts";

export const SEGMENT_HEADER_BYTES = 24;
export const RECORD_HEADER_BYTES = 9;
export const SEGMENT_FORMAT_VERSION = 1;
const SEGMENT_MAGIC = new TextEncoder().encode("UKAIWAL\0");

/** One log record: an application-defined type (1-255) and opaque bytes. */
export interface WalRecord {
  readonly type: number;
  readonly payload: Uint8Array;
}

/** The header bytes of segment `segmentId`. */
export function encodeSegmentHeader(segmentId: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(SEGMENT_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  bytes.set(SEGMENT_MAGIC, 0);
  view.setUint32(8, SEGMENT_FORMAT_VERSION, true);
  view.setBigUint64(12, BigInt(segmentId), true);
  view.setUint32(20, crc32(bytes.subarray(0, 20)), true);
  return bytes;
}

/** Why `bytes` does not start with segment `segmentId`'s header, or null when it does. */
export function segmentHeaderProblem(bytes: Uint8Array, segmentId: number): string | null {
  if (bytes.length < SEGMENT_HEADER_BYTES) return `the file is shorter than a segment header`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, SEGMENT_HEADER_BYTES);
  if (!SEGMENT_MAGIC.every((byte, index) => bytes[index] === byte)) return "bad magic number";
  if (view.getUint32(20, true) !== crc32(bytes.subarray(0, 20))) return "bad header checksum";
  const version = view.getUint32(8, true);
  if (version !== SEGMENT_FORMAT_VERSION) {
    return `format version ${version}, this program reads ${SEGMENT_FORMAT_VERSION}`;
  }
  if (view.getBigUint64(12, true) !== BigInt(segmentId)) return "the header names another segment";
  return null;
}

/** Bytes `records` take once framed. */
export function framedBytes(records: readonly WalRecord[]): number {
  let total = 0;
  for (const record of records) total += RECORD_HEADER_BYTES + record.payload.length;
  return total;
}

/** Frames `records` into `target` from `offset`; returns the offset after them. */
export function encodeRecords(
  records: readonly WalRecord[],
  target: Uint8Array<ArrayBuffer>,
  offset: number,
): number {
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  let position = offset;
  for (const { type, payload } of records) {
    assert(Number.isInteger(type) && type >= 1 && type <= 255, `bad WAL record type ${type}`);
    view.setUint32(position, payload.length, true);
    target[position + 8] = type;
    target.set(payload, position + RECORD_HEADER_BYTES);
    const end = position + RECORD_HEADER_BYTES + payload.length;
    const checksum = crc32(
      target.subarray(position + 8, end),
      crc32(target.subarray(position, position + 4)),
    );
    view.setUint32(position + 4, checksum, true);
    position = end;
  }
  return position;
}

/** What is found at one position of a segment. */
export type RecordScan =
  | { kind: "record"; type: number; payload: Uint8Array; end: number }
  | { kind: "incomplete" }
  | { kind: "invalid"; reason: string };

/** Parses the record framed at `offset` of `bytes` (a whole segment's content). */
export function scanRecord(bytes: Uint8Array, offset: number, recordBytesMax: number): RecordScan {
  if (offset + RECORD_HEADER_BYTES > bytes.length) return { kind: "incomplete" };
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, RECORD_HEADER_BYTES);
  const length = view.getUint32(0, true);
  const type = bytes[offset + 8] ?? 0;
  if (type === 0) return { kind: "invalid", reason: "record type 0" };
  if (length > recordBytesMax) {
    return { kind: "invalid", reason: `record length ${length} exceeds ${recordBytesMax}` };
  }
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > bytes.length) return { kind: "incomplete" };
  const checksum = crc32(
    bytes.subarray(offset + 8, end),
    crc32(bytes.subarray(offset, offset + 4)),
  );
  if (checksum !== view.getUint32(4, true)) return { kind: "invalid", reason: "bad checksum" };
  return { kind: "record", type, payload: bytes.subarray(offset + RECORD_HEADER_BYTES, end), end };
}

/**
 * The first offset after `from` where a complete valid record is framed, or
 * -1. Tells a torn tail (nothing valid after the damage) from corruption in
 * the middle of a log. Cheap checks (type, length) rule out most offsets
 * before any checksum is computed.
 */
export function findValidRecord(bytes: Uint8Array, from: number, recordBytesMax: number): number {
  for (let offset = from; offset + RECORD_HEADER_BYTES <= bytes.length; offset++) {
    if (bytes[offset + 8] === 0) continue;
    const length = (bytes[offset] ?? 0) + (bytes[offset + 1] ?? 0) * 0x100 +
      (bytes[offset + 2] ?? 0) * 0x10000 + (bytes[offset + 3] ?? 0) * 0x1000000;
    if (length > recordBytesMax || offset + RECORD_HEADER_BYTES + length > bytes.length) continue;
    if (scanRecord(bytes, offset, recordBytesMax).kind === "record") return offset;
  }
  return -1;
}

/** Whether every byte of `bytes` from `from` on is zero. */
export function isZeroFrom(bytes: Uint8Array, from: number): boolean {
  for (let index = from; index < bytes.length; index++) {
    if (bytes[index] !== 0) return false;
  }
  return true;
}
