/**
 * Local block files for image copies: `ROOT/images/<imageKey>/<%08d block index>`.
 *
 * `imageKey` is an opaque folder name chosen by the caller (ukai uses
 * `<imageName>.<imageUid>`, so a removed and re-created image never meets old
 * files); keys and block indexes are validated so no name can leave its
 * folder. The store owns what all images share: the bounded LRU cache of open
 * descriptors, the limit on concurrent fsyncs, and the `images/` folder.
 * Per-image work goes through {@link ImageBlocks} handles from
 * {@link BlockStore.image}.
 *
 * @module
 */

import { BLOCK_SIZE_MAX, BLOCK_SIZE_MIN, SECTOR_SIZE } from "../constants.ts";
import { assert } from "../base/assert.ts";
import { UkaiError } from "../base/errors.ts";
import { type Logger, silentLogger } from "../base/log.ts";
import { fdatasync, statvfs } from "../ffi/libc.ts";
import { isImageKey, validateImageKey } from "./_block_names.ts";
import { fsyncDirectory, isNotFound, storeError } from "./_fs.ts";
import { Limiter } from "./_limiter.ts";
import { OpenFileCache } from "./_open_files.ts";
import { SyncTracker } from "./_sync_tracker.ts";
import { ImageBlocks } from "./image_blocks.ts";

/** Default bound of the open-descriptor cache. */
export const OPEN_FILES_MAX_DEFAULT = 1024;
/** Default bound of fsyncs running at once (each occupies a worker thread). */
export const SYNC_CONCURRENCY_MAX_DEFAULT = 16;

/** How a block store is set up. */
export interface BlockStoreOptions {
  /** Data folder; the store keeps its files under `ROOT/images/` (created when missing). */
  root: string;
  /**
   * Most block files kept open (LRU). Files evicted with unsynced writes stay
   * open until their fdatasync completes, so the count can briefly exceed it.
   */
  openFilesMax?: number;
  /** Most fsyncs running at once. */
  syncConcurrencyMax?: number;
  logger?: Logger;
  /** Replaces fdatasync(2) of block files (tests count or fail syncs with it). */
  syncFile?: (fd: number) => Promise<void>;
}

/** Space on the file system that holds the store. */
export interface StoreCapacity {
  totalBytes: number;
  /** Free for unprivileged users (what ukai may fill). */
  availableBytes: number;
  freeBytes: number;
}

/** The block files of every image copy held by this node. */
export class BlockStore {
  /** The data folder. */
  readonly root: string;
  /** `ROOT/images`, the parent of every image folder. */
  readonly imagesFolder: string;
  readonly #logger: Logger;
  readonly #cache: OpenFileCache;
  readonly #limiter: Limiter;
  readonly #syncFile: (fd: number) => Promise<void>;
  readonly #imagesFolderSync: SyncTracker;
  readonly #images = new Map<string, ImageBlocks>();
  #closed = false;

  private constructor(options: BlockStoreOptions) {
    const openFilesMax = options.openFilesMax ?? OPEN_FILES_MAX_DEFAULT;
    const syncConcurrencyMax = options.syncConcurrencyMax ?? SYNC_CONCURRENCY_MAX_DEFAULT;
    assert(Number.isSafeInteger(openFilesMax) && openFilesMax >= 1, "openFilesMax must be ≥ 1");
    assert(
      Number.isSafeInteger(syncConcurrencyMax) && syncConcurrencyMax >= 1,
      "syncConcurrencyMax must be ≥ 1",
    );
    this.root = options.root;
    this.imagesFolder = `${options.root}/images`;
    this.#logger = options.logger ?? silentLogger;
    this.#cache = new OpenFileCache(openFilesMax, (file) => file.owner.evict(file));
    this.#limiter = new Limiter(syncConcurrencyMax);
    this.#syncFile = options.syncFile ?? fdatasync;
    this.#imagesFolderSync = new SyncTracker({
      sync: () => fsyncDirectory(this.imagesFolder),
      limiter: this.#limiter,
      settled: () => {},
    });
  }

  /**
   * Opens the store at `options.root`, creating `ROOT/images` when missing.
   *
   * @throws {UkaiError} NO_SPACE, IO
   * @example
   * ```ts
   * import { BlockStore } from "./block_store.ts";
   * const root = await Deno.makeTempDir();
   * const store = await BlockStore.open({ root });
   * const image = store.image("vm1.3f2a", 64 * 1024);
   * image.write(0, 4096, new Uint8Array(512).fill(7));
   * await image.flush();
   * const back = new Uint8Array(512);
   * image.read(0, 4096, back);
   * await store.close();
   * await Deno.remove(root, { recursive: true });
   * ```
   */
  static async open(options: BlockStoreOptions): Promise<BlockStore> {
    const store = new BlockStore(options);
    try {
      await Deno.mkdir(store.imagesFolder, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw storeError(error, `Cannot create ${store.imagesFolder}`);
    }
    await fsyncDirectory(store.root);
    return store;
  }

  /**
   * The handle for image `imageKey`, whose blocks are `blockSize` bytes. The
   * same key always gives the same handle; its folder is created on the first
   * write.
   *
   * @throws {UkaiError} INVALID_ARGUMENT for an unsafe key, a block size outside
   * [BLOCK_SIZE_MIN, BLOCK_SIZE_MAX] or not whole sectors, or a key already open
   * with another block size
   */
  image(imageKey: string, blockSize: number): ImageBlocks {
    assert(!this.#closed, "the block store is closed");
    validateImageKey(imageKey);
    if (
      !Number.isSafeInteger(blockSize) || blockSize < BLOCK_SIZE_MIN ||
      blockSize > BLOCK_SIZE_MAX || blockSize % SECTOR_SIZE !== 0
    ) {
      throw new UkaiError(
        "INVALID_ARGUMENT",
        `Cannot use block size ${blockSize} for image ${imageKey}: expected whole sectors ` +
          `between ${BLOCK_SIZE_MIN} and ${BLOCK_SIZE_MAX} bytes`,
      );
    }
    const known = this.#images.get(imageKey);
    if (known !== undefined) {
      if (known.blockSize !== blockSize) {
        throw new UkaiError(
          "INVALID_ARGUMENT",
          `Image ${imageKey} is open with block size ${known.blockSize}, not ${blockSize}`,
        );
      }
      return known;
    }
    const image = new ImageBlocks(
      {
        imagesFolder: this.imagesFolder,
        cache: this.#cache,
        limiter: this.#limiter,
        logger: this.#logger,
        syncFile: this.#syncFile,
        imagesFolderSync: this.#imagesFolderSync,
      },
      imageKey,
      blockSize,
    );
    this.#images.set(imageKey, image);
    return image;
  }

  /**
   * The keys of the image folders present, sorted (entries that are not valid
   * keys are ignored).
   *
   * @throws {UkaiError} IO
   */
  async imageKeys(): Promise<string[]> {
    const keys: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.imagesFolder)) {
        if (entry.isDirectory && isImageKey(entry.name)) keys.push(entry.name);
      }
    } catch (error) {
      throw storeError(error, `Cannot list ${this.imagesFolder}`);
    }
    return keys.sort();
  }

  /**
   * Removes image `imageKey`'s folder with everything in it (block files,
   * quarantined copies, fence) durably. Its handle stops working
   * (IMAGE_NOT_FOUND); unsynced writes through it are forgotten.
   *
   * @returns whether there was a folder to remove
   * @throws {UkaiError} INVALID_ARGUMENT, IO
   */
  async removeImage(imageKey: string): Promise<boolean> {
    validateImageKey(imageKey);
    const image = this.#images.get(imageKey);
    if (image !== undefined) {
      this.#images.delete(imageKey);
      await image.release("removed");
    }
    const folder = `${this.imagesFolder}/${imageKey}`;
    try {
      await Deno.remove(folder, { recursive: true });
    } catch (error) {
      if (isNotFound(error)) return false;
      throw storeError(error, `Cannot remove ${folder}`);
    }
    this.#imagesFolderSync.markDirty();
    const failure = await this.#imagesFolderSync.request();
    if (failure !== null) {
      this.#imagesFolderSync.takeFailure();
      throw storeError(failure, `Cannot remove ${folder}`);
    }
    this.#logger.info("image folder removed", { folder });
    return true;
  }

  /**
   * Flushes every image opened through this store (see `ImageBlocks.flush`).
   *
   * @throws {UkaiError} the image's error when one image fails, IO naming the
   * images (`details.imageKeys`) when several do
   */
  async flushAll(): Promise<void> {
    const images = [...this.#images.values()];
    const results = await Promise.allSettled(images.map((image) => image.flush()));
    const failed: { imageKey: string; reason: unknown }[] = [];
    results.forEach((result, index) => {
      const image = images[index];
      assert(image !== undefined);
      if (result.status === "rejected") {
        failed.push({ imageKey: image.imageKey, reason: result.reason });
      }
    });
    const first = failed[0];
    if (first === undefined) return;
    if (failed.length === 1) throw first.reason;
    const imageKeys = failed.map((failure) => failure.imageKey);
    throw new UkaiError("IO", `Cannot flush images ${imageKeys.join(", ")}`, {
      cause: first.reason,
      details: { imageKeys },
    });
  }

  /**
   * Size and free space of the file system holding the store (statvfs).
   *
   * @throws {UkaiError} IO
   */
  capacity(): StoreCapacity {
    try {
      const stat = statvfs(this.root);
      return {
        totalBytes: stat.blocks * stat.fragmentSize,
        availableBytes: stat.blocksAvailable * stat.fragmentSize,
        freeBytes: stat.blocksFree * stat.fragmentSize,
      };
    } catch (error) {
      throw storeError(error, `Cannot read the capacity of ${this.root}`);
    }
  }

  /** Number of block files in the descriptor cache. */
  get cachedFileCount(): number {
    return this.#cache.size;
  }

  /**
   * Flushes every image, then closes every descriptor (also when the flush
   * failed, whose error is then thrown).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    let failure: unknown = null;
    try {
      await this.flushAll();
    } catch (error) {
      failure = error;
    }
    this.#closed = true;
    for (const image of this.#images.values()) await image.release("closed");
    this.#images.clear();
    await this.#imagesFolderSync.whenIdle();
    assert(this.#cache.size === 0, "descriptors left in the cache after close");
    if (failure !== null) throw failure;
  }
}
