/** Tests of writes in pieces: the pieces tile the range, and the bytes land where they belong. */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { closeFile, openFile, OpenFlags, pread } from "../ffi/libc.ts";
import {
  forEachPiece,
  WRITE_PIECE_BYTES,
  writeInPieces,
  writePointerInPieces,
} from "./_write_pieces.ts";
import { pattern, temporaryFolder } from "./_testing.ts";

function piecesOf(byteLength: number, pieceBytes?: number): [number, number][] {
  const pieces: [number, number][] = [];
  forEachPiece(byteLength, (at, length) => pieces.push([at, length]), pieceBytes);
  return pieces;
}

Deno.test("pieces tile the range in order, none longer than the piece size", () => {
  assertEquals(piecesOf(0), []);
  assertEquals(piecesOf(4096), [[0, 4096]]);
  assertEquals(piecesOf(10, 4), [[0, 4], [4, 4], [8, 2]]);
  assertEquals(piecesOf(12, 4), [[0, 4], [4, 4], [8, 4]]);
  const mebibyte = piecesOf(1024 * 1024);
  assertEquals(mebibyte.length, 1024 * 1024 / WRITE_PIECE_BYTES);
  assert(mebibyte.every(([at, length], index) => at === index * WRITE_PIECE_BYTES && length > 0));
  assert(mebibyte.every(([, length]) => length <= WRITE_PIECE_BYTES));
});

Deno.test("a write of many pieces at an unaligned offset reads back whole", async () => {
  await using folder = await temporaryFolder();
  const fd = openFile(`${folder.path}/file`, OpenFlags.RDWR | OpenFlags.CREAT);
  try {
    const first = pattern(3 * WRITE_PIECE_BYTES + 123, 1);
    const second = pattern(2 * WRITE_PIECE_BYTES + 77, 2);
    writeInPieces(fd, first, 511);
    const pointer = Deno.UnsafePointer.of(second);
    assert(pointer !== null);
    writePointerInPieces(fd, pointer, second.length, 511 + first.length);
    const back = new Uint8Array(511 + first.length + second.length);
    assertEquals(pread(fd, back, 0), back.length);
    assertEquals(back.subarray(0, 511), new Uint8Array(511));
    assertEquals(back.subarray(511, 511 + first.length), first);
    assertEquals(back.subarray(511 + first.length), second);
  } finally {
    closeFile(fd);
  }
});
