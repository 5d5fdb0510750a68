/**
 * How much of each image this node's copy occupies on disk, for `st_blocks`
 * (qemu-img's "disk size", du). Counting means a stat of every block file, so
 * answers come from a cache refreshed in the background when older than a
 * few seconds; an image with no local copy reports 0.
 *
 * @module
 */

import { describeError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import type { ImageRecord } from "../meta/mod.ts";

/** How old a cached figure may be before it is refreshed. */
export const ALLOCATION_REFRESH_MS = 5000;

interface Entry {
  bytes: number;
  atMs: number;
  refreshing: Promise<void> | null;
}

/** Cached allocated bytes per image uid. */
export class AllocationCache {
  readonly #entries = new Map<number, Entry>();
  readonly #measure: (image: ImageRecord) => Promise<number>;
  readonly #now: () => number;
  readonly #logger: Logger;

  constructor(options: {
    measure: (image: ImageRecord) => Promise<number>;
    now: () => number;
    logger: Logger;
  }) {
    this.#measure = options.measure;
    this.#now = options.now;
    this.#logger = options.logger;
  }

  /**
   * The last known figure, refreshing it in the background when stale; the
   * first question about an image waits for its first measurement.
   */
  bytesOf(image: ImageRecord): number | Promise<number> {
    let entry = this.#entries.get(image.uid);
    if (entry === undefined) {
      entry = { bytes: 0, atMs: -Infinity, refreshing: null };
      this.#entries.set(image.uid, entry);
    }
    if (entry.refreshing === null && this.#now() - entry.atMs >= ALLOCATION_REFRESH_MS) {
      const updating = entry;
      updating.refreshing = this.#measure(image).then(
        (bytes) => {
          updating.bytes = bytes;
          updating.atMs = this.#now();
        },
        (error) => this.#logger.debug("allocation not measured", { error: describeError(error) }),
      ).finally(() => (updating.refreshing = null));
    }
    if (entry.atMs === -Infinity && entry.refreshing !== null) {
      const pending = entry;
      return pending.refreshing!.then(() => pending.bytes);
    }
    return entry.bytes;
  }
}
