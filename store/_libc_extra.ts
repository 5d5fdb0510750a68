/**
 * libc pieces the store needs that `ffi/libc.ts` does not offer yet (to move
 * there by the ffi owner): open(2) reporting failure as a value, and O_NOFOLLOW.
 *
 * @module
 */

import { cString, lastErrno, libc, OpenFlags } from "../ffi/libc.ts";

/** O_NOFOLLOW (x86_64): opening a symlink fails with ELOOP instead of following it. */
export const O_NOFOLLOW = 0o400000;

/**
 * open(2) that returns the descriptor, or the negated errno on failure,
 * without throwing: a missing block file is an ordinary outcome on the read
 * path, and building an exception costs ~10 µs against ~2 µs for the call.
 */
export function openOrErrno(path: string, flags: number, mode = 0o600): number {
  const fd = libc().open(cString(path), flags | OpenFlags.CLOEXEC, mode);
  return fd >= 0 ? fd : -lastErrno();
}
