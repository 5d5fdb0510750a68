/**
 * Every size, offset, slot index and flag value the libfuse3 bindings rely on,
 * for x86_64 Linux, glibc and libfuse 3.14 (headers compiled with
 * `FUSE_USE_VERSION 312`). Nothing else in ffi/ writes a literal offset.
 *
 * `fuse_layout_test.ts` compiles `testdata/fuse_layout_probe.c` against
 * `<fuse3/fuse_lowlevel.h>` and compares every entry of {@link LAYOUTS} and
 * {@link CONSTANTS} with what the C compiler says, so a wrong number here fails
 * a test instead of corrupting memory. Field names are the C names in camelCase
 * without their prefix (`st_mode` → `mode`); `byteLength` is the struct's size.
 *
 * @module
 */

/** glibc `struct stat` (x86_64). Time fields are `struct timespec` (seconds, then nanoseconds). */
export const StatLayout = {
  byteLength: 144,
  dev: 0,
  ino: 8,
  nlink: 16,
  mode: 24,
  uid: 28,
  gid: 32,
  rdev: 40,
  size: 48,
  blksize: 56,
  blocks: 64,
  atime: 72,
  mtime: 88,
  ctime: 104,
} as const;

/** `struct timespec`: seconds then nanoseconds, both 64-bit. */
export const TimespecLayout = { byteLength: 16, sec: 0, nsec: 8 } as const;

/** glibc `struct statvfs` (x86_64). */
export const StatvfsLayout = {
  byteLength: 112,
  bsize: 0,
  frsize: 8,
  blocks: 16,
  bfree: 24,
  bavail: 32,
  files: 40,
  ffree: 48,
  favail: 56,
  fsid: 64,
  flag: 72,
  namemax: 80,
} as const;

/**
 * `struct fuse_file_info`. The one-bit fields (`direct_io`, `keep_cache`, …)
 * share the 32-bit word at `bitfield`; {@link FileInfoBits} holds their masks.
 */
export const FileInfoLayout = {
  byteLength: 40,
  flags: 0,
  bitfield: 4,
  fh: 16,
  lockOwner: 24,
  pollEvents: 32,
} as const;

/** Masks of the one-bit fields in the word at {@link FileInfoLayout.bitfield}. */
export const FileInfoBits = {
  writepage: 0x01,
  directIo: 0x02,
  keepCache: 0x04,
  flush: 0x08,
  nonseekable: 0x10,
  flockRelease: 0x20,
  cacheReaddir: 0x40,
  noflush: 0x80,
} as const;

/** `struct fuse_entry_param`: the reply to lookup, mknod, mkdir, link, symlink and create. */
export const EntryParamLayout = {
  byteLength: 176,
  ino: 0,
  generation: 8,
  attr: 16,
  attrTimeout: 160,
  entryTimeout: 168,
} as const;

/** `struct fuse_conn_info`, handed to the `init` operation. */
export const ConnInfoLayout = {
  byteLength: 128,
  protoMajor: 0,
  protoMinor: 4,
  maxWrite: 8,
  maxRead: 12,
  maxReadahead: 16,
  capable: 20,
  want: 24,
  maxBackground: 28,
  congestionThreshold: 32,
  timeGran: 36,
} as const;

/** `struct fuse_buf`: what `fuse_session_receive_buf` fills and `fuse_session_process_buf` reads. */
export const BufLayout = {
  byteLength: 40,
  size: 0,
  flags: 8,
  mem: 16,
  fd: 24,
  pos: 32,
} as const;

/** `struct fuse_ctx`: the caller of a request. */
export const CtxLayout = { byteLength: 16, uid: 0, gid: 4, pid: 8, umask: 12 } as const;

/** `struct fuse_args`: the argument vector `fuse_session_new` parses. */
export const ArgsLayout = { byteLength: 24, argc: 0, argv: 8, allocated: 16 } as const;

/** `struct fuse_forget_data`: one element of a `forget_multi` batch. */
export const ForgetDataLayout = { byteLength: 16, ino: 0, nlookup: 8 } as const;

/** `struct iovec`: one piece of a gathered reply (`fuse_reply_iov`). */
export const IovecLayout = { byteLength: 16, base: 0, length: 8 } as const;

/**
 * Slot of each operation in `struct fuse_lowlevel_ops`, an array of 44
 * function pointers in header order (the slot's byte offset is 8 × index).
 */
export const OperationSlot = {
  init: 0,
  destroy: 1,
  lookup: 2,
  forget: 3,
  getattr: 4,
  setattr: 5,
  readlink: 6,
  mknod: 7,
  mkdir: 8,
  unlink: 9,
  rmdir: 10,
  symlink: 11,
  rename: 12,
  link: 13,
  open: 14,
  read: 15,
  write: 16,
  flush: 17,
  release: 18,
  fsync: 19,
  opendir: 20,
  readdir: 21,
  releasedir: 22,
  fsyncdir: 23,
  statfs: 24,
  setxattr: 25,
  getxattr: 26,
  listxattr: 27,
  removexattr: 28,
  access: 29,
  create: 30,
  getlk: 31,
  setlk: 32,
  bmap: 33,
  ioctl: 34,
  poll: 35,
  writeBuf: 36,
  retrieveReply: 37,
  forgetMulti: 38,
  flock: 39,
  fallocate: 40,
  readdirplus: 41,
  copyFileRange: 42,
  lseek: 43,
} as const;

/** `struct fuse_lowlevel_ops`: 44 function pointers. */
export const LowlevelOpsLayout = { byteLength: 352, slotBytes: 8 } as const;

/** `FUSE_CAP_*`: capability bits in `fuse_conn_info.capable` / `.want`. */
export const Capability = {
  asyncRead: 1 << 0,
  posixLocks: 1 << 1,
  atomicOTrunc: 1 << 3,
  exportSupport: 1 << 4,
  dontMask: 1 << 6,
  spliceWrite: 1 << 7,
  spliceMove: 1 << 8,
  spliceRead: 1 << 9,
  flockLocks: 1 << 10,
  ioctlDir: 1 << 11,
  autoInvalData: 1 << 12,
  readdirplus: 1 << 13,
  readdirplusAuto: 1 << 14,
  asyncDio: 1 << 15,
  writebackCache: 1 << 16,
  noOpenSupport: 1 << 17,
  parallelDirops: 1 << 18,
  posixAcl: 1 << 19,
  handleKillpriv: 1 << 20,
  cacheSymlinks: 1 << 23,
  noOpendirSupport: 1 << 24,
  explicitInvalData: 1 << 25,
  expireOnly: 1 << 26,
} as const;

/** `FUSE_SET_ATTR_*`: which fields a `setattr` request changes. */
export const SetAttr = {
  mode: 1 << 0,
  uid: 1 << 1,
  gid: 1 << 2,
  size: 1 << 3,
  atime: 1 << 4,
  mtime: 1 << 5,
  atimeNow: 1 << 7,
  mtimeNow: 1 << 8,
  force: 1 << 9,
  ctime: 1 << 10,
  killSuid: 1 << 11,
  killSgid: 1 << 12,
  file: 1 << 13,
  killPriv: 1 << 14,
  open: 1 << 15,
  timesSet: 1 << 16,
  touch: 1 << 17,
} as const;

/**
 * Size of every receive buffer: libfuse 3.14 reads `se->bufsize` bytes into
 * `fuse_buf.mem` whatever `fuse_buf.size` says, and sets it at session creation
 * to FUSE_MAX_MAX_PAGES (256) pages + FUSE_BUFFER_HEADER_SIZE (4096), i.e.
 * 1 MiB of payload plus room for the request header. (Both are private to
 * libfuse, so the layout test cannot check this one.)
 */
export const RECEIVE_BUFFER_BYTES: number = 256 * 4096 + 4096;

/** The largest READ and WRITE payload a session negotiates (1 MiB). */
export const MAX_TRANSFER_BYTES: number = 256 * 4096;

/** Every layout, by the name the C probe prints before each field (`stat.mode`). */
export const LAYOUTS = {
  stat: StatLayout,
  timespec: TimespecLayout,
  statvfs: StatvfsLayout,
  fileInfo: FileInfoLayout,
  fileInfoBits: FileInfoBits,
  entryParam: EntryParamLayout,
  connInfo: ConnInfoLayout,
  buf: BufLayout,
  ctx: CtxLayout,
  args: ArgsLayout,
  forgetData: ForgetDataLayout,
  iovec: IovecLayout,
  operationSlot: OperationSlot,
  lowlevelOps: LowlevelOpsLayout,
} as const;

/** Every constant, by the name the C probe prints before each value (`capability.asyncRead`). */
export const CONSTANTS = {
  capability: Capability,
  setAttr: SetAttr,
} as const;
