/**
 * File-system helpers shared by the store: turning OS failures into
 * `UkaiError`s (a full disk is NO_SPACE, anything else IO), fsync of a
 * folder, and removal that tolerates a missing file.
 *
 * @module
 */

import { describeError, UkaiError } from "../base/errors.ts";
import { Errno, OsError } from "../ffi/errno.ts";
import { closeFile, fsync, openFile, OpenFlags } from "../ffi/libc.ts";

/** EDQUOT: a disk quota is exhausted; for ukai the same as a full disk. */
const EDQUOT = 122;

/** The errno behind an OS failure: from `OsError`, or from a Deno error's `code`. */
function errnoOf(error: unknown): number | undefined {
  if (error instanceof OsError) return error.errno;
  if (error instanceof Error && "code" in error) {
    if (error.code === "ENOSPC") return Errno.ENOSPC;
    if (error.code === "EDQUOT") return EDQUOT;
    if (error.code === "ENOENT") return Errno.ENOENT;
  }
  return undefined;
}

/** Whether `error` says that a file or folder does not exist. */
export function isNotFound(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound || errnoOf(error) === Errno.ENOENT;
}

/**
 * The `UkaiError` for a failed file operation: NO_SPACE for ENOSPC/EDQUOT,
 * IO for every other OS failure (the original error is the cause).
 * A `UkaiError` passes through unchanged.
 */
export function storeError(error: unknown, action: string): UkaiError {
  if (error instanceof UkaiError) return error;
  const errno = errnoOf(error);
  if (errno === Errno.ENOSPC || errno === EDQUOT) {
    return new UkaiError("NO_SPACE", `${action}: no space left on device`, { cause: error });
  }
  return new UkaiError("IO", `${action}: ${describeError(error)}`, { cause: error });
}

/**
 * fsync(2) of a folder, which makes the creation, rename or removal of the
 * names inside it durable.
 *
 * @throws {UkaiError} IO when the folder cannot be opened or synced
 */
export async function fsyncDirectory(path: string): Promise<void> {
  let fd: number;
  try {
    fd = openFile(path, OpenFlags.RDONLY | OpenFlags.DIRECTORY);
  } catch (error) {
    throw storeError(error, `Cannot open folder ${path} to fsync it`);
  }
  try {
    await fsync(fd);
  } catch (error) {
    throw storeError(error, `Cannot fsync folder ${path}`);
  } finally {
    closeFile(fd);
  }
}

/** Removes a file if it exists; returns whether it did. Other failures throw. */
export function removeFileIfPresent(path: string): boolean {
  try {
    Deno.removeSync(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/**
 * Removes a temporary file after a failure, best effort: the original failure
 * is what the caller reports, and a leftover temporary name is harmless (it is
 * reused or ignored). Returns whether the file is gone.
 */
export function removeTemporary(path: string): boolean {
  try {
    Deno.removeSync(path);
    return true;
  } catch (error) {
    return isNotFound(error);
  }
}

/**
 * Closes `fd` on a failure path. A close error there is secondary to the
 * failure being reported, so it is not thrown; returns whether it closed.
 */
export function closeAfterFailure(fd: number): boolean {
  try {
    closeFile(fd);
    return true;
  } catch {
    return false;
  }
}

/** Whether something exists at `path` (without following a final symlink). */
export function pathExists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw storeError(error, `Cannot inspect ${path}`);
  }
}

/** The folder part of a path (`"."` for a bare name). */
export function folderOf(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash === -1) return ".";
  return slash === 0 ? "/" : path.slice(0, slash);
}
