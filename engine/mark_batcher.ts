/**
 * Batches the owner's block-status changes into `blocks.mark` commands: marks
 * made in the same instant travel in one Raft command, and one command is in
 * flight per image at a time (the next batch gathers meanwhile).
 *
 * It also keeps the *projected* view — the committed in-sync set minus the
 * out-of-sync marks not yet committed — so concurrent writes can never mark
 * every copy of a block out of sync between them: a write whose marks would
 * leave a block without an in-sync copy has those marks dropped and must fail
 * (the copies left in sync all missed that write, so they still agree).
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Logger } from "../base/log.ts";
import { UkaiError } from "../base/errors.ts";
import { type BlockMark, BlockStatus, type MetaStore, rangesOfIndexes } from "../meta/mod.ts";
import { SerialBatcher } from "./serial_batcher.ts";
import type { OutOfSyncMarks } from "./write_outcome.ts";

/** What became of a request to mark blocks out of sync. */
export interface MarkOutcome {
  /** Blocks whose marks were not made because no in-sync copy would remain. */
  readonly dropped: ReadonlySet<number>;
}

interface Submission {
  readonly outOfSync: OutOfSyncMarks;
  readonly inSync: OutOfSyncMarks;
}

/** Options of a {@link MarkBatcher}. */
export interface MarkBatcherOptions {
  readonly meta: MetaStore;
  readonly imageName: string;
  /** The owner's epoch; every command carries it. */
  readonly epoch: number;
  readonly logger: Logger;
  /** Runs before out-of-sync marks change the projected view. */
  readonly beforeProjectionChange?: () => void;
}

/** Serialises and batches one owned image's status changes. */
export class MarkBatcher {
  readonly #options: MarkBatcherOptions;
  readonly #pendingOut = new Map<number, Set<string>>();
  readonly #batcher = new SerialBatcher<Submission>((batch) => this.#propose(batch));

  constructor(options: MarkBatcherOptions) {
    this.#options = options;
  }

  /** In-sync copies of `block` once every submitted mark is committed. */
  projectedInSync(block: number): string[] {
    const image = this.#options.meta.state().images.get(this.#options.imageName);
    if (image === undefined) return [];
    const pending = this.#pendingOut.get(block);
    const nodes = image.inSyncNodes(block);
    return pending === undefined ? nodes : nodes.filter((node) => !pending.has(node));
  }

  /**
   * Marks copies out of sync and resolves once committed and applied here.
   * Blocks whose marks would orphan them are dropped and reported.
   *
   * @throws {UkaiError} STALE_EPOCH when the image changed owner, or the refusal's code
   */
  async markOutOfSync(marks: OutOfSyncMarks): Promise<MarkOutcome> {
    const byBlock = new Map<number, string[]>();
    for (const [node, blocks] of marks) {
      for (const block of blocks) byBlock.set(block, [...(byBlock.get(block) ?? []), node]);
    }
    const dropped = new Set<number>();
    const accepted: OutOfSyncMarks = new Map();
    for (const [block, nodes] of byBlock) {
      const inSync = this.projectedInSync(block);
      const toMark = nodes.filter((node) => inSync.includes(node));
      if (toMark.length === 0) continue;
      if (inSync.length === toMark.length) {
        dropped.add(block);
        continue;
      }
      if (accepted.size === 0) this.#options.beforeProjectionChange?.();
      const pending = this.#pendingOut.get(block) ?? new Set<string>();
      for (const node of toMark) {
        pending.add(node);
        accepted.set(node, (accepted.get(node) ?? new Set()).add(block));
      }
      this.#pendingOut.set(block, pending);
    }
    if (accepted.size > 0) await this.#submit(accepted, new Map());
    return { dropped };
  }

  /** Marks copies in sync (after a resync) and resolves once committed. */
  async markInSync(node: string, blocks: Iterable<number>): Promise<void> {
    await this.#submit(new Map(), new Map([[node, new Set(blocks)]]));
  }

  async #submit(outOfSync: OutOfSyncMarks, inSync: OutOfSyncMarks): Promise<void> {
    const submission = { outOfSync, inSync };
    try {
      await this.#batcher.submit(submission);
    } finally {
      this.#forget(submission);
    }
  }

  async #propose(batch: Submission[]): Promise<void> {
    try {
      let marks = collectMarks(batch);
      for (let attempt = 1;; attempt++) {
        try {
          await this.#options.meta.propose({
            type: "blocks.mark",
            name: this.#options.imageName,
            epoch: this.#options.epoch,
            marks,
            retireActivity: [],
          });
          return;
        } catch (error) {
          // A location removed meanwhile makes its marks moot: drop them, retry once.
          const moot = error instanceof UkaiError && error.code === "NOT_A_LOCATION";
          if (!moot || attempt > 1) throw error;
          marks = this.#stillHeld(marks);
          if (marks.length === 0) return;
        }
      }
    } catch (error) {
      this.#options.logger.warn("block status change refused", {
        image: this.#options.imageName,
        epoch: this.#options.epoch,
        error: error instanceof Error ? error.message : String(error),
      });
      throw error;
    }
  }

  /** `marks` restricted to blocks the named nodes still hold. */
  #stillHeld(marks: readonly BlockMark[]): BlockMark[] {
    const image = this.#options.meta.state().images.get(this.#options.imageName);
    if (image === undefined) return [];
    const kept: BlockMark[] = [];
    for (const mark of marks) {
      const held: number[] = [];
      for (const range of mark.ranges) {
        for (let block = range.start; block < range.end; block++) {
          if (image.statusOf(mark.node, block) !== BlockStatus.absent) held.push(block);
        }
      }
      if (held.length > 0) kept.push({ ...mark, ranges: rangesOfIndexes(held) });
    }
    return kept;
  }

  /** Once a submission's command is applied (or refused), the meta view speaks for it. */
  #forget(submission: Submission): void {
    for (const [node, blocks] of submission.outOfSync) {
      for (const block of blocks) {
        const pending = this.#pendingOut.get(block);
        assert(pending !== undefined, "a submitted mark was not pending");
        pending.delete(node);
        if (pending.size === 0) this.#pendingOut.delete(block);
      }
    }
  }
}

function collectMarks(batch: readonly Submission[]): BlockMark[] {
  const outOfSync = new Map<string, number[]>();
  const inSync = new Map<string, number[]>();
  for (const submission of batch) {
    for (
      const [target, source] of [[outOfSync, submission.outOfSync], [
        inSync,
        submission.inSync,
      ]] as const
    ) {
      for (const [node, blocks] of source) {
        target.set(node, [...(target.get(node) ?? []), ...blocks]);
      }
    }
  }
  const marks: BlockMark[] = [];
  for (const [node, blocks] of inSync) {
    marks.push({ node, ranges: rangesOfIndexes(blocks), status: "inSync" });
  }
  for (const [node, blocks] of outOfSync) {
    marks.push({ node, ranges: rangesOfIndexes(blocks), status: "outOfSync" });
  }
  return marks;
}
