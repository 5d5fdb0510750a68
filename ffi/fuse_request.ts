/**
 * FUSE requests as the filesystem sees them: one object per request, with the
 * reply methods its operation allows. Every request is answered exactly once
 * (asserted), synchronously inside the handler or later from async work, on
 * the JS thread. Replies copy nothing the handler owns except through the
 * kernel: READ data goes out straight from the handler's buffer. A reply the
 * kernel no longer waits for (the caller was interrupted, or the connection is
 * gone) is dropped without error. Knows nothing of ukai.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { FilesystemStat } from "./libc.ts";
import { libfuse } from "./libfuse.ts";
import {
  EntryParamLayout,
  FileInfoLayout,
  IovecLayout,
  MAX_TRANSFER_BYTES,
  StatLayout,
  StatvfsLayout,
} from "./fuse_layout.ts";
import {
  readCredentials,
  writeEntryParam,
  writeOpenReply,
  writeStat,
  writeStatvfs,
} from "./fuse_structs.ts";
import type { Credentials, EntryReply, FileAttributes, OpenReply } from "./fuse_types.ts";
import type { ReceiveBuffer } from "./receive_pool.ts";

/** Told when a request has been answered (the session counts requests in flight). */
export interface RequestTracker {
  /** Called once per request, as its reply goes out. */
  replied(request: FuseRequest): void;
}

// Replies copy their structs synchronously, so one scratch struct of each kind serves all.
const entryScratch = new Uint8Array(EntryParamLayout.byteLength);
const entryView = new DataView(entryScratch.buffer);
const statScratch = new Uint8Array(StatLayout.byteLength);
const statView = new DataView(statScratch.buffer);
const fileInfoScratch = new Uint8Array(FileInfoLayout.byteLength);
const fileInfoView = new DataView(fileInfoScratch.buffer);
const statvfsScratch = new Uint8Array(StatvfsLayout.byteLength);
const statvfsView = new DataView(statvfsScratch.buffer);
let iovecScratch = new Uint8Array(IovecLayout.byteLength * 4);

/**
 * `struct iovec[]` for `pieces`, in a scratch array (replies copy it at once).
 * An empty piece gets a NULL base, which the kernel accepts for length 0.
 */
function writeIovecs(pieces: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const bytes = IovecLayout.byteLength * pieces.length;
  if (iovecScratch.length < bytes) iovecScratch = new Uint8Array(bytes);
  const view = new DataView(iovecScratch.buffer);
  for (const [index, piece] of pieces.entries()) {
    const base = index * IovecLayout.byteLength;
    const pointer = piece.length === 0 ? null : Deno.UnsafePointer.of(piece);
    view.setBigUint64(base + IovecLayout.base, Deno.UnsafePointer.value(pointer), true);
    view.setBigUint64(base + IovecLayout.length, BigInt(piece.length), true);
  }
  return iovecScratch;
}

/** A request in flight; every operation's request type extends it. */
export class FuseRequest {
  /** The operation (`"read"`, `"lookup"`, …), for logs. */
  readonly operation: string;
  /**
   * The receive buffer this request keeps until its reply (a WRITE's payload
   * lives in it): one of the session's, or a lane's (released by calling it).
   * Set and released by the session.
   */
  heldBuffer: ReceiveBuffer | (() => void) | undefined;
  readonly #pointer: Deno.PointerObject;
  readonly #tracker: RequestTracker;
  #replied = false;

  /** Wraps libfuse's `fuse_req_t`; created by the session's dispatcher. */
  constructor(pointer: Deno.PointerObject, operation: string, tracker: RequestTracker) {
    this.#pointer = pointer;
    this.operation = operation;
    this.#tracker = tracker;
  }

  /** True once a reply went out. */
  get replied(): boolean {
    return this.#replied;
  }

  /** The caller's uid, gid, pid and umask (readable until the reply). */
  get credentials(): Credentials {
    assert(!this.#replied, `${this.operation}: credentials read after the reply`);
    const context = libfuse().fuse_req_ctx(this.#pointer);
    assert(context !== null, "fuse_req_ctx returned NULL");
    return readCredentials(context);
  }

  /** Fails the request with `errno` (a positive `Errno` value). */
  error(errno: number): void {
    assert(Number.isInteger(errno) && errno > 0, `${this.operation}: bad errno ${errno}`);
    libfuse().fuse_reply_err(this.claim(), errno);
  }

  /**
   * Marks the request answered and returns the `fuse_req_t` to reply on.
   * Asserts that no reply went out before.
   */
  protected claim(): Deno.PointerObject {
    assert(!this.#replied, `${this.operation}: replied twice`);
    this.#replied = true;
    this.#tracker.replied(this);
    return this.#pointer;
  }

  /** The `fuse_req_t`, for helpers that need it before the reply (readdir). */
  protected get pointer(): Deno.PointerObject {
    assert(!this.#replied, `${this.operation}: used after the reply`);
    return this.#pointer;
  }
}

/** Requests answered with success or an errno only (flush, fsync, release, unlink, …). */
export class StatusRequest extends FuseRequest {
  /** Succeeds. */
  ok(): void {
    libfuse().fuse_reply_err(this.claim(), 0);
  }
}

/** Requests answered with a directory entry (lookup, mknod, mkdir, link, symlink). */
export class EntryRequest extends FuseRequest {
  /** Binds the name to `entry.inode` (the inode's lookup count rises by one). */
  entry(entry: EntryReply): void {
    writeEntryParam(entryView, entry);
    libfuse().fuse_reply_entry(this.claim(), entryScratch);
  }
}

/** Requests answered with attributes (getattr, setattr). */
export class AttributesRequest extends FuseRequest {
  /** Replies `attributes`, cacheable for `timeoutSeconds`. */
  attributes(attributes: FileAttributes, timeoutSeconds = 1): void {
    writeStat(statView, 0, attributes);
    libfuse().fuse_reply_attr(this.claim(), statScratch, timeoutSeconds);
  }
}

/** Requests answered with an open file (open, opendir). */
export class OpenRequest extends FuseRequest {
  /** Opens the file with the given handle and caching flags. */
  open(reply: OpenReply = {}): void {
    writeOpenReply(fileInfoView, reply);
    libfuse().fuse_reply_open(this.claim(), fileInfoScratch);
  }
}

/** The create request: answered with an entry and an open file. */
export class CreateRequest extends FuseRequest {
  /** Binds the new name to `entry.inode` and opens it. */
  created(entry: EntryReply, open: OpenReply = {}): void {
    writeEntryParam(entryView, entry);
    writeOpenReply(fileInfoView, open);
    libfuse().fuse_reply_create(this.claim(), entryScratch, fileInfoScratch);
  }
}

/** A READ: answered with at most `size` bytes (fewer only at end of file). */
export class ReadRequest extends FuseRequest {
  /** Bytes requested. */
  readonly size: number;

  /** Created by the dispatcher. */
  constructor(pointer: Deno.PointerObject, tracker: RequestTracker, size: number) {
    super(pointer, "read", tracker);
    this.size = size;
  }

  /** Replies `bytes`, which the kernel copies straight from this buffer (no copy in JS). */
  data(bytes: Uint8Array<ArrayBuffer>): void {
    assert(bytes.length <= this.size, `read: ${bytes.length} bytes for a ${this.size}-byte read`);
    libfuse().fuse_reply_buf(this.claim(), bytes, BigInt(bytes.length));
  }

  /**
   * Replies the pieces back to back, which the kernel gathers straight from
   * their buffers (`fuse_reply_iov`: no copy in JS).
   */
  dataPieces(pieces: readonly Uint8Array[]): void {
    let length = 0;
    for (const piece of pieces) length += piece.length;
    assert(length <= this.size, `read: ${length} bytes for a ${this.size}-byte read`);
    libfuse().fuse_reply_iov(this.claim(), writeIovecs(pieces), pieces.length);
  }

  /** Replies `length` bytes of native memory at `pointer` (valid until this returns). */
  dataFromPointer(pointer: Deno.PointerObject, length: number): void {
    assert(
      length >= 0 && length <= this.size,
      `read: ${length} bytes for a ${this.size}-byte read`,
    );
    libfuse().fuse_reply_buf_pointer(this.claim(), pointer, BigInt(length));
  }
}

/** A WRITE: its payload stays valid until the reply. */
export class WriteRequest extends FuseRequest {
  /** Created by the dispatcher. */
  constructor(pointer: Deno.PointerObject, tracker: RequestTracker) {
    super(pointer, "write", tracker);
  }

  /** Reports `count` bytes written (all of them, unless the write was short). */
  written(count: number): void {
    assert(Number.isSafeInteger(count) && count >= 0, `write: bad count ${count}`);
    libfuse().fuse_reply_write(this.claim(), BigInt(count));
  }
}

/** The statfs request. */
export class StatfsRequest extends FuseRequest {
  /** Replies the filesystem's capacity. */
  statfs(stat: FilesystemStat): void {
    writeStatvfs(statvfsView, stat);
    libfuse().fuse_reply_statfs(this.claim(), statvfsScratch);
  }
}

/** A READDIR: answered with a {@link DirectoryListing} of at most `size` bytes. */
export class ReaddirRequest extends FuseRequest {
  /** Bytes the kernel accepts in this reply. */
  readonly size: number;

  /** Created by the dispatcher. */
  constructor(pointer: Deno.PointerObject, tracker: RequestTracker, size: number) {
    super(pointer, "readdir", tracker);
    this.size = size;
  }

  /** An empty listing sized for this request. */
  listing(): DirectoryListing {
    return new DirectoryListing(this.pointer, Math.min(this.size, MAX_TRANSFER_BYTES));
  }

  /** Replies the entries added to `listing` (none: end of directory). */
  entries(listing: DirectoryListing): void {
    libfuse().fuse_reply_buf(this.claim(), listing.bytes, BigInt(listing.bytes.length));
  }
}

const encoder = new TextEncoder();
const direntStat = new Uint8Array(StatLayout.byteLength);
const direntStatView = new DataView(direntStat.buffer);

/** Directory entries packed with `fuse_add_direntry`, up to the reply's size. */
export class DirectoryListing {
  readonly #request: Deno.PointerObject;
  readonly #buffer: Uint8Array<ArrayBuffer>;
  #used = 0;

  /** Use {@link ReaddirRequest.listing}. */
  constructor(request: Deno.PointerObject, capacity: number) {
    this.#request = request;
    this.#buffer = new Uint8Array(capacity);
  }

  /** The packed entries so far. */
  get bytes(): Uint8Array<ArrayBuffer> {
    return this.#buffer.subarray(0, this.#used);
  }

  /**
   * Adds `name` (inode `inode`, type bits from `mode`); `nextOffset` is the
   * readdir offset that resumes after it. Returns false, adding nothing, when
   * the entry does not fit: reply and let the kernel ask again from there.
   */
  add(name: string, inode: number, mode: number, nextOffset: number): boolean {
    assert(
      Number.isSafeInteger(nextOffset) && nextOffset > 0,
      `bad directory offset ${nextOffset}`,
    );
    assert(
      name.length > 0 && !/[/\0]/.test(name),
      `bad directory entry name ${JSON.stringify(name)}`,
    );
    const cName = encoder.encode(`${name}\0`);
    direntStatView.setBigUint64(StatLayout.ino, BigInt(inode), true);
    direntStatView.setUint32(StatLayout.mode, mode, true);
    const remaining = this.#buffer.length - this.#used;
    const needed = Number(
      libfuse().fuse_add_direntry(
        this.#request,
        this.#buffer.subarray(this.#used),
        BigInt(remaining),
        cName,
        direntStat,
        BigInt(nextOffset),
      ),
    );
    if (needed > remaining) return false;
    this.#used += needed;
    return true;
  }
}
