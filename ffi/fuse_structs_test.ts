/**
 * Struct encoding and decoding at the offsets of fuse_layout.ts: attributes,
 * entries, open replies, setattr changes, and 64-bit values out of range.
 *
 * @module
 */

import { FileInfoBits, FileInfoLayout, SetAttr, StatLayout } from "./fuse_layout.ts";
import {
  OutOfRangeError,
  readAttributeChanges,
  safeNumber,
  writeOpenReply,
  writeStat,
} from "./fuse_structs.ts";
import { expectEqual } from "./testdata/expect.ts";

Deno.test("attributes land at the struct stat offsets", () => {
  const bytes = new Uint8Array(StatLayout.byteLength);
  const view = new DataView(bytes.buffer);
  writeStat(view, 0, {
    inode: 2 ** 40 + 5,
    mode: 0o100644,
    nlink: 1,
    uid: 7,
    gid: 8,
    size: 3 * 2 ** 32,
    blocks: 24,
    atimeMs: 1500.25,
    mtimeMs: 2000,
    ctimeMs: 0,
  });
  expectEqual(Number(view.getBigUint64(StatLayout.ino, true)), 2 ** 40 + 5, "ino");
  expectEqual(view.getUint32(StatLayout.mode, true), 0o100644, "mode");
  expectEqual([view.getUint32(StatLayout.uid, true), view.getUint32(StatLayout.gid, true)], [7, 8]);
  expectEqual(Number(view.getBigInt64(StatLayout.size, true)), 3 * 2 ** 32, "size");
  expectEqual(Number(view.getBigInt64(StatLayout.blocks, true)), 24, "blocks");
  expectEqual(Number(view.getBigInt64(StatLayout.atime, true)), 1, "atime seconds");
  expectEqual(Number(view.getBigInt64(StatLayout.atime + 8, true)), 500_250_000, "atime ns");
});

Deno.test("open replies set fh and the one-bit flags", () => {
  const bytes = new Uint8Array(FileInfoLayout.byteLength);
  const view = new DataView(bytes.buffer);
  writeOpenReply(view, { fileHandle: 99, directIo: true, nonSeekable: true });
  expectEqual(Number(view.getBigUint64(FileInfoLayout.fh, true)), 99, "fh");
  expectEqual(
    view.getUint32(FileInfoLayout.bitfield, true),
    FileInfoBits.directIo | FileInfoBits.nonseekable,
    "bits",
  );
});

Deno.test("setattr changes are read only for the fields to_set names", () => {
  const bytes = new Uint8Array(StatLayout.byteLength);
  const view = new DataView(bytes.buffer);
  view.setBigInt64(StatLayout.size, 4096n, true);
  view.setUint32(StatLayout.mode, 0o600, true);
  view.setBigInt64(StatLayout.mtime, 3n, true);
  const stat = Deno.UnsafePointer.of(bytes)!;
  expectEqual(readAttributeChanges(stat, SetAttr.size), { size: 4096 });
  expectEqual(readAttributeChanges(stat, SetAttr.mode | SetAttr.mtime | SetAttr.atimeNow), {
    mode: 0o600,
    atimeMs: "now",
    mtimeMs: 3000,
  });
  view.setBigInt64(StatLayout.size, 2n ** 60n, true);
  let threw = false;
  try {
    readAttributeChanges(stat, SetAttr.size);
  } catch (error) {
    threw = error instanceof OutOfRangeError;
  }
  expectEqual(threw, true, "a size past 2^53 is out of range");
});

Deno.test("64-bit values beyond the safe integers are out of range, not asserted", () => {
  expectEqual(safeNumber(2n ** 53n - 1n, "offset"), Number.MAX_SAFE_INTEGER);
  for (const value of [2n ** 53n, -1n]) {
    let threw = false;
    try {
      safeNumber(value, "offset");
    } catch (error) {
      threw = error instanceof OutOfRangeError;
    }
    expectEqual(threw, true, `${value} out of range`);
  }
});
