/**
 * Linux errno numbers used by ukai's FFI layer, and `OsError`, the error a
 * failed system call becomes. Knows nothing of ukai.
 *
 * @module
 */

/** Linux x86_64 errno values. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  ERANGE: 34,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ENODATA: 61,
  EPROTO: 71,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  ECONNABORTED: 103,
  ESHUTDOWN: 108,
  ETIMEDOUT: 110,
  ENOTCONN: 107,
} as const;

const NAME_BY_NUMBER = new Map<number, string>(
  Object.entries(Errno).map(([name, value]) => [value, name]),
);

/** The symbolic name of an errno (`EIO`), or `errno N` when unknown. */
export function errnoName(errno: number): string {
  return NAME_BY_NUMBER.get(errno) ?? `errno ${errno}`;
}

/** A failed system call. */
export class OsError extends Error {
  /** Always "OsError". */
  override name = "OsError";
  /** The errno the call failed with (an `Errno` value). */
  readonly errno: number;
  /** The call that failed (`pread`, `umount2`, …). */
  readonly syscall: string;

  /** `subject` (a path, usually) goes into the message. */
  constructor(syscall: string, errno: number, subject?: string) {
    super(`${syscall}${subject === undefined ? "" : ` ${subject}`} failed: ${errnoName(errno)}`);
    this.errno = errno;
    this.syscall = syscall;
  }
}
