/**
 * Work on single block files by path or descriptor, with no caching or
 * bookkeeping: the size check, sparse creation, extent validation, the
 * data-extent scan, and folder listing. Every failure is a `UkaiError`.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import { fstat, ftruncate, openFile, OpenFlags, seekData, Whence } from "../ffi/libc.ts";
import { closeAfterFailure, isNotFound, removeTemporary, storeError } from "./_fs.ts";
import { O_NOFOLLOW } from "./_libc_extra.ts";

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
/** How many files `allocatedBytes` stats at once. */
const STAT_CONCURRENCY = 64;

/** A run of bytes of a block that holds data (outside it: holes, reading as zeros). */
export interface BlockExtent {
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** The error (logged) for a block file whose size is not the block size. */
export function blockFileCorrupt(
  path: string,
  size: number,
  expectedSize: number,
  logger: Logger,
): UkaiError {
  logger.error("block file has an unexpected size; kept as it is", { path, size, expectedSize });
  return new UkaiError(
    "BLOCK_FILE_CORRUPT",
    `Block file ${path} is ${size} bytes, expected ${expectedSize}: it is kept unchanged ` +
      `for inspection; quarantine it before writing a fresh copy`,
    { details: { path, size, expectedSize } },
  );
}

/**
 * Checks that `fd` is a regular file of `blockSize` bytes; otherwise closes
 * it and throws BLOCK_FILE_CORRUPT (or IO when fstat fails).
 */
export function checkBlockFileSize(
  fd: number,
  path: string,
  blockSize: number,
  logger: Logger,
): void {
  let size: number;
  try {
    const stat = fstat(fd);
    if ((stat.mode & S_IFMT) === S_IFREG && stat.size === blockSize) return;
    size = stat.size;
  } catch (error) {
    closeAfterFailure(fd);
    throw storeError(error, `Cannot stat ${path}`);
  }
  closeAfterFailure(fd);
  throw blockFileCorrupt(path, size, blockSize, logger);
}

/**
 * Creates the block file `path`: an empty sparse file of `blockSize` bytes
 * made under `path.new` and renamed into place, so a crash never leaves a
 * block file of another size. Returns its open descriptor.
 */
export function createBlockFile(path: string, blockSize: number): number {
  const temporary = `${path}.new`;
  let fd: number;
  try {
    fd = openFile(temporary, OpenFlags.RDWR | OpenFlags.CREAT | OpenFlags.TRUNC | O_NOFOLLOW);
  } catch (error) {
    throw storeError(error, `Cannot create ${temporary}`);
  }
  try {
    ftruncate(fd, blockSize);
    Deno.renameSync(temporary, path);
  } catch (error) {
    closeAfterFailure(fd);
    removeTemporary(temporary);
    throw storeError(error, `Cannot create ${path}`);
  }
  return fd;
}

/**
 * Checks that `extents` are ascending, non-overlapping, non-empty runs inside
 * a block of `blockSize` bytes.
 *
 * @throws {UkaiError} INVALID_ARGUMENT naming `what`
 */
export function validateExtents(
  extents: readonly BlockExtent[],
  blockSize: number,
  what: string,
): void {
  let end = 0;
  for (const { byteOffset, byteLength } of extents) {
    if (
      !Number.isSafeInteger(byteOffset) || !Number.isSafeInteger(byteLength) ||
      byteOffset < end || byteLength <= 0 || byteOffset + byteLength > blockSize
    ) {
      throw new UkaiError(
        "INVALID_ARGUMENT",
        `Cannot write ${what}: extent ${byteOffset}+${byteLength} is out of order or ` +
          `outside the block of ${blockSize} bytes`,
      );
    }
    end = byteOffset + byteLength;
  }
}

/** The data extents of the open block file `fd` (SEEK_DATA / SEEK_HOLE), ascending. */
export function scanDataExtents(fd: number, blockSize: number, path: string): BlockExtent[] {
  const extents: BlockExtent[] = [];
  let byteOffset = 0;
  try {
    while (byteOffset < blockSize) {
      const dataStart = seekData(fd, byteOffset, Whence.DATA);
      if (dataStart < 0 || dataStart >= blockSize) break;
      const holeStart = seekData(fd, dataStart, Whence.HOLE);
      const dataEnd = holeStart < 0 ? blockSize : Math.min(holeStart, blockSize);
      assert(dataEnd > dataStart, "SEEK_HOLE did not move past SEEK_DATA");
      extents.push({ byteOffset: dataStart, byteLength: dataEnd - dataStart });
      byteOffset = dataEnd;
    }
  } catch (error) {
    throw storeError(error, `Cannot map the data of ${path}`);
  }
  return extents;
}

/** Names of the regular files in `folder`; empty when the folder does not exist. */
export async function regularFileNames(folder: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (entry.isFile) names.push(entry.name);
    }
  } catch (error) {
    if (isNotFound(error)) return [];
    throw storeError(error, `Cannot list ${folder}`);
  }
  return names;
}

/** Sum of st_blocks × 512 over `paths` (files deleted meanwhile count 0). */
export async function allocatedBytesOf(paths: readonly string[]): Promise<number> {
  const allocated = async (path: string) => {
    try {
      return ((await Deno.lstat(path)).blocks ?? 0) * 512;
    } catch (error) {
      if (isNotFound(error)) return 0;
      throw storeError(error, `Cannot stat ${path}`);
    }
  };
  let total = 0;
  for (let start = 0; start < paths.length; start += STAT_CONCURRENCY) {
    const sizes = await Promise.all(paths.slice(start, start + STAT_CONCURRENCY).map(allocated));
    for (const size of sizes) total += size;
  }
  return total;
}
