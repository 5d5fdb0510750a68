/**
 * The plain data a FUSE filesystem exchanges with ffi/: attributes, directory
 * entries, open replies, setattr changes, caller credentials and the
 * negotiated connection. Inode numbers, sizes, offsets and file handles are
 * safe integers (the bindings assert it); times are milliseconds since the
 * epoch. Knows nothing of ukai.
 *
 * @module
 */

/** What `stat` shows for a file (`struct stat`). */
export interface FileAttributes {
  /** Inode number. */
  inode: number;
  /** File type and permission bits (`S_IFREG | 0o644`). */
  mode: number;
  /** Number of hard links. */
  nlink: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Size in bytes. */
  size: number;
  /** Allocated 512-byte sectors (qemu-img and du read it). */
  blocks: number;
  /** Preferred I/O size; 0 lets the kernel choose. */
  blockSize?: number;
  /** Device number, for device nodes. */
  rdev?: number;
  /** Last access, ms since the epoch. */
  atimeMs: number;
  /** Last modification, ms since the epoch. */
  mtimeMs: number;
  /** Last status change, ms since the epoch. */
  ctimeMs: number;
}

/** The reply to lookup (and mknod, mkdir, link, symlink, create): a name bound to an inode. */
export interface EntryReply {
  /** The inode the name refers to; its lookup count rises by one. */
  inode: number;
  /** Generation of the inode number (0 unless inode numbers are reused). */
  generation?: number;
  /** The inode's attributes. */
  attributes: FileAttributes;
  /** How long the kernel may cache the attributes, in seconds (default 1). */
  attributeTimeout?: number;
  /** How long the kernel may cache the name, in seconds (default 1). */
  entryTimeout?: number;
}

/** The reply to open and opendir. */
export interface OpenReply {
  /** A handle the filesystem chooses; later requests on this open file carry it. */
  fileHandle?: number;
  /** Bypass the page cache: every read and write reaches the filesystem. */
  directIo?: boolean;
  /** Keep data cached from earlier opens (off: the cache is dropped at open). */
  keepCache?: boolean;
  /** The file does not support seeking. */
  nonSeekable?: boolean;
}

/** What a setattr request changes; absent fields stay as they are. */
export interface AttributeChanges {
  /** New permission bits (and type bits, which must not change). */
  mode?: number;
  /** New owner. */
  uid?: number;
  /** New group. */
  gid?: number;
  /** New size (truncate or extend). */
  size?: number;
  /** New access time in ms, or "now". */
  atimeMs?: number | "now";
  /** New modification time in ms, or "now". */
  mtimeMs?: number | "now";
  /** New status-change time in ms. */
  ctimeMs?: number;
}

/** Who sent a request (`struct fuse_ctx`). */
export interface Credentials {
  /** User id of the calling process. */
  uid: number;
  /** Group id of the calling process. */
  gid: number;
  /** Thread id of the calling process. */
  pid: number;
  /** Umask of the calling process. */
  umask: number;
}

/** The connection as negotiated in `init` (`struct fuse_conn_info`). */
export interface ConnectionInfo {
  /** FUSE protocol major version (7). */
  protocolMajor: number;
  /** FUSE protocol minor version the kernel speaks. */
  protocolMinor: number;
  /** Largest WRITE payload, bytes. */
  maxWrite: number;
  /** Largest READ, bytes. */
  maxRead: number;
  /** Largest readahead, bytes. */
  maxReadahead: number;
  /** Most background requests (async reads and direct I/O) the kernel keeps in flight. */
  maxBackground: number;
  /** Background requests above which the kernel marks the filesystem congested. */
  congestionThreshold: number;
  /** Capabilities the kernel offers (`Capability` bits). */
  capable: number;
  /** Capabilities in use (`Capability` bits). */
  want: number;
}
