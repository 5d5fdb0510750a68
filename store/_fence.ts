/**
 * The on-disk form of an image's fencing epoch: 16 bytes, a magic number, the
 * epoch as a 64-bit little-endian integer and a CRC-32 of both, so a damaged
 * file is detected rather than read as a wrong epoch.
 *
 * @module
 */

import { crc32 } from "../base/checksum.ts";
import { UkaiError } from "../base/errors.ts";

/** Name of the fence file inside an image folder (never a block file name). */
export const FENCE_FILE_NAME = "fence";

/** "UKFE" read as a little-endian u32. */
const FENCE_MAGIC = 0x45464b55;
const FENCE_BYTES = 16;

/** The file content for `epoch` (a non-negative safe integer). */
export function encodeFence(epoch: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(FENCE_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, FENCE_MAGIC, true);
  view.setBigUint64(4, BigInt(epoch), true);
  view.setUint32(12, crc32(bytes.subarray(0, 12)), true);
  return bytes;
}

/**
 * The epoch stored in a fence file's content.
 *
 * @throws {UkaiError} CHECKSUM_MISMATCH when the content is not a valid fence record
 */
export function decodeFence(bytes: Uint8Array, path: string): number {
  const damaged = (reason: string) =>
    new UkaiError("CHECKSUM_MISMATCH", `Fence file ${path} is damaged: ${reason}`, {
      details: { path },
    });
  if (bytes.length !== FENCE_BYTES) {
    throw damaged(`it is ${bytes.length} bytes, expected ${FENCE_BYTES}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== FENCE_MAGIC) throw damaged("bad magic number");
  if (view.getUint32(12, true) !== crc32(bytes.subarray(0, 12))) throw damaged("bad checksum");
  const epoch = view.getBigUint64(4, true);
  if (epoch > BigInt(Number.MAX_SAFE_INTEGER)) throw damaged("epoch beyond 2^53");
  return Number(epoch);
}
