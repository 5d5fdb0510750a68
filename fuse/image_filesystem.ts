/**
 * ukai's filesystem, as a hypervisor sees it: a flat directory of images,
 * each a regular file used as a raw disk. Reads, writes, discards, fsync and
 * truncation go to the engine; creating, linking, renaming or removing
 * anything is refused with EPERM (images are managed with `ukai image`), and
 * so is `open(O_TRUNC)`, which would wipe a disk. Ownership, mode and times
 * are kept per node (libvirt chowns a disk to the qemu user before starting a
 * VM); they start from the mount's defaults.
 *
 * Inode numbers are the image uid + 1 (root is 1), so they stay stable across
 * restarts and a re-created image never inherits a stale inode.
 *
 * @module
 */

import { describeError, errnoOf } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import type { Engine } from "../engine/engine.ts";
import { Errno } from "../ffi/errno.ts";
import type { FuseOperations } from "../ffi/fuse_operations.ts";
import { MAX_TRANSFER_BYTES } from "../ffi/fuse_layout.ts";
import type { FuseRequest } from "../ffi/fuse_request.ts";
import type { FileAttributes } from "../ffi/fuse_types.ts";
import { FallocateMode, OpenFlags } from "../ffi/libc.ts";
import type { ImageRecord, MetaStore } from "../meta/mod.ts";
import { ImageIndex } from "../engine/image_index.ts";
import type { LaneHandles } from "./lane_fast_path.ts";

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const ROOT_INODE = 1;
/** How long the kernel may cache names and attributes, in seconds. */
const CACHE_SECONDS = 1;
/** How long a lookup of an unknown name waits for this node to catch up with the group. */
const LOOKUP_SYNC_TIMEOUT_MS = 2000;

/** Defaults for what is kept per node. */
export interface FileDefaults {
  /** Permission bits of an image file (default 0o660). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** Options of an {@link ImageFilesystem}. */
export interface ImageFilesystemOptions {
  readonly engine: Engine;
  readonly meta: MetaStore;
  readonly logger: Logger;
  readonly defaults: FileDefaults;
  /** Filesystem capacity for statfs (the data folder's). */
  readonly capacity: () => { totalBytes: number; availableBytes: number; freeBytes: number };
  /** Allocated bytes of this node's copy of an image (cached by the caller). */
  readonly allocatedBytes: (image: ImageRecord) => number | Promise<number>;
  readonly now: () => number;
  /** Where FUSE lanes look up open handles, when the mount has lanes. */
  readonly laneHandles?: LaneHandles | undefined;
}

interface LocalAttributes {
  mode: number;
  uid: number;
  gid: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}

interface OpenFile {
  readonly name: string;
  readonly uid: number;
  readonly durable: boolean;
}

type Operation<K extends keyof FuseOperations> = NonNullable<FuseOperations[K]>;

/** The FUSE operations of a ukai mount. */
export class ImageFilesystem implements FuseOperations {
  readonly #options: ImageFilesystemOptions;
  readonly #attributes = new Map<number, LocalAttributes>();
  readonly #openFiles = new Map<number, OpenFile>();
  readonly #images: ImageIndex;
  #nextHandle = 1;
  /** Where reads served at once land before their reply (the kernel never asks for more). */
  readonly #readScratch = new Uint8Array(MAX_TRANSFER_BYTES);
  readonly #startedMs: number;

  constructor(options: ImageFilesystemOptions) {
    this.#options = options;
    this.#images = new ImageIndex(options.meta);
    this.#startedMs = options.now();
  }

  /**
   * The image called `name`. A name this node does not know may have been
   * created through another node a moment ago: it is looked up again once
   * this node has caught up with the group (a ReadIndex), so an image is
   * never missing here after its creation was acknowledged elsewhere.
   */
  async #findImage(name: string): Promise<ImageRecord | undefined> {
    const known = this.#options.meta.state().images.get(name);
    if (known !== undefined) return known;
    try {
      await this.#options.meta.sync({ timeoutMs: LOOKUP_SYNC_TIMEOUT_MS });
    } catch {
      return undefined; // no quorum to confirm: as far as this node knows, it does not exist
    }
    return this.#options.meta.state().images.get(name);
  }

  #image(inode: number): ImageRecord | undefined {
    return inode <= ROOT_INODE ? undefined : this.#images.byUid(inode - 1);
  }

  /** The image of an open file, if it still exists (the same incarnation). */
  #openImage(file: OpenFile | undefined): ImageRecord | undefined {
    if (file === undefined) return undefined;
    const image = this.#options.meta.state().images.get(file.name);
    return image?.uid === file.uid ? image : undefined;
  }

  #local(image: ImageRecord): LocalAttributes {
    let local = this.#attributes.get(image.uid);
    if (local === undefined) {
      const { mode, uid, gid } = this.#options.defaults;
      const created = image.createdAtMs;
      local = { mode, uid, gid, atimeMs: created, mtimeMs: created, ctimeMs: created };
      this.#attributes.set(image.uid, local);
    }
    return local;
  }

  async #fileAttributes(image: ImageRecord): Promise<FileAttributes> {
    const allocated = await this.#options.allocatedBytes(image);
    const local = this.#local(image);
    return {
      inode: image.uid + 1,
      mode: S_IFREG | local.mode,
      nlink: 1,
      uid: local.uid,
      gid: local.gid,
      size: image.size,
      blocks: Math.ceil(allocated / 512),
      blockSize: 4096,
      atimeMs: local.atimeMs,
      mtimeMs: local.mtimeMs,
      ctimeMs: local.ctimeMs,
    };
  }

  #rootAttributes(): FileAttributes {
    return {
      inode: ROOT_INODE,
      mode: S_IFDIR | 0o755,
      nlink: 2,
      uid: 0,
      gid: 0,
      size: 0,
      blocks: 0,
      atimeMs: this.#startedMs,
      mtimeMs: this.#startedMs,
      ctimeMs: this.#startedMs,
    };
  }

  /** Replies the error a failure stands for (logging the unexpected ones). */
  #fail(request: FuseRequest, operation: string, error: unknown): void {
    const errno = errnoOf(error);
    if (errno === Errno.EIO) {
      this.#options.logger.warn("I/O failed", { operation, error: describeError(error) });
    }
    request.error(errno);
  }

  lookup: Operation<"lookup"> = async (request, parent, name) => {
    const image = parent === ROOT_INODE ? await this.#findImage(name) : undefined;
    if (image === undefined) return request.error(Errno.ENOENT);
    request.entry({
      inode: image.uid + 1,
      generation: image.uid,
      attributes: await this.#fileAttributes(image),
      attributeTimeout: CACHE_SECONDS,
      entryTimeout: CACHE_SECONDS,
    });
  };

  getattr: Operation<"getattr"> = async (request, inode) => {
    if (inode === ROOT_INODE) return request.attributes(this.#rootAttributes(), CACHE_SECONDS);
    const image = this.#image(inode);
    if (image === undefined) return request.error(Errno.ENOENT);
    request.attributes(await this.#fileAttributes(image), CACHE_SECONDS);
  };

  setattr: Operation<"setattr"> = async (request, inode, changes) => {
    const image = this.#image(inode);
    if (image === undefined) {
      return request.error(inode === ROOT_INODE ? Errno.EPERM : Errno.ENOENT);
    }
    try {
      if (changes.size !== undefined && changes.size !== image.size) {
        await this.#options.engine.truncate(image.name, changes.size);
      }
      const local = this.#local(image);
      const now = this.#options.now();
      if (changes.mode !== undefined) local.mode = changes.mode & 0o7777;
      if (changes.uid !== undefined) local.uid = changes.uid;
      if (changes.gid !== undefined) local.gid = changes.gid;
      if (changes.atimeMs !== undefined) {
        local.atimeMs = changes.atimeMs === "now" ? now : changes.atimeMs;
      }
      if (changes.mtimeMs !== undefined) {
        local.mtimeMs = changes.mtimeMs === "now" ? now : changes.mtimeMs;
      }
      local.ctimeMs = now;
      request.attributes(await this.#fileAttributes(this.#image(inode) ?? image), CACHE_SECONDS);
    } catch (error) {
      this.#fail(request, "setattr", error);
    }
  };

  open: Operation<"open"> = async (request, inode, flags) => {
    const image = this.#image(inode);
    if (image === undefined) {
      return request.error(inode === ROOT_INODE ? Errno.EISDIR : Errno.ENOENT);
    }
    if ((flags & OpenFlags.TRUNC) !== 0) return request.error(Errno.EPERM);
    try {
      await this.#options.engine.open(image.name);
      const handle = this.#nextHandle++;
      const durable = (flags & OpenFlags.DSYNC) !== 0;
      this.#openFiles.set(handle, { name: image.name, uid: image.uid, durable });
      this.#options.laneHandles?.register(handle, image.uid, durable);
      request.open({ fileHandle: handle, directIo: true, keepCache: false });
    } catch (error) {
      this.#fail(request, "open", error);
    }
  };

  read: Operation<"read"> = (request, _inode, handle, offset) => {
    const file = this.#openFiles.get(handle);
    const image = this.#openImage(file);
    if (file === undefined || image === undefined) return request.error(Errno.EBADF);
    const length = Math.max(0, Math.min(request.size, image.size - offset));
    if (length === 0) return request.data(new Uint8Array(0));
    const engine = this.#options.engine;
    let pending: Promise<Uint8Array[]>;
    try {
      // The reply copies the bytes before returning, so a read served at
      // once can use the one scratch buffer. A later one is answered from
      // the buffers its pieces arrived in (no copy).
      const scratch = length <= this.#readScratch.length
        ? this.#readScratch.subarray(0, length)
        : new Uint8Array(length);
      if (engine.readNow(file.name, offset, scratch)) return request.data(scratch);
      pending = engine.readPieces(file.name, offset, length);
    } catch (error) {
      return this.#fail(request, "read", error);
    }
    return pending.then(
      (pieces) => {
        request.dataPieces(pieces);
        engine.releasePieces(pieces);
      },
      (error) => this.#fail(request, "read", error),
    );
  };

  write: Operation<"write"> = (request, _inode, handle, data, offset) => {
    const file = this.#openFiles.get(handle);
    const image = this.#openImage(file);
    if (file === undefined || image === undefined) return request.error(Errno.EBADF);
    const done = () => {
      this.#local(image).mtimeMs = this.#options.now();
      request.written(data.length);
    };
    let pending: void | Promise<void>;
    try {
      pending = this.#options.engine.write(file.name, offset, data, file.durable);
    } catch (error) {
      return this.#fail(request, "write", error);
    }
    if (pending === undefined) return done();
    return pending.then(done, (error) => this.#fail(request, "write", error));
  };

  flush: Operation<"flush"> = (request) => {
    request.ok();
  };

  fsync: Operation<"fsync"> = async (request, _inode, handle) => {
    const file = this.#openFiles.get(handle);
    if (file === undefined) return request.error(Errno.EBADF);
    try {
      await this.#options.engine.flush(file.name);
      request.ok();
    } catch (error) {
      this.#fail(request, "fsync", error);
    }
  };

  release: Operation<"release"> = async (request, _inode, handle) => {
    const file = this.#openFiles.get(handle);
    this.#openFiles.delete(handle);
    this.#options.laneHandles?.unregister(handle);
    if (file !== undefined) {
      await this.#options.engine.close(file.name).catch((error) =>
        this.#options.logger.warn("close failed", { image: file.name, error: describeError(error) })
      );
    }
    request.ok();
  };

  opendir: Operation<"opendir"> = (request, inode) => {
    if (inode !== ROOT_INODE) return request.error(Errno.ENOTDIR);
    request.open({ fileHandle: 0 });
  };

  readdir: Operation<"readdir"> = (request, inode, _handle, offset) => {
    if (inode !== ROOT_INODE) return request.error(Errno.ENOTDIR);
    const images = [...this.#options.meta.state().images.values()].sort((a, b) =>
      a.name.localeCompare(b.name)
    );
    const names: [string, number, number][] = [
      [".", ROOT_INODE, S_IFDIR],
      ["..", ROOT_INODE, S_IFDIR],
      ...images.map((image): [string, number, number] => [image.name, image.uid + 1, S_IFREG]),
    ];
    const listing = request.listing();
    for (let index = offset; index < names.length; index++) {
      const [name, entryInode, mode] = names[index] as [string, number, number];
      if (!listing.add(name, entryInode, mode, index + 1)) break;
    }
    request.entries(listing);
  };

  releasedir: Operation<"releasedir"> = (request) => {
    request.ok();
  };

  statfs: Operation<"statfs"> = (request) => {
    const capacity = this.#options.capacity();
    const unit = 4096;
    request.statfs({
      blockSize: unit,
      fragmentSize: unit,
      blocks: Math.floor(capacity.totalBytes / unit),
      blocksFree: Math.floor(capacity.freeBytes / unit),
      blocksAvailable: Math.floor(capacity.availableBytes / unit),
      files: this.#options.meta.state().images.size,
      filesFree: 0,
      nameMax: 128,
    });
  };

  fallocate: Operation<"fallocate"> = async (
    request,
    inode,
    _handle,
    mode,
    offset,
    length,
  ) => {
    const image = this.#image(inode);
    if (image === undefined) return request.error(Errno.ENOENT);
    const discard = (mode & (FallocateMode.PUNCH_HOLE | FallocateMode.ZERO_RANGE)) !== 0;
    try {
      if (discard) {
        const end = Math.min(offset + length, image.size);
        if (end > offset) await this.#options.engine.discard(image.name, offset, end - offset);
      } else if ((mode & FallocateMode.KEEP_SIZE) === 0 && offset + length > image.size) {
        await this.#options.engine.truncate(image.name, offset + length);
      }
      request.ok();
    } catch (error) {
      this.#fail(request, "fallocate", error);
    }
  };

  create: Operation<"create"> = (request) => request.error(Errno.EPERM);
  mknod: Operation<"mknod"> = (request) => request.error(Errno.EPERM);
  mkdir: Operation<"mkdir"> = (request) => request.error(Errno.EPERM);
  unlink: Operation<"unlink"> = (request) => request.error(Errno.EPERM);
  rmdir: Operation<"rmdir"> = (request) => request.error(Errno.EPERM);
  rename: Operation<"rename"> = (request) => request.error(Errno.EPERM);
  link: Operation<"link"> = (request) => request.error(Errno.EPERM);
  symlink: Operation<"symlink"> = (request) => request.error(Errno.EPERM);
}
