/**
 * The owner's side of the activity log (design rule 4, DRBD's activity log
 * kept in Raft instead of on the owner's disk, so it survives the owner):
 * before the first write to a block, the block is recorded as active in the
 * metadata; a block leaves the log only when no write to it is in flight, its
 * writes are flushed on every copy, and it has been idle for a while. After a
 * crash of the owner, the next owner reconciles exactly the active blocks.
 *
 * A block already on its way into the log is not sent again. A writer that
 * goes from block to block (its previous block is active) gets the blocks
 * ahead of it activated before it gets there, so a sequential write waits
 * for one commit at its start rather than one per block; with 4 MiB blocks,
 * a first write of three copies had paid a three-node commit every 4 MiB.
 *
 * Also tracks which blocks were written since the last flush (the dirty set),
 * which the flush path and the retire rule both need.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Clock } from "../base/clock.ts";
import { ACTIVITY_BLOCKS_MAX, type MetaStore } from "../meta/mod.ts";
import { SerialBatcher } from "./serial_batcher.ts";

/** Most blocks retired in one command. */
export const RETIRE_BATCH_MAX = 4096;
/** How far ahead of a sequential writer blocks are activated, in blocks. */
export const ACTIVITY_LOOKAHEAD_BLOCKS = 16;
/** Blocks are activated ahead only while the log holds fewer than this many. */
const LOOKAHEAD_ACTIVE_MAX = ACTIVITY_BLOCKS_MAX / 2;

/** Options of an {@link ActivityLog}. */
export interface ActivityLogOptions {
  readonly meta: MetaStore;
  readonly imageName: string;
  readonly epoch: number;
  readonly clock: Clock;
  /** A block must be idle this long before it may leave the log. */
  readonly idleMs: number;
}

/** One owned image's activity log and dirty tracking. */
export class ActivityLog {
  readonly #options: ActivityLogOptions;
  readonly #activations: SerialBatcher<number>;
  /** Blocks sent (or about to be) in an activity.add that has not committed yet. */
  readonly #pending = new Map<number, Promise<void>>();
  readonly #inflight = new Map<number, number>();
  readonly #lastWriteMs = new Map<number, number>();
  #dirty = new Set<number>();
  #flushing = new Set<number>();

  constructor(options: ActivityLogOptions) {
    this.#options = options;
    this.#activations = new SerialBatcher((blocks) =>
      options.meta.propose({
        type: "activity.add",
        name: options.imageName,
        epoch: options.epoch,
        blocks: [...new Set(blocks)],
      }).then(() => undefined)
    );
  }

  #active(): ReadonlyMap<number, number> {
    return this.#options.meta.state().images.get(this.#options.imageName)?.activity ?? new Map();
  }

  /** Whether `block` is in the committed log. */
  isActive(block: number): boolean {
    return this.#active().has(block);
  }

  /** Blocks among `blocks` not yet in the committed log. */
  inactive(blocks: readonly number[]): number[] {
    const active = this.#active();
    return blocks.filter((block) => !active.has(block));
  }

  /** Records `blocks` as active and resolves once that is committed. */
  async activate(blocks: readonly number[]): Promise<void> {
    await Promise.all(blocks.map((block) => this.#submit(block)));
  }

  /**
   * A write reaches `block` (already active or about to be): when the writer
   * comes from the block before and the log does not yet reach half a
   * lookahead past this one, activates the next blocks up to a full
   * lookahead, without waiting. Those count as written now, so a retire pass
   * does not drop them before the writer gets there.
   */
  activateAhead(block: number): void {
    const image = this.#options.meta.state().images.get(this.#options.imageName);
    if (image === undefined || block === 0) return;
    const known = (index: number) => image.activity.has(index) || this.#pending.has(index);
    const last = Math.min(block + ACTIVITY_LOOKAHEAD_BLOCKS, image.blockCount - 1);
    const trigger = Math.min(block + ACTIVITY_LOOKAHEAD_BLOCKS / 2, last);
    if (known(trigger) || !known(block - 1)) return;
    if (
      image.activity.size + this.#pending.size + ACTIVITY_LOOKAHEAD_BLOCKS > LOOKAHEAD_ACTIVE_MAX
    ) {
      return;
    }
    const now = this.#options.clock.monotonicMs();
    for (let next = block + 1; next <= last; next++) {
      if (known(next)) continue;
      this.#lastWriteMs.set(next, now);
      // Nobody waits for these: a write that reaches one waits for the same commit.
      this.#submit(next).catch(() => undefined);
    }
  }

  /** The commit that activates `block`: the one it is already in, or the next batch. */
  #submit(block: number): Promise<void> {
    let pending = this.#pending.get(block);
    if (pending === undefined) {
      pending = this.#activations.submit(block);
      this.#pending.set(block, pending);
      const forget = () => void this.#pending.delete(block);
      pending.then(forget, forget);
    }
    return pending;
  }

  /** A write to `block` starts. */
  writeStarted(block: number): void {
    this.#inflight.set(block, (this.#inflight.get(block) ?? 0) + 1);
  }

  /** A write to `block` ended (acknowledged or not: either way it may have landed). */
  writeEnded(block: number): void {
    const count = this.#inflight.get(block);
    assert(count !== undefined && count > 0, "writeEnded without writeStarted");
    if (count === 1) this.#inflight.delete(block);
    else this.#inflight.set(block, count - 1);
    this.noteWritten(block);
  }

  /** A write to `block` landed without passing here (a FUSE lane's): dirty, and busy as of now. */
  noteWritten(block: number): void {
    this.#dirty.add(block);
    this.#lastWriteMs.set(block, this.#options.clock.monotonicMs());
  }

  /** Whether any write ended since the last successful flush. */
  get hasDirty(): boolean {
    return this.#dirty.size > 0;
  }

  /** Starts a flush: returns the blocks it covers (writes completed so far). */
  beginFlush(): ReadonlySet<number> {
    const covered = this.#dirty;
    for (const block of covered) this.#flushing.add(block);
    this.#dirty = new Set();
    return covered;
  }

  /** Ends a flush of `covered`; on failure those blocks stay dirty. */
  endFlush(covered: ReadonlySet<number>, succeeded: boolean): void {
    for (const block of covered) {
      this.#flushing.delete(block);
      if (!succeeded) this.#dirty.add(block);
    }
  }

  /** Active blocks that may leave the log now (`ignoreIdle`: on release, skip the idle wait). */
  retirable(ignoreIdle = false): number[] {
    const now = ignoreIdle ? Infinity : this.#options.clock.monotonicMs();
    const blocks: number[] = [];
    for (const block of this.#active().keys()) {
      if (blocks.length >= RETIRE_BATCH_MAX) break;
      if (this.#inflight.has(block) || this.#dirty.has(block) || this.#flushing.has(block)) {
        continue;
      }
      if (now - (this.#lastWriteMs.get(block) ?? -Infinity) < this.#options.idleMs) continue;
      blocks.push(block);
    }
    return blocks;
  }

  /** Retires what may go; returns how many blocks left the log. */
  async retire(ignoreIdle = false): Promise<number> {
    const blocks = this.retirable(ignoreIdle);
    if (blocks.length === 0) return 0;
    await this.#options.meta.propose({
      type: "activity.retire",
      name: this.#options.imageName,
      epoch: this.#options.epoch,
      blocks,
    });
    for (const block of blocks) this.#lastWriteMs.delete(block);
    return blocks.length;
  }
}
