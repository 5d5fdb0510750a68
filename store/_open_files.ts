/**
 * Open block files and the bounded LRU cache of their descriptors.
 *
 * A {@link BlockFile} is one open descriptor of one block file. While it is in
 * the cache it serves reads and writes. When the cache evicts it, it is
 * *retired*: a clean file closes at once, a dirty one stays open until a
 * background fdatasync on that same descriptor has made its writes durable (a
 * failure is kept for the image's next flush, which retries). Closing
 * earlier would keep the data in the page cache but could hide a writeback
 * error from the fdatasync of a later descriptor. A *dropped* file (its block
 * was deleted, replaced or quarantined) closes as soon as no fsync uses its
 * descriptor; its unsynced writes no longer matter.
 *
 * The descriptor count can therefore exceed the cache's maximum by the retired
 * files still waiting for their fdatasync.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Logger } from "../base/log.ts";
import { closeFile } from "../ffi/libc.ts";
import type { Limiter } from "./_limiter.ts";
import { SyncTracker } from "./_sync_tracker.ts";

/** What every open block file of an image shares. */
export interface BlockFileOwner {
  readonly logger: Logger;
  readonly limiter: Limiter;
  /** fdatasync(2), or a test's replacement. */
  readonly syncFile: (fd: number) => Promise<void>;
  /** Files with writes not yet durable (or an unreported fsync failure), cached or retired. */
  readonly unsynced: Set<BlockFile>;
  /** Files out of the cache whose descriptor is still open. */
  readonly detached: Set<BlockFile>;
  /** The file's path, for messages. */
  blockPath(blockIndex: number): string;
  /** Called by the cache when it evicts `file`: forget it, then retire it. */
  evict(file: BlockFile): void;
}

/** Where a block file is in its life. */
export type BlockFileState = "cached" | "retired" | "dropped" | "closed";

/** One open descriptor of one block file. */
export class BlockFile {
  readonly owner: BlockFileOwner;
  readonly blockIndex: number;
  readonly fd: number;
  readonly sync: SyncTracker;
  state: BlockFileState = "cached";
  /** LRU links, maintained by {@link OpenFileCache}. */
  newer: BlockFile | null = null;
  older: BlockFile | null = null;

  constructor(owner: BlockFileOwner, blockIndex: number, fd: number) {
    this.owner = owner;
    this.blockIndex = blockIndex;
    this.fd = fd;
    this.sync = new SyncTracker({
      sync: () => owner.syncFile(fd),
      limiter: owner.limiter,
      settled: () => this.#settled(),
    });
  }

  /** Records a write (or punch) through this descriptor. */
  markWritten(): void {
    assert(this.state === "cached", "write through a block file that left the cache");
    if (this.sync.dirty) return;
    this.sync.markDirty();
    this.owner.unsynced.add(this);
  }

  /** Called when the cache evicts this file: close now if clean, else after its fdatasync. */
  retire(): void {
    assert(this.state === "cached");
    this.state = "retired";
    this.owner.detached.add(this);
    if (!this.sync.needsSync) {
      this.#close();
      return;
    }
    // Never rejects; a failure stays in the tracker for the next flush.
    if (this.sync.dirty) void this.sync.request();
  }

  /** Called when the block file itself is gone or replaced: forget unsynced writes, close when idle. */
  drop(): void {
    assert(this.state === "cached" || this.state === "retired");
    this.state = "dropped";
    this.owner.unsynced.delete(this);
    this.owner.detached.add(this);
    if (this.sync.idle) this.#close();
  }

  #settled(): void {
    if (this.state === "cached") {
      if (!this.sync.needsSync) this.owner.unsynced.delete(this);
    } else if (this.state === "retired") {
      if (!this.sync.needsSync) this.#close();
    } else if (this.state === "dropped") {
      if (this.sync.idle) this.#close();
    }
  }

  #close(): void {
    assert(this.sync.idle, "closing a descriptor that an fsync still uses");
    this.state = "closed";
    this.owner.unsynced.delete(this);
    this.owner.detached.delete(this);
    try {
      closeFile(this.fd);
    } catch (error) {
      // close(2) after a successful fdatasync cannot lose data; report and go on.
      this.owner.logger.warn("cannot close block file", {
        path: this.owner.blockPath(this.blockIndex),
        error: String(error),
      });
    }
  }
}

/**
 * The least-recently-used list of cached block files, across all images.
 * Hits move a file to the front without allocating.
 */
export class OpenFileCache {
  readonly max: number;
  #count = 0;
  #newest: BlockFile | null = null;
  #oldest: BlockFile | null = null;
  /** Takes an evicted file out of its image's map and retires it. */
  readonly #evict: (file: BlockFile) => void;

  constructor(max: number, evict: (file: BlockFile) => void) {
    assert(Number.isSafeInteger(max) && max >= 1, "the open file cache needs room for one file");
    this.max = max;
    this.#evict = evict;
  }

  /** Number of cached files. */
  get size(): number {
    return this.#count;
  }

  /** Adds `file` as the most recently used, evicting the least recently used beyond `max`. */
  add(file: BlockFile): void {
    assert(file.newer === null && file.older === null && this.#newest !== file);
    this.#linkNewest(file);
    this.#count += 1;
    while (this.#count > this.max) {
      const victim = this.#oldest;
      assert(victim !== null && victim !== file);
      this.remove(victim);
      this.#evict(victim);
    }
  }

  /** Marks `file` as the most recently used. */
  touch(file: BlockFile): void {
    if (this.#newest === file) return;
    this.#unlink(file);
    this.#linkNewest(file);
  }

  /** Takes `file` out of the cache (the caller retires or drops it). */
  remove(file: BlockFile): void {
    this.#unlink(file);
    this.#count -= 1;
    assert(this.#count >= 0);
  }

  #linkNewest(file: BlockFile): void {
    file.older = this.#newest;
    file.newer = null;
    if (this.#newest !== null) this.#newest.newer = file;
    this.#newest = file;
    this.#oldest ??= file;
  }

  #unlink(file: BlockFile): void {
    if (file.newer !== null) file.newer.older = file.older;
    else this.#newest = file.older;
    if (file.older !== null) file.older.newer = file.newer;
    else this.#oldest = file.newer;
    file.newer = null;
    file.older = null;
  }
}
