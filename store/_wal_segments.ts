/**
 * Segment files of the write-ahead log: creating one under its temporary name
 * (`%016x.wal.tmp`), creating the first segment of an empty log durably,
 * reopening the last segment for appends after replay cut its torn tail, and
 * the zeroed space written ahead of the appends.
 *
 * Why zeroed space: an append that grows a file changes its size, so its
 * fdatasync must commit the file system's journal, and on ext4 (data=ordered)
 * that commit first writes out every other file's pending allocations — a
 * resync's hundreds of megabytes. An append into space already written (with
 * zeros) changes no metadata, and its fdatasync only flushes its own pages.
 * So each segment is extended ahead of its appends by writing zeros, 1 MiB
 * at a time; replay treats zeros after the last record of the last segment
 * as its end, and a finished segment is cut to its records before the next
 * one is named.
 *
 * @module
 */

import { fstat, ftruncate, openFile, OpenFlags, pwrite } from "../ffi/libc.ts";
import { closeAfterFailure, fsyncDirectory, removeTemporary, storeError } from "./_fs.ts";
import { encodeSegmentHeader, SEGMENT_HEADER_BYTES } from "./_wal_format.ts";
import { segmentFileName } from "./_wal_replay.ts";

/** An open segment file. */
export interface Segment {
  readonly id: number;
  readonly fd: number;
  /** Bytes written. */
  size: number;
  /** Bytes known durable. Invariant: ≤ size. */
  syncedSize: number;
  /** Whether it has its real name (otherwise it is `%016x.wal.tmp`). */
  named: boolean;
  /** Length of the file: `size` plus the zeroed space written ahead. */
  fileBytes: number;
  /** Set when the file was cut since its last fdatasync (the next round must sync it). */
  cut: boolean;
  /** Whether zeroed space is written ahead (off after a failure, for this segment). */
  zeroing: boolean;
}

/**
 * The state of a segment file just opened with `size` bytes: a named one is
 * durable as it is; a new, temporary one needs a sync before it takes its name.
 */
export function segmentOf(id: number, fd: number, size: number, named: boolean): Segment {
  const syncedSize = named ? size : 0;
  return { id, fd, size, syncedSize, named, fileBytes: size, cut: false, zeroing: true };
}

/** How much zeroed space an append that needs more writes ahead of itself. */
export const ZEROED_AHEAD_BYTES = 1024 * 1024;

const zeros = new Uint8Array(ZEROED_AHEAD_BYTES);

/**
 * Makes sure `segment`'s file holds at least `end` bytes, writing zeros from
 * its end up to `end` plus {@link ZEROED_AHEAD_BYTES} (not beyond `limit`,
 * unless `end` is). Best effort: when the zeros cannot be written (a full
 * disk), the file is cut back and appends to this segment simply grow it.
 */
export function writeZeroedSpace(segment: Segment, end: number, limit: number): void {
  if (end <= segment.fileBytes || !segment.zeroing) return;
  const target = Math.max(end, Math.min(limit, end + ZEROED_AHEAD_BYTES));
  const start = segment.fileBytes;
  try {
    for (let at = start; at < target; at += zeros.length) {
      pwrite(segment.fd, zeros.subarray(0, Math.min(zeros.length, target - at)), at);
    }
    segment.fileBytes = target;
  } catch {
    segment.zeroing = false;
    try {
      ftruncate(segment.fd, start);
    } catch {
      // The append that follows writes over (or fails and cuts back) this space.
    }
  }
}

/**
 * Cuts a segment's file to its records (durable with the next sync round);
 * false when it was already that long. Asks the file itself rather than
 * `fileBytes`, which a failed write or cut may have left behind.
 */
export function cutZeroedSpace(segment: Segment): boolean {
  segment.fileBytes = segment.size;
  if (fstat(segment.fd).size === segment.size) return false;
  ftruncate(segment.fd, segment.size);
  segment.cut = true;
  return true;
}

/** Creates `%016x.wal.tmp` with its header written (not yet synced); returns its descriptor. */
export function createSegmentFile(folder: string, segmentId: number): number {
  const temporary = `${folder}/${segmentFileName(segmentId)}.tmp`;
  let fd: number;
  try {
    fd = openFile(temporary, OpenFlags.RDWR | OpenFlags.CREAT | OpenFlags.TRUNC);
  } catch (error) {
    throw storeError(error, `Cannot create ${temporary}`);
  }
  try {
    pwrite(fd, encodeSegmentHeader(segmentId), 0);
  } catch (error) {
    closeAfterFailure(fd);
    removeTemporary(temporary);
    throw storeError(error, `Cannot write the header of ${temporary}`);
  }
  return fd;
}

/** The first segment of an empty log, created durably. */
export async function createFirstSegment(
  folder: string,
  syncFile: (fd: number) => Promise<void>,
): Promise<Segment> {
  const id = 1;
  const fd = createSegmentFile(folder, id);
  const path = `${folder}/${segmentFileName(id)}`;
  try {
    await syncFile(fd);
    Deno.renameSync(`${path}.tmp`, path);
  } catch (error) {
    closeAfterFailure(fd);
    removeTemporary(`${path}.tmp`);
    throw storeError(error, `Cannot create ${path}`);
  }
  await fsyncDirectory(folder);
  return segmentOf(id, fd, SEGMENT_HEADER_BYTES, true);
}

/** Opens the last segment for appends, cutting it to its valid length `validBytes` first. */
export async function reopenLastSegment(
  folder: string,
  id: number,
  validBytes: number,
  syncFile: (fd: number) => Promise<void>,
): Promise<Segment> {
  const path = `${folder}/${segmentFileName(id)}`;
  let fd: number;
  try {
    fd = openFile(path, OpenFlags.RDWR);
  } catch (error) {
    throw storeError(error, `Cannot open ${path}`);
  }
  let size = validBytes;
  try {
    const { size: fileSize } = await Deno.stat(path);
    if (validBytes === 0) {
      // Nothing but zeros: write the header again.
      ftruncate(fd, 0);
      pwrite(fd, encodeSegmentHeader(id), 0);
      size = SEGMENT_HEADER_BYTES;
      await syncFile(fd);
    } else if (fileSize > validBytes) {
      ftruncate(fd, validBytes);
      await syncFile(fd);
    }
  } catch (error) {
    closeAfterFailure(fd);
    throw storeError(error, `Cannot cut the torn tail of ${path}`);
  }
  return segmentOf(id, fd, size, true);
}
