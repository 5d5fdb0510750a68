/**
 * Group commit for resync: copies pulled into a node become durable and in
 * sync in groups. Every copy pulled into a node while that node's previous
 * group was settling joins the next group, which costs one flush of the node
 * and one metadata command for all of its blocks, instead of an fsync and a
 * command per block. The flush must answer the boot id that the pulls
 * answered: a node whose machine restarted in between may have lost the
 * pulled bytes from its page cache, so none of them is marked in sync.
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";

/** What settling needs. */
export interface SettlerOptions {
  /** Makes the image's copy on `target` durable; resolves to the target's boot id. */
  flush(target: string): Promise<string>;
  /** Marks `blocks` of `target` in sync, in one metadata command. */
  markInSync(target: string, blocks: readonly number[]): Promise<void>;
}

interface Waiter {
  readonly block: number;
  readonly bootId: string;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Settles pulled copies per target node, one group at a time. */
export class ResyncSettler {
  readonly #options: SettlerOptions;
  /** Per target: the copies waiting for the next group. */
  readonly #waiting = new Map<string, Waiter[]>();
  /** Targets with a group being settled. */
  readonly #settling = new Set<string>();

  constructor(options: SettlerOptions) {
    this.#options = options;
  }

  /**
   * Resolves once the copy of `block` pulled into `target` (which answered
   * `bootId`) is durable and marked in sync; rejects when it could not be.
   */
  settle(target: string, block: number, bootId: string): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const waiting = this.#waiting.get(target) ?? [];
    waiting.push({ block, bootId, resolve, reject });
    this.#waiting.set(target, waiting);
    if (!this.#settling.has(target)) void this.#run(target);
    return promise;
  }

  async #run(target: string): Promise<void> {
    this.#settling.add(target);
    try {
      for (;;) {
        const group = this.#waiting.get(target) ?? [];
        if (group.length === 0) return;
        this.#waiting.delete(target);
        await this.#settleGroup(target, group);
      }
    } finally {
      this.#settling.delete(target);
    }
  }

  async #settleGroup(target: string, group: readonly Waiter[]): Promise<void> {
    try {
      const bootId = await this.#options.flush(target);
      const kept = group.filter((waiter) => waiter.bootId === bootId);
      for (const waiter of group) {
        if (waiter.bootId === bootId) continue;
        waiter.reject(
          new UkaiError(
            "IO",
            `Node "${target}" restarted (boot id changed) before its copy of block ` +
              `${waiter.block} was durable; it will be copied again`,
          ),
        );
      }
      if (kept.length > 0) {
        await this.#options.markInSync(target, kept.map((waiter) => waiter.block));
      }
      for (const waiter of kept) waiter.resolve();
    } catch (error) {
      for (const waiter of group) waiter.reject(error);
    }
  }
}
