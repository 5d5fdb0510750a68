/**
 * Segment files of the write-ahead log: creating one under its temporary name
 * (`%016x.wal.tmp`), creating the first segment of an empty log durably, and
 * reopening the last segment for appends after replay cut its torn tail.
 *
 * @module
 */

import { ftruncate, openFile, OpenFlags, pwrite } from "../ffi/libc.ts";
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
  return { id, fd, size: SEGMENT_HEADER_BYTES, syncedSize: SEGMENT_HEADER_BYTES, named: true };
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
  return { id, fd, size, syncedSize: size, named: true };
}
