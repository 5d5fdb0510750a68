/**
 * Keeps this node's block files equal to what the metadata says it holds.
 * When a command removes copies held here (`location.remove`, `move.finish`)
 * it deletes exactly those block files; when an image is removed, its folder.
 * After a restart or a snapshot install, `collect` does the same for changes
 * applied while it was not watching — only once the metadata is known to be
 * current, so a node that lags never deletes data it still holds.
 *
 * @module
 */

import { describeError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import { BlockStatus, imageStoreKey, type MetaEvent, type MetaStore } from "../meta/mod.ts";
import type { BlockStore } from "../store/mod.ts";

/** Block ranges `[start, end)` as the commands' results give them. */
type RangePairs = readonly (readonly [number, number])[];

function inRanges(block: number, ranges: RangePairs): boolean {
  return ranges.some(([start, end]) => start <= block && block < end);
}

/** Deletes block files this node no longer holds. */
export class Janitor {
  readonly #nodeId: string;
  readonly #meta: MetaStore;
  readonly #store: BlockStore;
  readonly #logger: Logger;
  #work: Promise<void> = Promise.resolve();

  constructor(options: { nodeId: string; meta: MetaStore; store: BlockStore; logger: Logger }) {
    this.#nodeId = options.nodeId;
    this.#meta = options.meta;
    this.#store = options.store;
    this.#logger = options.logger;
  }

  /** Resolves when every deletion queued so far is done. */
  settled(): Promise<void> {
    return this.#work;
  }

  #queue(job: () => Promise<void>): void {
    this.#work = this.#work.then(job).catch((error) => {
      this.#logger.error("deleting block files failed", { error: describeError(error) });
    });
  }

  /** Reacts to one applied command. */
  handle(event: MetaEvent): void {
    if (event.kind !== "applied" || !event.result.ok) return;
    const value = event.result.value;
    const type = event.command.type;
    if ((type === "location.remove" || type === "move.finish") && value.node === this.#nodeId) {
      const name = value.name as string;
      const uid = value.uid as number;
      const removed = value.removed as RangePairs;
      this.#queue(() => this.#deleteBlocks(name, uid, removed));
    } else if (type === "image.remove" && (value.locations as string[]).includes(this.#nodeId)) {
      const key = imageStoreKey(value.name as string, value.uid as number);
      this.#queue(async () => {
        await this.#store.removeImage(key);
        this.#logger.info("image copy removed", { key });
      });
    }
  }

  async #deleteBlocks(name: string, uid: number, removed: RangePairs): Promise<void> {
    const image = this.#meta.state().images.get(name);
    if (image === undefined || image.uid !== uid) return;
    const blocks = this.#store.image(imageStoreKey(name, uid), image.blockSize);
    const present = await blocks.blockIndexes();
    const doomed = present.filter((block) =>
      inRanges(block, removed) && image.statusOf(this.#nodeId, block) === BlockStatus.absent
    );
    const deleted = await blocks.deleteBlocks(doomed);
    this.#logger.info("block files removed", { image: name, blocks: deleted });
  }

  /**
   * Deletes image folders and block files the current metadata does not
   * give to this node. Call only right after a successful linearizable sync.
   */
  collect(): Promise<void> {
    this.#queue(async () => {
      const state = this.#meta.state();
      const byKey = new Map(
        [...state.images.values()].map((image) => [imageStoreKey(image.name, image.uid), image]),
      );
      for (const key of await this.#store.imageKeys()) {
        const image = byKey.get(key);
        if (image === undefined) {
          await this.#store.removeImage(key);
          this.#logger.info("stale image copy removed", { key });
          continue;
        }
        const blocks = this.#store.image(key, image.blockSize);
        const doomed = (await blocks.blockIndexes()).filter((block) =>
          block >= image.blockCount || image.statusOf(this.#nodeId, block) === BlockStatus.absent
        );
        if (doomed.length > 0) {
          await blocks.deleteBlocks(doomed);
          this.#logger.info("stale block files removed", { key, blocks: doomed.length });
        }
      }
    });
    return this.#work;
  }
}
