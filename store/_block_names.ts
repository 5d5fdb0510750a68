/**
 * Names on disk for image folders and block files, and the validation that
 * makes path tricks impossible: an image key is a single safe path component
 * and a block index is a non-negative safe integer, so every name the store
 * builds stays inside its image folder.
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";

/** Longest image key: an image name (≤ 128) plus a separator and a uid, well under NAME_MAX. */
export const IMAGE_KEY_LENGTH_MAX = 200;

/** Letters, digits, `.`, `_`, `-`; starts with a letter or digit (so never `.` or `..`). */
const IMAGE_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A block file is named by its index, zero-padded to at least 8 digits. */
const BLOCK_FILE_PATTERN = /^[0-9]{8,16}$/;

/**
 * Checks that `imageKey` may name an image folder.
 *
 * @throws {UkaiError} INVALID_ARGUMENT for an empty, too long, `..`-containing
 * or otherwise unsafe key
 */
export function validateImageKey(imageKey: string): void {
  if (
    imageKey.length === 0 || imageKey.length > IMAGE_KEY_LENGTH_MAX ||
    !IMAGE_KEY_PATTERN.test(imageKey) || imageKey.includes("..")
  ) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Cannot use image key ${JSON.stringify(imageKey.slice(0, IMAGE_KEY_LENGTH_MAX + 1))}: ` +
        `expected 1-${IMAGE_KEY_LENGTH_MAX} letters, digits, ".", "_" or "-", ` +
        `starting with a letter or digit, without ".."`,
    );
  }
}

/** Whether `name` (a folder entry) is a valid image key. */
export function isImageKey(name: string): boolean {
  return name.length <= IMAGE_KEY_LENGTH_MAX && IMAGE_KEY_PATTERN.test(name) &&
    !name.includes("..");
}

/**
 * Checks that `blockIndex` is a non-negative safe integer.
 *
 * @throws {UkaiError} INVALID_ARGUMENT otherwise
 */
export function validateBlockIndex(blockIndex: number): void {
  if (!Number.isSafeInteger(blockIndex) || blockIndex < 0) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Cannot use block index ${blockIndex}: expected a non-negative integer`,
    );
  }
}

/** The file name of block `blockIndex` (`%08d`). */
export function blockFileName(blockIndex: number): string {
  return String(blockIndex).padStart(8, "0");
}

/** The block index a folder entry names, or null when it is not a block file name. */
export function parseBlockFileName(name: string): number | null {
  if (!BLOCK_FILE_PATTERN.test(name)) return null;
  const blockIndex = Number(name);
  // Only the canonical spelling counts: "000000001" is not block 1's file.
  return Number.isSafeInteger(blockIndex) && blockFileName(blockIndex) === name ? blockIndex : null;
}
