/**
 * Reading and writing the C structs libfuse exchanges, at the offsets in
 * fuse_layout.ts: `struct stat`, `fuse_entry_param`, `fuse_file_info`,
 * `statvfs`, `fuse_conn_info`, `fuse_ctx` and setattr's changes. 64-bit fields
 * are written from safe-integer numbers as two 32-bit halves (no bigint on
 * the hot path) and read back asserted safe. Knows nothing of ukai.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { FilesystemStat } from "./libc.ts";
import {
  ConnInfoLayout,
  CtxLayout,
  EntryParamLayout,
  FileInfoBits,
  FileInfoLayout,
  SetAttr,
  StatLayout,
  StatvfsLayout,
  TimespecLayout,
} from "./fuse_layout.ts";
import type {
  AttributeChanges,
  ConnectionInfo,
  Credentials,
  EntryReply,
  FileAttributes,
  OpenReply,
} from "./fuse_types.ts";

const TWO_32 = 2 ** 32;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A 64-bit value from the kernel (an offset, a size, an inode) that JS numbers
 * cannot hold exactly. Its request fails with EOVERFLOW; nothing crashes.
 */
export class OutOfRangeError extends Error {
  /** Always "OutOfRangeError". */
  override name = "OutOfRangeError";
}

/** A 64-bit value from C as a number; throws {@link OutOfRangeError} unless it is a safe non-negative integer. */
export function safeNumber(value: bigint, what: string): number {
  if (value < 0n || value > MAX_SAFE) throw new OutOfRangeError(`${what} ${value} is out of range`);
  return Number(value);
}

/** Writes a non-negative safe integer as a little-endian 64-bit field. */
function setUint64(view: DataView, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, `${value} is not a safe non-negative integer`);
  view.setUint32(offset, value % TWO_32, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_32), true);
}

/** Reads a 64-bit field of native memory; throws {@link OutOfRangeError} past the safe integers. */
function getUint64(view: Deno.UnsafePointerView, offset: number): number {
  const low = view.getUint32(offset);
  const high = view.getUint32(offset + 4);
  if (high >= 2 ** 21) throw new OutOfRangeError(`64-bit field at ${offset} is out of range`);
  return high * TWO_32 + low;
}

function setTimespec(view: DataView, offset: number, ms: number): void {
  const seconds = Math.floor(ms / 1000);
  const nanoseconds = Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1e6));
  view.setBigInt64(offset + TimespecLayout.sec, BigInt(seconds), true);
  view.setBigInt64(offset + TimespecLayout.nsec, BigInt(nanoseconds), true);
}

function getTimespecMs(view: Deno.UnsafePointerView, offset: number): number {
  const seconds = Number(view.getBigInt64(offset + TimespecLayout.sec));
  const nanoseconds = Number(view.getBigInt64(offset + TimespecLayout.nsec));
  return seconds * 1000 + nanoseconds / 1e6;
}

/** Fills the `struct stat` at `offset` of `view` (the whole struct is rewritten). */
export function writeStat(view: DataView, offset: number, attributes: FileAttributes): void {
  new Uint8Array(view.buffer, view.byteOffset + offset, StatLayout.byteLength).fill(0);
  setUint64(view, offset + StatLayout.ino, attributes.inode);
  setUint64(view, offset + StatLayout.nlink, attributes.nlink);
  view.setUint32(offset + StatLayout.mode, attributes.mode, true);
  view.setUint32(offset + StatLayout.uid, attributes.uid, true);
  view.setUint32(offset + StatLayout.gid, attributes.gid, true);
  setUint64(view, offset + StatLayout.rdev, attributes.rdev ?? 0);
  setUint64(view, offset + StatLayout.size, attributes.size);
  setUint64(view, offset + StatLayout.blksize, attributes.blockSize ?? 0);
  setUint64(view, offset + StatLayout.blocks, attributes.blocks);
  setTimespec(view, offset + StatLayout.atime, attributes.atimeMs);
  setTimespec(view, offset + StatLayout.mtime, attributes.mtimeMs);
  setTimespec(view, offset + StatLayout.ctime, attributes.ctimeMs);
}

/** Fills a `struct fuse_entry_param` at the start of `view`. */
export function writeEntryParam(view: DataView, entry: EntryReply): void {
  assert(entry.attributes.inode === entry.inode, "entry inode differs from its attributes");
  setUint64(view, EntryParamLayout.ino, entry.inode);
  setUint64(view, EntryParamLayout.generation, entry.generation ?? 0);
  writeStat(view, EntryParamLayout.attr, entry.attributes);
  view.setFloat64(EntryParamLayout.attrTimeout, entry.attributeTimeout ?? 1, true);
  view.setFloat64(EntryParamLayout.entryTimeout, entry.entryTimeout ?? 1, true);
}

/** Fills a `struct fuse_file_info` at the start of `view` for an open or create reply. */
export function writeOpenReply(view: DataView, reply: OpenReply): void {
  new Uint8Array(view.buffer, view.byteOffset, FileInfoLayout.byteLength).fill(0);
  let bits = 0;
  if (reply.directIo === true) bits |= FileInfoBits.directIo;
  if (reply.keepCache === true) bits |= FileInfoBits.keepCache;
  if (reply.nonSeekable === true) bits |= FileInfoBits.nonseekable;
  view.setUint32(FileInfoLayout.bitfield, bits, true);
  setUint64(view, FileInfoLayout.fh, reply.fileHandle ?? 0);
}

/** The `fh` of a `struct fuse_file_info`. */
export function fileHandleOf(fileInfo: Deno.PointerObject): number {
  return getUint64(new Deno.UnsafePointerView(fileInfo), FileInfoLayout.fh);
}

/** The open flags (`O_*`) of a `struct fuse_file_info`. */
export function openFlagsOf(fileInfo: Deno.PointerObject): number {
  return new Deno.UnsafePointerView(fileInfo).getInt32(FileInfoLayout.flags);
}

/** Fills a `struct statvfs` at the start of `view`. */
export function writeStatvfs(view: DataView, stat: FilesystemStat): void {
  new Uint8Array(view.buffer, view.byteOffset, StatvfsLayout.byteLength).fill(0);
  setUint64(view, StatvfsLayout.bsize, stat.blockSize);
  setUint64(view, StatvfsLayout.frsize, stat.fragmentSize);
  setUint64(view, StatvfsLayout.blocks, stat.blocks);
  setUint64(view, StatvfsLayout.bfree, stat.blocksFree);
  setUint64(view, StatvfsLayout.bavail, stat.blocksAvailable);
  setUint64(view, StatvfsLayout.files, stat.files);
  setUint64(view, StatvfsLayout.ffree, stat.filesFree);
  setUint64(view, StatvfsLayout.favail, stat.filesFree);
  setUint64(view, StatvfsLayout.namemax, stat.nameMax);
}

/** The fields a setattr request changes: `toSet` (`SetAttr` bits) picks them from `stat`. */
export function readAttributeChanges(stat: Deno.PointerObject, toSet: number): AttributeChanges {
  const view = new Deno.UnsafePointerView(stat);
  const changes: AttributeChanges = {};
  if (toSet & SetAttr.mode) changes.mode = view.getUint32(StatLayout.mode);
  if (toSet & SetAttr.uid) changes.uid = view.getUint32(StatLayout.uid);
  if (toSet & SetAttr.gid) changes.gid = view.getUint32(StatLayout.gid);
  if (toSet & SetAttr.size) changes.size = getUint64(view, StatLayout.size);
  if (toSet & SetAttr.atimeNow) changes.atimeMs = "now";
  else if (toSet & SetAttr.atime) changes.atimeMs = getTimespecMs(view, StatLayout.atime);
  if (toSet & SetAttr.mtimeNow) changes.mtimeMs = "now";
  else if (toSet & SetAttr.mtime) changes.mtimeMs = getTimespecMs(view, StatLayout.mtime);
  if (toSet & SetAttr.ctime) changes.ctimeMs = getTimespecMs(view, StatLayout.ctime);
  return changes;
}

/** Reads a `struct fuse_conn_info`. */
export function readConnection(connection: Deno.PointerObject): ConnectionInfo {
  const view = new Deno.UnsafePointerView(connection);
  return {
    protocolMajor: view.getUint32(ConnInfoLayout.protoMajor),
    protocolMinor: view.getUint32(ConnInfoLayout.protoMinor),
    maxWrite: view.getUint32(ConnInfoLayout.maxWrite),
    maxRead: view.getUint32(ConnInfoLayout.maxRead),
    maxReadahead: view.getUint32(ConnInfoLayout.maxReadahead),
    maxBackground: view.getUint32(ConnInfoLayout.maxBackground),
    congestionThreshold: view.getUint32(ConnInfoLayout.congestionThreshold),
    capable: view.getUint32(ConnInfoLayout.capable),
    want: view.getUint32(ConnInfoLayout.want),
  };
}

/** What `init` may change in `struct fuse_conn_info`. */
export interface ConnectionSettings {
  /** Capability bits to request. */
  want: number;
  /** Largest READ (must equal the `max_read` mount option). */
  maxRead: number;
  /** Background requests in flight. */
  maxBackground: number;
  /** Congestion threshold (≤ maxBackground). */
  congestionThreshold: number;
}

/** Writes `settings` into the `struct fuse_conn_info` at `connection`. */
export function writeConnection(
  connection: Deno.PointerObject,
  settings: ConnectionSettings,
): void {
  const view = new DataView(
    Deno.UnsafePointerView.getArrayBuffer(connection, ConnInfoLayout.byteLength),
  );
  view.setUint32(ConnInfoLayout.want, settings.want, true);
  view.setUint32(ConnInfoLayout.maxRead, settings.maxRead, true);
  view.setUint32(ConnInfoLayout.maxBackground, settings.maxBackground, true);
  view.setUint32(ConnInfoLayout.congestionThreshold, settings.congestionThreshold, true);
}

/** Reads a `struct fuse_ctx`. */
export function readCredentials(context: Deno.PointerObject): Credentials {
  const view = new Deno.UnsafePointerView(context);
  return {
    uid: view.getUint32(CtxLayout.uid),
    gid: view.getUint32(CtxLayout.gid),
    pid: view.getInt32(CtxLayout.pid),
    umask: view.getUint32(CtxLayout.umask),
  };
}
