/**
 * The block files of one image copy on this node: `ROOT/images/<imageKey>/<%08d>`,
 * each exactly `blockSize` bytes, sparse, created on first write.
 *
 * Reads and writes are synchronous positional calls on cached descriptors
 * (1-2 µs for 4 KiB; no async hop; writes in 64 KiB pieces, see
 * `_write_pieces.ts`), and durability comes from {@link
 * ImageBlocks.flush}, which fdatasyncs what was written since. A block file of
 * the wrong size is never read, written, overwritten or removed: every access
 * throws BLOCK_FILE_CORRUPT until the replication layer moves it aside with
 * {@link ImageBlocks.quarantine}.
 *
 * Handles come from `BlockStore.image()`.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import { Errno, OsError } from "../ffi/errno.ts";
import {
  adviseWillNeed,
  fallocate,
  FallocateMode,
  fstat,
  OpenFlags,
  pread,
  startWriteback,
} from "../ffi/libc.ts";
import { writeInPieces, writePointerInPieces } from "./_write_pieces.ts";
import {
  allocatedBytesOf,
  type BlockExtent,
  blockFileCorrupt,
  checkBlockFileSize,
  createBlockFile,
  regularFileNames,
  scanDataExtents,
  validateExtents,
} from "./_block_files.ts";
import { blockFileName, parseBlockFileName, validateBlockIndex } from "./_block_names.ts";
import { decodeFence, encodeFence, FENCE_FILE_NAME } from "./_fence.ts";
import { fsyncDirectory, isNotFound, pathExists, storeError } from "./_fs.ts";
import { O_NOFOLLOW, openOrErrno } from "./_libc_extra.ts";
import type { Limiter } from "./_limiter.ts";
import { BlockFile, type BlockFileOwner, type OpenFileCache } from "./_open_files.ts";
import { SyncTracker } from "./_sync_tracker.ts";
import { writeFileAtomic } from "./atomic_file.ts";

export type { BlockExtent };

/** A block's data extents and their bytes back to back (everything else a hole). */
export interface PackedBlock {
  readonly extents: readonly BlockExtent[];
  readonly data: Uint8Array<ArrayBuffer>;
}

/** Most quarantined copies of one block kept side by side (`%08d.corrupt-N`). */
const QUARANTINED_COPIES_MAX = 1000;

/** What the image handles of one store share. */
export interface ImageBlocksContext {
  readonly imagesFolder: string;
  readonly cache: OpenFileCache;
  readonly limiter: Limiter;
  readonly logger: Logger;
  readonly syncFile: (fd: number) => Promise<void>;
  /** fsync of `imagesFolder`, which makes new and removed image folders durable. */
  readonly imagesFolderSync: SyncTracker;
}

/** Block-level access to one image's block files. Get one from `BlockStore.image()`. */
export class ImageBlocks {
  /** The image folder's name under `images/`. */
  readonly imageKey: string;
  /** Size in bytes of every block file of this image. */
  readonly blockSize: number;
  /** Path of the image folder. */
  readonly folder: string;
  readonly #context: ImageBlocksContext;
  readonly #logger: Logger;
  /** What this image's open files share (their unsynced and detached sets). */
  readonly #owner: BlockFileOwner;
  /** Cached descriptors by block index. Invariant: exactly the files in state "cached". */
  readonly #files = new Map<number, BlockFile>();
  /** fsync of the image folder (block files created, renamed, removed). */
  readonly #folderSync: SyncTracker;
  #folderExists = false;
  /** "removed": the store removed the image; "closed": the store closed. */
  #status: "open" | "removed" | "closed" = "open";
  /**
   * Called before a descriptor {@link descriptor} handed out stops being
   * usable (evicted from the cache, dropped, or the image released), while it
   * still is: whoever kept the number must stop using it now.
   */
  onDescriptorLeaving: (() => void) | undefined;

  /** Use `BlockStore.image()`; this constructor trusts its validated arguments. */
  constructor(context: ImageBlocksContext, imageKey: string, blockSize: number) {
    this.#context = context;
    this.imageKey = imageKey;
    this.blockSize = blockSize;
    this.folder = `${context.imagesFolder}/${imageKey}`;
    this.#logger = context.logger;
    this.#owner = {
      logger: context.logger,
      limiter: context.limiter,
      syncFile: context.syncFile,
      unsynced: new Set(),
      detached: new Set(),
      blockPath: (blockIndex) => this.blockPath(blockIndex),
      evict: (file) => this.#evict(file),
    };
    this.#folderSync = new SyncTracker({
      sync: () => fsyncDirectory(this.folder),
      limiter: context.limiter,
      settled: () => {},
    });
  }

  /** Path of block `blockIndex`'s file. */
  blockPath(blockIndex: number): string {
    return `${this.folder}/${blockFileName(blockIndex)}`;
  }

  /**
   * Reads `target.length` bytes of block `blockIndex` from `byteOffset` into
   * `target`. A missing block file or a hole reads as zeros.
   *
   * @throws {UkaiError} INVALID_ARGUMENT for a range outside the block,
   * BLOCK_FILE_CORRUPT for a block file of the wrong size, IO
   */
  read(blockIndex: number, byteOffset: number, target: Uint8Array<ArrayBuffer>): void {
    this.#checkRange(blockIndex, byteOffset, target.length);
    if (target.length === 0) return;
    const file = this.#openBlockFile(blockIndex, false);
    if (file === null) {
      target.fill(0);
      return;
    }
    let count: number;
    try {
      count = pread(file.fd, target, byteOffset);
    } catch (error) {
      throw storeError(error, `Cannot read ${this.blockPath(blockIndex)}`);
    }
    if (count < target.length) throw this.#shrunk(file);
  }

  /**
   * Writes `source` into block `blockIndex` at `byteOffset`, creating the block
   * file (sparse, `blockSize` bytes) on its first write. Durable after the next
   * {@link flush}.
   *
   * @throws {UkaiError} INVALID_ARGUMENT, BLOCK_FILE_CORRUPT, NO_SPACE, IO
   */
  write(blockIndex: number, byteOffset: number, source: Uint8Array<ArrayBuffer>): void {
    this.#checkRange(blockIndex, byteOffset, source.length);
    if (source.length === 0) return;
    const file = this.#openForWrite(blockIndex);
    try {
      writeInPieces(file.fd, source, byteOffset);
    } catch (error) {
      throw storeError(error, `Cannot write ${this.blockPath(blockIndex)}`);
    } finally {
      file.markWritten();
    }
  }

  /**
   * Like {@link write}, from `byteLength` bytes of native memory at `pointer`
   * (a FUSE write buffer goes to the file without a copy into JS).
   */
  writeFromPointer(
    blockIndex: number,
    byteOffset: number,
    pointer: Deno.PointerObject,
    byteLength: number,
  ): void {
    this.#checkRange(blockIndex, byteOffset, byteLength);
    if (byteLength === 0) return;
    const file = this.#openForWrite(blockIndex);
    try {
      writePointerInPieces(file.fd, pointer, byteLength, byteOffset);
    } catch (error) {
      throw storeError(error, `Cannot write ${this.blockPath(blockIndex)}`);
    } finally {
      file.markWritten();
    }
  }

  /**
   * The cached descriptor of block `blockIndex`'s file (opened, and with
   * `create` created, if need be), for I/O done elsewhere: it stays valid
   * until {@link onDescriptorLeaving} is called. Null when the file does not
   * exist and `create` is false. Writes through it must be reported with
   * {@link noteWritten}.
   *
   * @throws {UkaiError} INVALID_ARGUMENT, BLOCK_FILE_CORRUPT, NO_SPACE, IO
   */
  descriptor(blockIndex: number, create: boolean): number | null {
    this.#checkRange(blockIndex, 0, 0);
    return this.#openBlockFile(blockIndex, create)?.fd ?? null;
  }

  /** Records writes made through {@link descriptor} (the next flush makes them durable). */
  noteWritten(blockIndex: number): void {
    this.#files.get(blockIndex)?.markWritten();
  }

  /**
   * Discards a range of block `blockIndex` (punches a hole; it reads as zeros
   * and frees its disk space). Nothing to do for a missing block file.
   *
   * @throws {UkaiError} INVALID_ARGUMENT, BLOCK_FILE_CORRUPT, IO
   */
  discard(blockIndex: number, byteOffset: number, byteLength: number): void {
    this.#checkRange(blockIndex, byteOffset, byteLength);
    if (byteLength === 0) return;
    const file = this.#openBlockFile(blockIndex, false);
    if (file === null) return;
    try {
      fallocate(
        file.fd,
        FallocateMode.PUNCH_HOLE | FallocateMode.KEEP_SIZE,
        byteOffset,
        byteLength,
      );
    } catch (error) {
      throw storeError(error, `Cannot punch a hole in ${this.blockPath(blockIndex)}`);
    } finally {
      file.markWritten();
    }
  }

  /**
   * The data extents of block `blockIndex` in ascending order (SEEK_DATA /
   * SEEK_HOLE); empty for a missing file. Granularity is the file system's
   * block, so an extent may include zeros.
   *
   * @throws {UkaiError} INVALID_ARGUMENT, BLOCK_FILE_CORRUPT, IO
   */
  dataExtents(blockIndex: number): BlockExtent[] {
    this.#checkRange(blockIndex, 0, 0);
    const file = this.#openBlockFile(blockIndex, false);
    return file === null
      ? []
      : scanDataExtents(file.fd, this.blockSize, this.blockPath(blockIndex));
  }

  /**
   * Starts reading block `blockIndex` from disk into the page cache without
   * waiting, for a {@link readPacked} soon after: the blocks a resync has in
   * flight then come off the disk in parallel rather than one by one. Only
   * advice: a missing block has nothing to read, and a failure here is left
   * to the read itself to report.
   */
  prefetch(blockIndex: number): void {
    try {
      this.#checkRange(blockIndex, 0, 0);
      const file = this.#openBlockFile(blockIndex, false);
      if (file !== null) adviseWillNeed(file.fd, 0, this.blockSize);
    } catch (error) {
      if (!(error instanceof UkaiError) && !(error instanceof OsError)) throw error;
    }
  }

  /**
   * The data of block `blockIndex` for a resync to ship: its data extents and
   * their bytes back to back (holes are not read; a missing file is all hole).
   *
   * @throws {UkaiError} INVALID_ARGUMENT, BLOCK_FILE_CORRUPT, IO
   */
  readPacked(blockIndex: number): PackedBlock {
    this.#checkRange(blockIndex, 0, 0);
    const file = this.#openBlockFile(blockIndex, false);
    if (file === null) return { extents: [], data: new Uint8Array(0) };
    const extents = scanDataExtents(file.fd, this.blockSize, this.blockPath(blockIndex));
    const data = new Uint8Array(extents.reduce((sum, extent) => sum + extent.byteLength, 0));
    let at = 0;
    for (const { byteOffset, byteLength } of extents) {
      let count: number;
      try {
        count = pread(file.fd, data.subarray(at, at + byteLength), byteOffset);
      } catch (error) {
        throw storeError(error, `Cannot read ${this.blockPath(blockIndex)}`);
      }
      if (count < byteLength) throw this.#shrunk(file);
      at += byteLength;
    }
    return { extents, data };
  }

  /**
   * Overwrites block `blockIndex` in place with `packed` (its data extents
   * get their bytes, everything else becomes a hole, so holes stay holes),
   * for a resync into a copy that is out of sync; durable after the next
   * {@link flush}. Not atomic, by design: an out-of-sync copy is never read
   * and is marked in sync only after that flush, so a crash part-way leaves a
   * copy that the resync simply copies again. In place means no temporary
   * file, no rename and no fsync per block, and a block that is already
   * allocated needs no new space.
   *
   * @throws {UkaiError} INVALID_ARGUMENT (extents out of order or outside the
   * block, or not matching the data), BLOCK_FILE_CORRUPT when the present
   * file has the wrong size (quarantine it first), NO_SPACE, IO
   */
  writePacked(blockIndex: number, packed: PackedBlock): void {
    const what = `block ${blockIndex} of image ${this.imageKey}`;
    this.#checkRange(blockIndex, 0, 0);
    validateExtents(packed.extents, this.blockSize, what);
    const total = packed.extents.reduce((sum, extent) => sum + extent.byteLength, 0);
    if (total !== packed.data.length) {
      throw new UkaiError(
        "INVALID_ARGUMENT",
        `Cannot write ${what}: its extents hold ${total} bytes, the data ${packed.data.length}`,
      );
    }
    const file = this.#openForWrite(blockIndex);
    const ends = [...packed.extents, { byteOffset: this.blockSize, byteLength: 0 }];
    try {
      let end = 0;
      let at = 0;
      for (const { byteOffset, byteLength } of ends) {
        const gap = byteOffset - end;
        if (gap > 0) {
          fallocate(file.fd, FallocateMode.PUNCH_HOLE | FallocateMode.KEEP_SIZE, end, gap);
        }
        if (byteLength > 0) {
          writeInPieces(file.fd, packed.data.subarray(at, at + byteLength), byteOffset);
        }
        end = byteOffset + byteLength;
        at += byteLength;
      }
      startWriteback(file.fd);
    } catch (error) {
      throw storeError(error, `Cannot write a new copy of ${this.blockPath(blockIndex)}`);
    } finally {
      file.markWritten();
    }
  }

  /**
   * Moves block `blockIndex`'s file aside as `%08d.corrupt-N` (kept for
   * inspection, never read again) so that a resync can write a fresh copy.
   * For the replication layer, after it marked this copy out of sync.
   *
   * @returns the quarantined file's path, or null when there was no block file
   * @throws {UkaiError} INVALID_ARGUMENT, IO
   */
  async quarantine(blockIndex: number): Promise<string | null> {
    this.#checkUsable();
    validateBlockIndex(blockIndex);
    this.#dropOpenFiles(blockIndex);
    const path = this.blockPath(blockIndex);
    for (let copy = 1; copy <= QUARANTINED_COPIES_MAX; copy++) {
      const target = `${path}.corrupt-${copy}`;
      if (pathExists(target)) continue;
      try {
        Deno.renameSync(path, target);
      } catch (error) {
        if (isNotFound(error)) return null;
        throw storeError(error, `Cannot quarantine ${path}`);
      }
      this.#logger.warn("block file quarantined", { path, quarantinedAs: target });
      this.#folderSync.markDirty();
      await this.#requireDurable(this.#folderSync, `Cannot quarantine ${path}`);
      return target;
    }
    throw new UkaiError(
      "IO",
      `Cannot quarantine ${path}: ${QUARANTINED_COPIES_MAX} quarantined copies exist; ` +
        `inspect and remove them`,
    );
  }

  /**
   * Deletes exactly the block files of `blockIndexes` (missing ones are
   * skipped) and nothing else: no quarantined copy, no fence, not the folder.
   *
   * @returns how many files were deleted
   * @throws {UkaiError} INVALID_ARGUMENT, IO
   */
  async deleteBlocks(blockIndexes: readonly number[]): Promise<number> {
    this.#checkUsable();
    for (const blockIndex of blockIndexes) {
      validateBlockIndex(blockIndex);
    }
    let deleted = 0;
    try {
      for (const blockIndex of new Set(blockIndexes)) {
        this.#dropOpenFiles(blockIndex);
        try {
          Deno.removeSync(this.blockPath(blockIndex));
          deleted += 1;
        } catch (error) {
          if (!isNotFound(error)) {
            throw storeError(error, `Cannot delete ${this.blockPath(blockIndex)}`);
          }
        }
      }
    } finally {
      if (deleted > 0) this.#folderSync.markDirty();
    }
    if (deleted > 0) {
      await this.#requireDurable(this.#folderSync, `Cannot delete blocks of ${this.folder}`);
    }
    return deleted;
  }

  /**
   * The indexes of the block files present, ascending.
   *
   * @throws {UkaiError} IO
   */
  async blockIndexes(): Promise<number[]> {
    this.#checkUsable();
    const indexes: number[] = [];
    for (const name of await regularFileNames(this.folder)) {
      const blockIndex = parseBlockFileName(name);
      if (blockIndex !== null) indexes.push(blockIndex);
    }
    return indexes.sort((a, b) => a - b);
  }

  /**
   * Disk space used by the block files (sum of st_blocks × 512; quarantined
   * copies not included). Stats every file: for images with very many blocks
   * this takes a while (tens of thousands of files per second).
   *
   * @throws {UkaiError} IO
   */
  async allocatedBytes(): Promise<number> {
    this.#checkUsable();
    const names = await regularFileNames(this.folder);
    return await allocatedBytesOf(
      names.filter((name) => parseBlockFileName(name) !== null).map((name) =>
        `${this.folder}/${name}`
      ),
    );
  }

  /**
   * Makes every write, punch, creation and removal done through this handle
   * before the call durable (fdatasync of each block file written since its
   * last flush, at most `syncConcurrencyMax` at once across the store, and
   * fsync of the folders whose entries changed).
   *
   * When an fsync fails the promise rejects; the files stay marked so the next
   * flush syncs them again, but the data written since the last successful
   * flush may already be lost even if that next flush succeeds (the kernel
   * reports a writeback error once): treat the blocks in `details.blocks` as
   * out of sync.
   *
   * @throws {UkaiError} IO with `details.blocks` (block indexes) and `details.folders`
   */
  async flush(): Promise<void> {
    this.#checkUsable();
    const targets: { tracker: SyncTracker; blockIndex: number | null; folder: string }[] = [];
    for (const file of this.#owner.unsynced) {
      targets.push({ tracker: file.sync, blockIndex: file.blockIndex, folder: "" });
    }
    targets.push({ tracker: this.#folderSync, blockIndex: null, folder: this.folder });
    targets.push({
      tracker: this.#context.imagesFolderSync,
      blockIndex: null,
      folder: this.#context.imagesFolder,
    });
    const failures: { blockIndex: number | null; folder: string; error: Error }[] = [];
    for (const target of targets) {
      const earlier = target.tracker.takeFailure();
      if (earlier !== null) failures.push({ ...target, error: earlier });
    }
    const results = await Promise.all(targets.map((target) => target.tracker.request()));
    results.forEach((error, index) => {
      const target = targets[index];
      assert(target !== undefined);
      if (error === null) return;
      target.tracker.takeFailure();
      failures.push({ ...target, error });
    });
    if (failures.length > 0) throw this.#flushError(failures);
  }

  /**
   * The fencing epoch stored for this image, or null when none was written.
   *
   * @throws {UkaiError} CHECKSUM_MISMATCH for a damaged fence file, IO
   */
  async readFence(): Promise<number | null> {
    this.#checkUsable();
    const path = `${this.folder}/${FENCE_FILE_NAME}`;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      if (isNotFound(error)) return null;
      throw storeError(error, `Cannot read ${path}`);
    }
    return decodeFence(bytes, path);
  }

  /**
   * Stores the fencing epoch durably and atomically (the old value survives any
   * failure). The caller decides whether the epoch may move.
   *
   * @throws {UkaiError} INVALID_ARGUMENT for a negative or non-integer epoch, NO_SPACE, IO
   */
  async writeFence(epoch: number): Promise<void> {
    this.#checkUsable();
    if (!Number.isSafeInteger(epoch) || epoch < 0) {
      throw new UkaiError("INVALID_ARGUMENT", `Cannot store fence epoch ${epoch}`);
    }
    this.#ensureFolder();
    await writeFileAtomic(`${this.folder}/${FENCE_FILE_NAME}`, encodeFence(epoch));
    await this.#requireDurable(this.#context.imagesFolderSync, `Cannot create ${this.folder}`);
  }

  /** Called by the open-file cache when it evicts `file`. */
  #evict(file: BlockFile): void {
    assert(this.#files.get(file.blockIndex) === file);
    this.onDescriptorLeaving?.();
    this.#files.delete(file.blockIndex);
    file.retire();
  }

  /**
   * Closes every descriptor of this image, forgetting unsynced writes (flush
   * first to keep them), and waits for fsyncs in flight. For `BlockStore`.
   */
  async release(reason: "removed" | "closed"): Promise<void> {
    this.onDescriptorLeaving?.();
    this.#status = reason;
    for (const blockIndex of [...this.#files.keys()]) this.#dropOpenFiles(blockIndex);
    for (const file of [...this.#owner.detached]) {
      if (file.state === "retired") file.drop();
    }
    await Promise.all([...this.#owner.detached].map((file) => file.sync.whenIdle()));
    await this.#folderSync.whenIdle();
    assert(
      this.#owner.detached.size === 0 && this.#owner.unsynced.size === 0,
      "descriptors left open",
    );
  }

  // ---- internals ----

  #checkUsable(): void {
    if (this.#status === "removed") {
      throw new UkaiError("IMAGE_NOT_FOUND", `Image ${this.imageKey} was removed from this node`);
    }
    assert(this.#status === "open", "image handle used after its block store closed");
  }

  #checkRange(blockIndex: number, byteOffset: number, byteLength: number): void {
    this.#checkUsable();
    validateBlockIndex(blockIndex);
    if (
      !Number.isSafeInteger(byteOffset) || !Number.isSafeInteger(byteLength) ||
      byteOffset < 0 || byteLength < 0 || byteOffset + byteLength > this.blockSize
    ) {
      throw new UkaiError(
        "INVALID_ARGUMENT",
        `Cannot access ${byteLength} bytes at ${byteOffset} of block ${blockIndex} of image ` +
          `${this.imageKey}: its blocks are ${this.blockSize} bytes`,
      );
    }
  }

  #openForWrite(blockIndex: number): BlockFile {
    const file = this.#openBlockFile(blockIndex, true);
    assert(file !== null);
    return file;
  }

  /** The cached descriptor of a block file, opening (and with `create`, creating) it. */
  #openBlockFile(blockIndex: number, create: boolean): BlockFile | null {
    const cached = this.#files.get(blockIndex);
    if (cached !== undefined) {
      this.#context.cache.touch(cached);
      return cached;
    }
    const path = this.blockPath(blockIndex);
    let fd = openOrErrno(path, OpenFlags.RDWR | O_NOFOLLOW);
    if (fd === -Errno.ENOENT) {
      if (!create) return null;
      this.#ensureFolder();
      fd = createBlockFile(path, this.blockSize);
      this.#folderSync.markDirty();
    } else if (fd < 0) {
      throw storeError(new OsError("open", -fd, path), `Cannot open ${path}`);
    } else {
      checkBlockFileSize(fd, path, this.blockSize, this.#logger);
    }
    const file = new BlockFile(this.#owner, blockIndex, fd);
    this.#files.set(blockIndex, file);
    this.#context.cache.add(file);
    return file;
  }

  /** A cached file came up short: it shrank under us. Stop using the descriptor. */
  #shrunk(file: BlockFile): UkaiError {
    const path = this.blockPath(file.blockIndex);
    let size: number;
    try {
      size = fstat(file.fd).size;
    } catch (error) {
      throw storeError(error, `Cannot stat ${path}`);
    } finally {
      this.#dropOpenFiles(file.blockIndex);
    }
    return blockFileCorrupt(path, size, this.blockSize, this.#logger);
  }

  #ensureFolder(): void {
    if (this.#folderExists) return;
    try {
      Deno.mkdirSync(this.folder, { mode: 0o700 });
      this.#context.imagesFolderSync.markDirty();
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) {
        throw storeError(error, `Cannot create image folder ${this.folder}`);
      }
    }
    this.#folderExists = true;
  }

  /** Forgets every open descriptor of a block whose file is about to go away. */
  #dropOpenFiles(blockIndex: number): void {
    this.onDescriptorLeaving?.();
    const cached = this.#files.get(blockIndex);
    if (cached !== undefined) {
      this.#files.delete(blockIndex);
      this.#context.cache.remove(cached);
      cached.drop();
    }
    for (const file of this.#owner.detached) {
      if (file.blockIndex === blockIndex && file.state === "retired") file.drop();
    }
  }

  async #requireDurable(tracker: SyncTracker, action: string): Promise<void> {
    const error = await tracker.request();
    if (error === null) return;
    tracker.takeFailure();
    throw storeError(error, action);
  }

  #flushError(
    failures: readonly { blockIndex: number | null; folder: string; error: Error }[],
  ): UkaiError {
    const blocks = [...new Set(failures.flatMap((f) => f.blockIndex ?? []))].sort((a, b) => a - b);
    const folders = [...new Set(failures.flatMap((f) => f.blockIndex === null ? f.folder : []))];
    const first = failures[0];
    assert(first !== undefined);
    const what = [
      ...(blocks.length > 0 ? [`blocks ${blocks.join(", ")}`] : []),
      ...folders.map((folder) => `folder ${folder}`),
    ].join(" and ");
    this.#logger.error("flush failed", {
      imageKey: this.imageKey,
      what,
      error: first.error.message,
    });
    return new UkaiError(
      "IO",
      `Cannot flush image ${this.imageKey}: fsync failed for ${what} (${first.error.message}); ` +
        `data written since the last successful flush may be lost`,
      { cause: first.error, details: { imageKey: this.imageKey, blocks, folders } },
    );
  }
}
