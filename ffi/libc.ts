/**
 * The libc calls ukai needs, through `Deno.dlopen`: positional file I/O without
 * seeking, fallocate, fsync off the JS thread, poll, fcntl, umount2, statvfs,
 * and the malloc settings for large buffers.
 *
 * Synchronous calls (pread, pwrite, fallocate, …) cost about 1-2 µs on a
 * page-cached file, against ~44 µs for one await of Deno's async file API,
 * so the data path uses them directly. Calls that can block for long (fsync,
 * poll, umount2) are `nonblocking`: they run on a worker thread and return a
 * promise. errno is read right after each synchronous call; after a
 * nonblocking call it is gone (another thread), so those report EIO.
 *
 * Knows nothing of ukai.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { Errno, OsError } from "./errno.ts";

const symbols = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  pwrite: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  pread_pointer: {
    name: "pread",
    parameters: ["i32", "pointer", "usize", "i64"],
    result: "isize",
  },
  pwrite_pointer: {
    name: "pwrite",
    parameters: ["i32", "pointer", "usize", "i64"],
    result: "isize",
  },
  fallocate: { parameters: ["i32", "i32", "i64", "i64"], result: "i32" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  fstat: { parameters: ["i32", "buffer"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  fsync: { parameters: ["i32"], result: "i32", nonblocking: true },
  fdatasync: { parameters: ["i32"], result: "i32", nonblocking: true },
  sync_file_range: { parameters: ["i32", "i64", "i64", "u32"], result: "i32" },
  posix_fadvise: { parameters: ["i32", "i64", "i64", "i32"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  poll_sync: { name: "poll", parameters: ["buffer", "u64", "i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
  umount2: { parameters: ["buffer", "i32"], result: "i32", nonblocking: true },
  statvfs: { parameters: ["buffer", "buffer"], result: "i32" },
  mallopt: { parameters: ["i32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

let library: Deno.DynamicLibrary<typeof symbols> | undefined;

/** The loaded libc (opened once, kept for the life of the process). */
export function libc(): Deno.DynamicLibrary<typeof symbols>["symbols"] {
  library ??= Deno.dlopen("libc.so.6", symbols);
  return library.symbols;
}

/** open(2) flags (x86_64). */
export const OpenFlags = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  EXCL: 0o200,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  NONBLOCK: 0o4000,
  DSYNC: 0o10000,
  DIRECT: 0o40000,
  DIRECTORY: 0o200000,
  CLOEXEC: 0o2000000,
  SYNC: 0o4010000,
} as const;

/** fallocate(2) modes. */
export const FallocateMode = {
  KEEP_SIZE: 0x01,
  PUNCH_HOLE: 0x02,
  ZERO_RANGE: 0x10,
} as const;

/** lseek(2) whence values, including the sparse-file ones. */
export const Whence = { SET: 0, CUR: 1, END: 2, DATA: 3, HOLE: 4 } as const;

/** The calling thread's errno; valid only right after a synchronous call. */
export function lastErrno(): number {
  const pointer = libc().__errno_location();
  if (pointer === null) return Errno.EIO;
  return new Deno.UnsafePointerView(pointer).getInt32();
}

const encoder = new TextEncoder();

/** A NUL-terminated copy of `text`, for calls that take a C string. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(encoder.encode(text).length + 1);
  encoder.encodeInto(text, bytes);
  return bytes;
}

function check(result: number | bigint, syscall: string, subject?: string): number {
  const value = Number(result);
  if (value < 0) throw new OsError(syscall, lastErrno(), subject);
  return value;
}

/** open(2); throws OsError. */
export function openFile(path: string, flags: number, mode = 0o600): number {
  return check(libc().open(cString(path), flags | OpenFlags.CLOEXEC, mode), "open", path);
}

/** close(2); throws OsError. */
export function closeFile(fd: number): void {
  check(libc().close(fd), "close");
}

/** Reads up to `target.length` bytes at `offset` (short only at end of file). */
export function pread(fd: number, target: Uint8Array<ArrayBuffer>, offset: number): number {
  let done = 0;
  while (done < target.length) {
    const view = done === 0 ? target : target.subarray(done);
    const count = Number(libc().pread(fd, view, BigInt(view.length), BigInt(offset + done)));
    if (count < 0) {
      const errno = lastErrno();
      if (errno === Errno.EINTR) continue;
      throw new OsError("pread", errno);
    }
    if (count === 0) break;
    done += count;
  }
  return done;
}

/** Writes all of `source` at `offset`. */
export function pwrite(fd: number, source: Uint8Array<ArrayBuffer>, offset: number): void {
  let done = 0;
  while (done < source.length) {
    const view = done === 0 ? source : source.subarray(done);
    const count = Number(libc().pwrite(fd, view, BigInt(view.length), BigInt(offset + done)));
    if (count < 0) {
      const errno = lastErrno();
      if (errno === Errno.EINTR) continue;
      throw new OsError("pwrite", errno);
    }
    done += count;
  }
}

/** Writes `length` bytes from native memory at `pointer` to `offset` (no copy into JS). */
export function pwritePointer(
  fd: number,
  pointer: Deno.PointerObject,
  length: number,
  offset: number,
): void {
  let done = 0;
  while (done < length) {
    const from = done === 0 ? pointer : Deno.UnsafePointer.offset(pointer, done);
    if (from === null) throw new OsError("pwrite", Errno.EINVAL);
    const count = Number(
      libc().pwrite_pointer(fd, from, BigInt(length - done), BigInt(offset + done)),
    );
    if (count < 0) {
      const errno = lastErrno();
      if (errno === Errno.EINTR) continue;
      throw new OsError("pwrite", errno);
    }
    done += count;
  }
}

/** fallocate(2); throws OsError (EOPNOTSUPP when the filesystem cannot). */
export function fallocate(fd: number, mode: number, offset: number, length: number): void {
  check(libc().fallocate(fd, mode, BigInt(offset), BigInt(length)), "fallocate");
}

/**
 * Starts writeback of `fd`'s dirty pages (sync_file_range(2) with
 * SYNC_FILE_RANGE_WRITE) without waiting for it, so that a later fdatasync
 * finds less to write. Durability still needs fdatasync.
 */
export function startWriteback(fd: number): void {
  check(libc().sync_file_range(fd, 0n, 0n, 2), "sync_file_range");
}

/** posix_fadvise(2) advice: the range will be read soon. */
const POSIX_FADV_WILLNEED = 3;

/**
 * Starts reading `[offset, offset + length)` of `fd` into the page cache
 * (posix_fadvise POSIX_FADV_WILLNEED) without waiting for it, so that a later
 * pread finds it there. Several such reads proceed in parallel on the disk.
 */
export function adviseWillNeed(fd: number, offset: number, length: number): void {
  const error = libc().posix_fadvise(fd, BigInt(offset), BigInt(length), POSIX_FADV_WILLNEED);
  if (error !== 0) throw new OsError("posix_fadvise", error);
}

/** ftruncate(2). */
export function ftruncate(fd: number, length: number): void {
  check(libc().ftruncate(fd, BigInt(length)), "ftruncate");
}

/** What fstat reports that ukai uses. */
export interface FileStat {
  /** Size in bytes. */
  size: number;
  /** Allocated 512-byte sectors (sparse files report less than size). */
  sectors: number;
  /** File type and permission bits. */
  mode: number;
}

const statBuffer = new Uint8Array(144);
const statView = new DataView(statBuffer.buffer);

/** fstat(2) (x86_64 glibc `struct stat`: st_mode at 24, st_size at 48, st_blocks at 64). */
export function fstat(fd: number): FileStat {
  check(libc().fstat(fd, statBuffer), "fstat");
  return {
    mode: statView.getUint32(24, true),
    size: Number(statView.getBigInt64(48, true)),
    sectors: Number(statView.getBigInt64(64, true)),
  };
}

/**
 * lseek(2) for SEEK_DATA / SEEK_HOLE. Returns -1 when there is no more data
 * past `offset` (ENXIO), which is how sparse scans end.
 */
export function seekData(fd: number, offset: number, whence: number): number {
  const result = Number(libc().lseek(fd, BigInt(offset), whence));
  if (result >= 0) return result;
  const errno = lastErrno();
  if (errno === 6) return -1; // ENXIO: no data (or hole) at or after offset
  throw new OsError("lseek", errno);
}

/** fsync(2) on a worker thread. Rejects with OsError(EIO) on failure. */
export async function fsync(fd: number): Promise<void> {
  if ((await libc().fsync(fd)) < 0) throw new OsError("fsync", Errno.EIO);
}

/** fdatasync(2) on a worker thread. Rejects with OsError(EIO) on failure. */
export async function fdatasync(fd: number): Promise<void> {
  if ((await libc().fdatasync(fd)) < 0) throw new OsError("fdatasync", Errno.EIO);
}

/** poll(2) constants. */
export const PollEvents = { IN: 0x001, OUT: 0x004, ERR: 0x008, HUP: 0x010, NVAL: 0x020 } as const;

/**
 * Waits on a worker thread until `fd` has one of `events` or `timeoutMs` passes
 * (-1: forever). Returns the revents (0 on timeout).
 */
export async function pollFd(fd: number, events: number, timeoutMs: number): Promise<number> {
  const pollfd = new Uint8Array(8);
  const view = new DataView(pollfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, events, true);
  const result = await libc().poll(pollfd, 1n, timeoutMs);
  if (result < 0) return PollEvents.ERR;
  return view.getInt16(6, true);
}

/** Like {@link pollFd}, but blocks the calling thread (for worker threads with nothing else to do). */
export function pollFdNow(fd: number, events: number, timeoutMs: number): number {
  const pollfd = new Uint8Array(8);
  const view = new DataView(pollfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, events, true);
  const result = libc().poll_sync(pollfd, 1n, timeoutMs);
  if (result < 0) return PollEvents.ERR;
  return view.getInt16(6, true);
}

/** Puts `fd` into non-blocking mode. */
export function setNonBlocking(fd: number): void {
  const F_GETFL = 3;
  const F_SETFL = 4;
  const flags = check(libc().fcntl(fd, F_GETFL, 0), "fcntl");
  check(libc().fcntl(fd, F_SETFL, flags | OpenFlags.NONBLOCK), "fcntl");
}

/** `FUSE_DEV_IOC_CLONE` (`_IOR(229, 0, uint32_t)`). */
const FUSE_DEV_IOC_CLONE = 0x8004e500n;

/**
 * A new file description of the FUSE connection behind `sessionFd`: opens
 * /dev/fuse and attaches it to that connection (FUSE_DEV_IOC_CLONE). The
 * kernel hands each request to one reader of any of the connection's fds, and
 * takes its reply only on the fd that read it. Throws OsError.
 */
export function cloneFuseFd(sessionFd: number): number {
  const fd = check(
    libc().open(cString("/dev/fuse"), OpenFlags.RDWR | OpenFlags.CLOEXEC, 0),
    "open",
    "/dev/fuse",
  );
  const source = new Int32Array([sessionFd]);
  if (libc().ioctl(fd, FUSE_DEV_IOC_CLONE, new Uint8Array(source.buffer)) < 0) {
    const errno = lastErrno();
    libc().close(fd);
    throw new OsError("ioctl(FUSE_DEV_IOC_CLONE)", errno);
  }
  return fd;
}

/** The address of libc function `name` (for C structs of function pointers). */
export function libcFunction(name: string): Deno.PointerObject {
  const pointer = libc().dlsym(null, cString(name));
  assert(pointer !== null, `libc has no ${name}`);
  return pointer;
}

/** umount2(2) on a worker thread; resolves to 0 or rejects with OsError(EBUSY/EINVAL/…). */
export async function umount2(path: string, flags: number): Promise<void> {
  const result = await libc().umount2(cString(path), flags);
  if (result < 0) throw new OsError("umount2", Errno.EBUSY, path);
}

/** mallopt(3) parameters. */
const MallocOption = { TRIM_THRESHOLD: -1, MMAP_THRESHOLD: -3 } as const;

/**
 * Keeps allocations up to `mmapThresholdBytes` on the heap, and up to
 * `trimThresholdBytes` of freed memory at its top, instead of mapping and
 * unmapping each large buffer (ArrayBuffers come from malloc). A fresh mapping
 * costs a page fault per 4 KiB on first touch and a TLB shootdown when it is
 * unmapped: ~350 µs for 1 MiB here, against ~125 µs from the heap. glibc's
 * own threshold (128 KiB at start) adapts upwards only after frees of mapped
 * chunks, and a trim hands the heap's top back to the kernel.
 *
 * @throws {Error} when glibc refuses a value
 */
export function keepLargeAllocationsOnHeap(
  mmapThresholdBytes: number,
  trimThresholdBytes: number,
): void {
  setMallocOption(MallocOption.MMAP_THRESHOLD, mmapThresholdBytes);
  setMallocOption(MallocOption.TRIM_THRESHOLD, trimThresholdBytes);
}

function setMallocOption(option: number, value: number): void {
  if (libc().mallopt(option, value) !== 1) throw new Error(`mallopt(${option}, ${value}) refused`);
}

/** Filesystem capacity as statvfs reports it, in bytes and inodes. */
export interface FilesystemStat {
  /** Preferred I/O block size (`f_bsize`). */
  blockSize: number;
  /** The unit of the block counts (`f_frsize`). */
  fragmentSize: number;
  /** Size of the filesystem, in fragments. */
  blocks: number;
  /** Free fragments. */
  blocksFree: number;
  /** Free fragments for unprivileged users. */
  blocksAvailable: number;
  /** Inodes. */
  files: number;
  /** Free inodes. */
  filesFree: number;
  /** Longest file name. */
  nameMax: number;
}

/** statvfs(3) (x86_64 layout, 112 bytes). */
export function statvfs(path: string): FilesystemStat {
  const buffer = new Uint8Array(112);
  check(libc().statvfs(cString(path), buffer), "statvfs", path);
  const view = new DataView(buffer.buffer);
  const field = (offset: number) => Number(view.getBigUint64(offset, true));
  return {
    blockSize: field(0),
    fragmentSize: field(8),
    blocks: field(16),
    blocksFree: field(24),
    blocksAvailable: field(32),
    files: field(40),
    filesFree: field(48),
    nameMax: field(80),
  };
}
