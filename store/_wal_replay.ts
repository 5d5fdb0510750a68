/**
 * Reading a write-ahead log folder back, with the recovery rules:
 *
 * - segments are `%016x.wal`, consecutive ids; a missing id in the middle is
 *   corruption;
 * - in the last segment, a bad or incomplete record with nothing valid after
 *   it is a torn tail (a write that never completed its fdatasync): it is cut
 *   off and reported; so is zeroed space after the last record, and a last
 *   segment that is nothing but zeros;
 * - a bad record followed by a valid one, or any damage in a segment that is
 *   not the last, is corruption: fsynced records may follow, so replay fails
 *   with the file and the offset instead of dropping them.
 *
 * Replay only reads; the caller truncates.
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import { isNotFound, storeError } from "./_fs.ts";
import {
  findValidRecord,
  isZeroFrom,
  scanRecord,
  SEGMENT_HEADER_BYTES,
  segmentHeaderProblem,
  type WalRecord,
} from "./_wal_format.ts";

/**
 * A record as replayed, with the id of the segment that holds it. Its payload
 * is a view into the segment's bytes as read (copy it to keep it on its own).
 */
export interface ReplayedRecord extends WalRecord {
  readonly segmentId: number;
}

/** A torn tail found (and, by `Wal.open`, cut off) in the last segment. */
export interface TruncatedTail {
  readonly segmentId: number;
  readonly path: string;
  /** The valid length of the segment: everything from here on was removed. */
  readonly byteOffset: number;
  readonly bytesRemoved: number;
  readonly reason: string;
}

/** Everything replay found in a log folder. */
export interface ReplayedLog {
  readonly records: ReplayedRecord[];
  /** Ids of the segments present, ascending and consecutive. */
  readonly segmentIds: number[];
  /** Leftover temporary segments (never acknowledged; to delete). */
  readonly temporaryPaths: string[];
  /** Valid length of the last segment; 0 when its header must be written again. */
  readonly lastSegmentBytes: number;
  readonly truncatedTail: TruncatedTail | null;
}

const SEGMENT_NAME = /^([0-9a-f]{16})\.wal$/;
const TEMPORARY_SEGMENT_NAME = /^[0-9a-f]{16}\.wal\.tmp$/;

/** File name of segment `segmentId`. */
export function segmentFileName(segmentId: number): string {
  return `${segmentId.toString(16).padStart(16, "0")}.wal`;
}

/** The error for damage that replay must not repair. */
export function walCorruption(path: string, byteOffset: number, reason: string): UkaiError {
  return new UkaiError(
    "CHECKSUM_MISMATCH",
    `Write-ahead log ${path} is damaged at byte ${byteOffset}: ${reason}. Records after it ` +
      `may have been acknowledged, so the log is not opened; move the folder aside and ` +
      `rebuild this node's state from its peers`,
    { details: { path, byteOffset } },
  );
}

/**
 * Reads every segment of the log in `folder` (which must exist).
 *
 * @throws {UkaiError} CHECKSUM_MISMATCH for corruption, IO
 */
export async function replayLog(folder: string, recordBytesMax: number): Promise<ReplayedLog> {
  const { segmentIds, temporaryPaths } = await listSegments(folder);
  const records: ReplayedRecord[] = [];
  let lastSegmentBytes = 0;
  let truncatedTail: TruncatedTail | null = null;
  for (const [index, segmentId] of segmentIds.entries()) {
    const path = `${folder}/${segmentFileName(segmentId)}`;
    const isLast = index === segmentIds.length - 1;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      throw storeError(error, `Cannot read ${path}`);
    }
    const headerProblem = segmentHeaderProblem(bytes, segmentId);
    if (headerProblem !== null) {
      if (!isLast || !isZeroFrom(bytes, 0)) throw walCorruption(path, 0, headerProblem);
      const reason = "the segment holds nothing but zeros";
      truncatedTail = { segmentId, path, byteOffset: 0, bytesRemoved: bytes.length, reason };
      lastSegmentBytes = 0;
      break;
    }
    const end = replaySegment(bytes, segmentId, path, isLast, recordBytesMax, records);
    if (end.byteOffset < bytes.length) {
      truncatedTail = {
        segmentId,
        path,
        byteOffset: end.byteOffset,
        bytesRemoved: bytes.length - end.byteOffset,
        reason: end.reason,
      };
    }
    lastSegmentBytes = end.byteOffset;
  }
  return { records, segmentIds, temporaryPaths, lastSegmentBytes, truncatedTail };
}

/** Appends the records of one segment to `records`; returns where the valid part ends. */
function replaySegment(
  bytes: Uint8Array,
  segmentId: number,
  path: string,
  isLast: boolean,
  recordBytesMax: number,
  records: ReplayedRecord[],
): { byteOffset: number; reason: string } {
  let offset = SEGMENT_HEADER_BYTES;
  while (offset < bytes.length) {
    const scan = scanRecord(bytes, offset, recordBytesMax);
    if (scan.kind === "record") {
      records.push({ segmentId, type: scan.type, payload: scan.payload });
      offset = scan.end;
      continue;
    }
    const reason = scan.kind === "incomplete" ? "incomplete record" : scan.reason;
    if (!isLast) throw walCorruption(path, offset, `${reason} in a segment that is not the last`);
    if (isZeroFrom(bytes, offset)) return { byteOffset: offset, reason: "zeroed space" };
    const next = findValidRecord(bytes, offset + 1, recordBytesMax);
    if (next >= 0) {
      throw walCorruption(path, offset, `${reason}, and a valid record at byte ${next}`);
    }
    return { byteOffset: offset, reason };
  }
  return { byteOffset: offset, reason: "" };
}

async function listSegments(
  folder: string,
): Promise<{ segmentIds: number[]; temporaryPaths: string[] }> {
  const segmentIds: number[] = [];
  const temporaryPaths: string[] = [];
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (!entry.isFile) continue;
      const match = SEGMENT_NAME.exec(entry.name);
      if (match?.[1] !== undefined) {
        const segmentId = parseInt(match[1], 16);
        if (!Number.isSafeInteger(segmentId) || segmentId < 1) {
          throw walCorruption(`${folder}/${entry.name}`, 0, "segment id out of range");
        }
        segmentIds.push(segmentId);
      } else if (TEMPORARY_SEGMENT_NAME.test(entry.name)) {
        temporaryPaths.push(`${folder}/${entry.name}`);
      }
    }
  } catch (error) {
    if (isNotFound(error)) return { segmentIds, temporaryPaths };
    throw storeError(error, `Cannot list ${folder}`);
  }
  segmentIds.sort((a, b) => a - b);
  for (let index = 1; index < segmentIds.length; index++) {
    const previous = segmentIds[index - 1] ?? 0;
    if (segmentIds[index] !== previous + 1) {
      throw walCorruption(
        `${folder}/${segmentFileName(previous + 1)}`,
        0,
        `segment missing between ${segmentFileName(previous)} and ` +
          segmentFileName(segmentIds[index] ?? 0),
      );
    }
  }
  return { segmentIds, temporaryPaths };
}
