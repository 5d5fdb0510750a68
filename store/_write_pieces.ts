/**
 * Buffered writes to block files in pieces of at most 64 KiB.
 *
 * The page cache sizes a new folio by the write that creates it. On ext4 with
 * large folios (Linux 6.x), one 1 MiB pwrite leaves 1 MiB folios behind, and
 * every later 4 KiB write into such a folio walks all of its buffer heads:
 * measured here (kernel 6.18, ext4), a random 4 KiB pwrite costs ~2 µs into
 * 4 KiB folios, ~3.5 µs into 64 KiB ones and 10–14 µs into 1 MiB ones, while
 * sequential writes in 64 KiB pieces still run at 3–8 GB/s, above what a FUSE
 * mount delivers. A VM disk mixes both (a sequential copy, then random
 * writes), so block files are written in 64 KiB pieces. 16 KiB pieces were
 * tried through the mount: no gain for 4 KiB random writes at depth 16 (45.1k
 * IOPS, 64 KiB pieces 45.4k; means of three runs) and 12% less throughput for
 * 1 MiB sequential writes.
 *
 * @module
 */

import { Errno, OsError } from "../ffi/errno.ts";
import { pwrite, pwritePointer } from "../ffi/libc.ts";

/** Largest piece handed to one buffered pwrite of a block file. */
export const WRITE_PIECE_BYTES = 64 * 1024;

/** Calls `write(at, length)` for consecutive pieces of at most `pieceBytes` covering `[0, byteLength)`. */
export function forEachPiece(
  byteLength: number,
  write: (at: number, length: number) => void,
  pieceBytes = WRITE_PIECE_BYTES,
): void {
  for (let at = 0; at < byteLength; at += pieceBytes) {
    write(at, Math.min(pieceBytes, byteLength - at));
  }
}

/** Writes all of `source` to `fd` at `offset`, in pieces. */
export function writeInPieces(fd: number, source: Uint8Array<ArrayBuffer>, offset: number): void {
  if (source.length <= WRITE_PIECE_BYTES) return pwrite(fd, source, offset);
  forEachPiece(source.length, (at, length) => {
    pwrite(fd, source.subarray(at, at + length), offset + at);
  });
}

/** Writes `byteLength` bytes of native memory at `pointer` to `fd` at `offset`, in pieces. */
export function writePointerInPieces(
  fd: number,
  pointer: Deno.PointerObject,
  byteLength: number,
  offset: number,
): void {
  forEachPiece(byteLength, (at, length) => {
    const from = at === 0 ? pointer : Deno.UnsafePointer.offset(pointer, at);
    if (from === null) throw new OsError("pwrite", Errno.EINVAL);
    pwritePointer(fd, from, length, offset + at);
  });
}
