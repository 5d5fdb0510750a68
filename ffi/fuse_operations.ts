/**
 * The interface a filesystem implements to serve a FUSE mount: one optional
 * handler per low-level operation. A handler receives its request object and
 * the decoded arguments, and answers through the request exactly once, right
 * away or later (it may be `async`). A handler that throws, or whose promise
 * rejects, gets EIO sent for it and the error logged. Operations without a
 * handler get libfuse's default (ENOSYS for most; success for open, opendir,
 * release and releasedir). Knows nothing of ukai.
 *
 * @module
 */

import type {
  AttributesRequest,
  CreateRequest,
  EntryRequest,
  OpenRequest,
  ReaddirRequest,
  ReadRequest,
  StatfsRequest,
  StatusRequest,
  WriteRequest,
} from "./fuse_request.ts";
import type { AttributeChanges, ConnectionInfo } from "./fuse_types.ts";

/** What a request handler returns: nothing, or a promise (rejections reply EIO). */
export type HandlerResult = void | Promise<void>;

/**
 * A FUSE filesystem. Inodes, sizes, offsets and file handles are numbers;
 * `fileHandle` is what the open reply chose (0 if none).
 */
export interface FuseOperations {
  /** The connection is negotiated (before any other request). */
  init?(connection: ConnectionInfo): void;
  /** The session ends (after the last request). */
  destroy?(): void;
  /** Resolves `name` in directory `parent`. */
  lookup?(request: EntryRequest, parent: number, name: string): HandlerResult;
  /** The kernel dropped `lookups` references to `inode` (no reply). */
  forget?(inode: number, lookups: number): void;
  /** Attributes of `inode`; `fileHandle` is set when asked through an open file. */
  getattr?(
    request: AttributesRequest,
    inode: number,
    fileHandle: number | undefined,
  ): HandlerResult;
  /** Changes attributes (truncate, chmod, utimens, …) and replies the new ones. */
  setattr?(
    request: AttributesRequest,
    inode: number,
    changes: AttributeChanges,
    fileHandle: number | undefined,
  ): HandlerResult;
  /** Opens `inode`; `flags` are the open flags (`O_SYNC`, `O_DIRECT`, `O_TRUNC`, …). */
  open?(request: OpenRequest, inode: number, flags: number): HandlerResult;
  /** Reads `request.size` bytes at `offset`. */
  read?(request: ReadRequest, inode: number, fileHandle: number, offset: number): HandlerResult;
  /**
   * Writes `data` at `offset`. `data` is a view into a receive buffer, valid
   * (and unchanged) until the reply; copy it to keep it longer. Its native
   * address, for calls that take a pointer, is `Deno.UnsafePointer.of(data)`.
   */
  write?(
    request: WriteRequest,
    inode: number,
    fileHandle: number,
    data: Uint8Array<ArrayBuffer>,
    offset: number,
  ): HandlerResult;
  /** `close` of one file descriptor of an open file. */
  flush?(request: StatusRequest, inode: number, fileHandle: number): HandlerResult;
  /** Makes the file durable; `dataOnly` for fdatasync. */
  fsync?(
    request: StatusRequest,
    inode: number,
    fileHandle: number,
    dataOnly: boolean,
  ): HandlerResult;
  /** The last reference to an open file is gone; `flags` are its open flags. */
  release?(request: StatusRequest, inode: number, fileHandle: number, flags: number): HandlerResult;
  /** Opens directory `inode`. */
  opendir?(request: OpenRequest, inode: number, flags: number): HandlerResult;
  /** Lists directory entries from `offset` (0 first, then the offsets entries gave). */
  readdir?(
    request: ReaddirRequest,
    inode: number,
    fileHandle: number,
    offset: number,
  ): HandlerResult;
  /** The directory is closed. */
  releasedir?(request: StatusRequest, inode: number, fileHandle: number): HandlerResult;
  /** Filesystem capacity. */
  statfs?(request: StatfsRequest, inode: number): HandlerResult;
  /** Allocates, punches or zeroes a range; `mode` holds `FallocateMode` bits. */
  fallocate?(
    request: StatusRequest,
    inode: number,
    fileHandle: number,
    mode: number,
    offset: number,
    length: number,
  ): HandlerResult;
  /** Creates and opens a regular file. */
  create?(
    request: CreateRequest,
    parent: number,
    name: string,
    mode: number,
    flags: number,
  ): HandlerResult;
  /** Creates a file node. */
  mknod?(
    request: EntryRequest,
    parent: number,
    name: string,
    mode: number,
    device: number,
  ): HandlerResult;
  /** Creates a directory. */
  mkdir?(request: EntryRequest, parent: number, name: string, mode: number): HandlerResult;
  /** Removes a name. */
  unlink?(request: StatusRequest, parent: number, name: string): HandlerResult;
  /** Removes a directory. */
  rmdir?(request: StatusRequest, parent: number, name: string): HandlerResult;
  /** Renames; `flags` are `RENAME_*` bits. */
  rename?(
    request: StatusRequest,
    parent: number,
    name: string,
    newParent: number,
    newName: string,
    flags: number,
  ): HandlerResult;
  /** Adds a hard link to `inode`. */
  link?(request: EntryRequest, inode: number, newParent: number, newName: string): HandlerResult;
  /** Creates a symbolic link `name` → `target`. */
  symlink?(request: EntryRequest, target: string, parent: number, name: string): HandlerResult;
}
