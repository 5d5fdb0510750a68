/**
 * What the owner of an image does while it owns it, at one epoch: replicated
 * writes and discards (activity log first, block locks shared, every in-sync
 * copy at once, failed copies marked out of sync before the acknowledgement),
 * flushes that make every in-sync copy durable, reads from the projected
 * in-sync copies, size changes, and the graceful release. Losing the image
 * (a STALE_EPOCH answer, or a newer epoch in the metadata) ends the session:
 * everything after fails, so a deposed owner acknowledges nothing.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Clock } from "../base/clock.ts";
import { describeError, UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import type { ImageRecord, MetaStore, OwnerKind } from "../meta/mod.ts";
import { ActivityLog } from "./activity_log.ts";
import { BlockLocks, type Unlock } from "./block_locks.ts";
import { type BlockHeader, WRITE_FLAG_DURABLE } from "./block_protocol.ts";
import type { BlockServer } from "./block_server.ts";
import type { BlockChannel, Channels } from "./channels.ts";
import { type Segment, splitIntoSegments } from "./layout.ts";
import { type LaneCounts, type LanePermits, PermitKind } from "./lane_permits.ts";
import { MarkBatcher } from "./mark_batcher.ts";
import type { PeerHealth } from "./peer_health.ts";
import { readPieces } from "./reader.ts";
import { type CopyAnswer, judgeWrite, type OutOfSyncMarks } from "./write_outcome.ts";

/** Options of an {@link OwnerSession}. */
export interface OwnerSessionOptions {
  readonly nodeId: string;
  readonly meta: MetaStore;
  readonly channels: Channels;
  /** This node's block server, for the synchronous hot path. */
  readonly server: BlockServer;
  readonly health: PeerHealth;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly imageName: string;
  readonly uid: number;
  readonly epoch: number;
  readonly kind: OwnerKind;
  /** How long a block stays in the activity log after its last write. */
  readonly activityIdleMs: number;
  /** Called with the node and byte count of every copy a read was served from. */
  readonly onRead?: (node: string, bytes: number) => void;
  /** The boot ids the locations answered the takeover's fence with. */
  readonly bootIds?: ReadonlyMap<string, string>;
  /** Permits for FUSE lanes, when the mount has lanes (engine/lane_permits.ts). */
  readonly lanePermits?: LanePermits | undefined;
  /** Told the reads and writes lanes served (see {@link reportLaneCounts}). */
  readonly onLaneCounts?: (counts: LaneCounts) => void;
}

type SessionState = "active" | "releasing" | "ended";

/** Sends one segment's operation to one copy. */
type SegmentOperation = (
  channel: BlockChannel,
  header: BlockHeader,
  segment: Segment,
) => Promise<void>;

/** The owner's work on one image at one epoch. */
export class OwnerSession {
  readonly locks: BlockLocks;
  readonly marks: MarkBatcher;
  readonly activity: ActivityLog;
  readonly #options: OwnerSessionOptions;
  #state: SessionState = "active";
  #lost = false;
  #modificationsInFlight = 0;
  #drainWaiters: (() => void)[] = [];
  #growth: Promise<void> = Promise.resolve();
  /** The boot id each copy answered its last fence or flush with. */
  readonly #bootIds = new Map<string, string>();

  constructor(options: OwnerSessionOptions) {
    this.#options = options;
    for (const [node, bootId] of options.bootIds ?? []) this.#bootIds.set(node, bootId);
    const revokeLanes = () => options.lanePermits?.revoke(options.uid);
    this.locks = new BlockLocks(revokeLanes);
    this.marks = new MarkBatcher({
      meta: options.meta,
      imageName: options.imageName,
      epoch: options.epoch,
      logger: options.logger,
      beforeProjectionChange: revokeLanes,
    });
    this.activity = new ActivityLog({
      meta: options.meta,
      imageName: options.imageName,
      epoch: options.epoch,
      clock: options.clock,
      idleMs: options.activityIdleMs,
    });
    const image = options.meta.state().images.get(options.imageName);
    if (image?.uid === options.uid) {
      options.lanePermits?.register(
        options.uid,
        image.blockSize,
        (blocks) => this.#absorbLaneWrites(blocks),
      );
    }
  }

  /** Blocks lanes wrote count as written: dirty for the next flush, busy for the activity log. */
  #absorbLaneWrites(blocks: ReadonlySet<number>): void {
    const image = this.#options.meta.state().images.get(this.#options.imageName);
    if (image?.uid !== this.#options.uid) return; // removed: nothing left to flush
    const files = this.#options.server.blocksOf(image);
    for (const block of blocks) {
      this.activity.noteWritten(block);
      files.noteWritten(block);
    }
  }

  /** Passes what lanes served since the last call to `onLaneCounts`. */
  reportLaneCounts(): void {
    const counts = this.#options.lanePermits?.takeCounts(this.#options.uid);
    if (counts !== undefined && counts.readOps + counts.writeOps > 0) {
      this.#options.onLaneCounts?.(counts);
    }
  }

  #endLanes(): void {
    this.reportLaneCounts();
    this.#options.lanePermits?.release(this.#options.uid);
  }

  /**
   * Lets FUSE lanes serve what was just served synchronously
   * ({@link tryWriteNow} with `write`, {@link tryReadNow} with `read`) for
   * `[offset, offset + length)`: call right after, nothing in between.
   */
  grantLanes(offset: number, length: number, kind: "read" | "write"): void {
    const permits = this.#options.lanePermits;
    if (permits === undefined) return;
    const image = this.image();
    const files = this.#options.server.blocksOf(image);
    for (const segment of splitIntoSegments(offset, length, image.blockSize)) {
      if (permits.granted(image.uid, segment.block, PermitKind[kind])) continue;
      let fd: number | null;
      try {
        fd = files.descriptor(segment.block, kind === "write");
      } catch {
        continue; // the I/O was served; a block file that cannot be opened just gets no permit
      }
      if (fd === null) continue;
      permits.grant(image.uid, image.size, segment.block, fd, PermitKind[kind]);
    }
  }

  get epoch(): number {
    return this.#options.epoch;
  }

  get kind(): OwnerKind {
    return this.#options.kind;
  }

  get imageName(): string {
    return this.#options.imageName;
  }

  get uid(): number {
    return this.#options.uid;
  }

  /** Whether the session may still do I/O. */
  get active(): boolean {
    return this.#state === "active";
  }

  /** The image as the local metadata shows it now. */
  image(): ImageRecord {
    const image = this.#options.meta.state().images.get(this.#options.imageName);
    if (image === undefined || image.uid !== this.#options.uid) {
      throw new UkaiError("IMAGE_NOT_FOUND", `Image "${this.#options.imageName}" was removed`);
    }
    return image;
  }

  #checkActive(): void {
    if (this.#state !== "active") {
      throw new UkaiError(
        "NOT_OWNER",
        `This node no longer owns image "${this.#options.imageName}" at epoch ${this.#options.epoch}`,
      );
    }
  }

  /** Whether the session ended because another node took the image (not a release). */
  get lost(): boolean {
    return this.#lost;
  }

  /** Ends the session because another node took the image. */
  lose(reason: string): void {
    if (this.#state === "ended") return;
    this.#endLanes();
    this.#state = "ended";
    this.#lost = true;
    this.#options.logger.warn("ownership lost", {
      image: this.#options.imageName,
      epoch: this.#options.epoch,
      reason,
    });
  }

  #failIfStale(error: unknown): never {
    if (error instanceof UkaiError && error.code === "STALE_EPOCH") this.lose(error.message);
    throw error;
  }

  /** The header of a block request made under this session's image uid and epoch. */
  header(block: number, blockOffset: number, length: number, flags = 0): BlockHeader {
    return {
      uid: this.#options.uid,
      epoch: this.#options.epoch,
      block,
      offset: blockOffset,
      length,
      flags,
    };
  }

  async #ask(node: string, operation: () => Promise<void>): Promise<CopyAnswer> {
    const self = node === this.#options.nodeId;
    if (!self && this.#options.health.isSuspended(node)) {
      return { node, error: new UkaiError("UNREACHABLE", `Node "${node}" is suspended`) };
    }
    try {
      await operation();
      if (!self) this.#options.health.succeeded(node);
      return { node, error: null };
    } catch (error) {
      if (!self) this.#options.health.failed(node, describeError(error));
      return { node, error };
    }
  }

  /**
   * Writes `data` at `offset` on every in-sync copy (design rule 1). Resolves
   * when acknowledged: every copy has it, or those that missed it are marked
   * out of sync in committed metadata.
   *
   * @throws {UkaiError} OUT_OF_RANGE past the capacity; NO_IN_SYNC_LOCATION when no copy took
   *   part of it; STALE_EPOCH / NOT_OWNER when the image changed owner
   */
  async write(offset: number, data: Uint8Array<ArrayBuffer>, durable: boolean): Promise<void> {
    const image = this.#checkRange(offset, data.length);
    const segments = splitIntoSegments(offset, data.length, image.blockSize);
    const flags = durable ? WRITE_FLAG_DURABLE : 0;
    await this.#modify(segments, flags, (channel, header, segment) =>
      channel.write(
        header,
        data.subarray(segment.bufferOffset, segment.bufferOffset + segment.length),
      ));
    if (offset + data.length > image.size) await this.#grow(offset + data.length);
  }

  /**
   * The hot path: does the whole write synchronously when this node's copy is
   * the only in-sync copy of every block concerned, the blocks are already in
   * the activity log and no lock is contended. Returns false, having done
   * nothing, when the write must take {@link write}. Throws when the only
   * copy fails (nothing to mark: the write fails).
   */
  tryWriteNow(offset: number, data: Uint8Array<ArrayBuffer>): boolean {
    if (this.#state !== "active") return false;
    const image = this.image();
    if (offset + data.length > image.size) return false;
    const segments = splitIntoSegments(offset, data.length, image.blockSize);
    const self = this.#options.nodeId;
    for (const segment of segments) {
      if (!this.activity.isActive(segment.block)) return false;
      const targets = this.marks.projectedInSync(segment.block);
      if (targets.length !== 1 || targets[0] !== self) return false;
    }
    const unlocks: Unlock[] = [];
    for (const segment of segments) {
      const unlock = this.locks.trySharedNow(segment.block);
      if (unlock === null) break;
      unlocks.push(unlock);
    }
    try {
      if (unlocks.length !== segments.length) return false;
      const server = this.#options.server;
      for (const [index, segment] of segments.entries()) {
        this.activity.writeStarted(segment.block);
        try {
          const header = this.header(segment.block, segment.blockOffset, segment.length);
          const part = data.subarray(segment.bufferOffset, segment.bufferOffset + segment.length);
          const done = server.writeNow(header, part);
          // Only the first segment may fall back: later ones find the fence loaded.
          if (!done) {
            assert(index === 0, "the fence changed in the middle of a write");
            return false;
          }
        } finally {
          this.activity.writeEnded(segment.block);
        }
      }
      return true;
    } finally {
      for (const unlock of unlocks) unlock();
    }
  }

  /**
   * The read hot path: reads synchronously when this node holds an in-sync
   * copy of every block concerned; false when {@link read} must serve it.
   */
  tryReadNow(offset: number, target: Uint8Array<ArrayBuffer>): boolean {
    if (this.#state !== "active") return false;
    const image = this.image();
    const segments = splitIntoSegments(offset, target.length, image.blockSize);
    const self = this.#options.nodeId;
    for (const segment of segments) {
      if (!this.marks.projectedInSync(segment.block).includes(self)) return false;
    }
    for (const segment of segments) {
      const header = this.header(segment.block, segment.blockOffset, segment.length);
      const part = target.subarray(segment.bufferOffset, segment.bufferOffset + segment.length);
      if (!this.#options.server.readNow(header, part)) return false;
    }
    this.#options.onRead?.(self, target.length);
    return true;
  }

  /** Discards `[offset, offset + length)` on every in-sync copy; it reads as zeros after. */
  async punch(offset: number, length: number): Promise<void> {
    const image = this.#checkRange(offset, length);
    const segments = splitIntoSegments(offset, length, image.blockSize);
    await this.#modify(segments, 0, (channel, header) => channel.punch(header));
  }

  #checkRange(offset: number, length: number): ImageRecord {
    this.#checkActive();
    const image = this.image();
    if (offset + length > image.capacity) {
      throw new UkaiError(
        "OUT_OF_RANGE",
        `Cannot write ${length} bytes at ${offset}: image "${image.name}" holds ${image.capacity} bytes`,
      );
    }
    return image;
  }

  async #lockShared(blocks: readonly number[]): Promise<Unlock[]> {
    const unlocks: Unlock[] = [];
    for (const block of blocks) {
      unlocks.push(this.locks.trySharedNow(block) ?? await this.locks.shared(block));
    }
    return unlocks;
  }

  async #activate(blocks: readonly number[]): Promise<void> {
    const last = blocks.at(-1);
    if (last !== undefined) this.activity.activateAhead(last);
    const inactive = this.activity.inactive(blocks);
    if (inactive.length === 0) return;
    try {
      await this.activity.activate(inactive);
    } catch (error) {
      if (!(error instanceof UkaiError) || error.code !== "CONFLICT") this.#failIfStale(error);
      await this.flush();
      await this.activity.retire(true);
      await this.activity.activate(inactive);
    }
  }

  async #modify(segments: readonly Segment[], flags: number, operation: SegmentOperation) {
    const blocks = [...new Set(segments.map((segment) => segment.block))].sort((a, b) => a - b);
    await this.#activate(blocks);
    const unlocks = await this.#lockShared(blocks);
    this.#modificationsInFlight++;
    for (const block of blocks) this.activity.writeStarted(block);
    try {
      this.#checkActive();
      const answers = await Promise.all(segments.map(async (segment) => {
        const header = this.header(segment.block, segment.blockOffset, segment.length, flags);
        const targets = this.marks.projectedInSync(segment.block);
        return {
          block: segment.block,
          answers: await Promise.all(
            targets.map((node) =>
              this.#ask(node, () => operation(this.#options.channels.to(node), header, segment))
            ),
          ),
        };
      }));
      await this.#settle(answers);
    } finally {
      for (const block of blocks) this.activity.writeEnded(block);
      for (const unlock of unlocks) unlock();
      this.#modificationsInFlight--;
      if (this.#modificationsInFlight === 0) {
        for (const wake of this.#drainWaiters.splice(0)) wake();
      }
    }
  }

  async #settle(answers: Parameters<typeof judgeWrite>[0]): Promise<void> {
    const verdict = judgeWrite(answers);
    if (verdict.kind === "fail" && verdict.code === "STALE_EPOCH") {
      this.#failIfStale(new UkaiError(verdict.code, verdict.message));
    }
    let dropped: ReadonlySet<number>;
    try {
      dropped = (await this.marks.markOutOfSync(verdict.marks)).dropped;
    } catch (error) {
      this.#failIfStale(error);
    }
    if (dropped.size > 0) {
      throw new UkaiError(
        "NO_IN_SYNC_LOCATION",
        `Write failed: blocks ${[...dropped].join(", ")} would have no in-sync copy holding it`,
      );
    }
    if (verdict.kind === "fail") throw new UkaiError(verdict.code, verdict.message);
  }

  #grow(size: number): Promise<void> {
    this.#growth = this.#growth.catch(() => undefined).then(async () => {
      if (size <= this.image().size) return;
      await this.#options.meta.propose({
        type: "image.resize",
        name: this.#options.imageName,
        size,
        epoch: this.#options.epoch,
      });
    });
    return this.#growth;
  }

  /**
   * Makes every write acknowledged so far durable on every in-sync copy. A
   * copy whose flush fails is marked out of sync for the blocks written
   * since the last flush.
   *
   * @throws {UkaiError} NO_IN_SYNC_LOCATION when some block has no copy left that flushed
   */
  async flush(): Promise<void> {
    if (this.#state === "ended") this.#checkActive();
    const laneWrites = this.#options.lanePermits?.takeWritten(this.#options.uid);
    if (laneWrites !== undefined && laneWrites.size > 0) this.#absorbLaneWrites(laneWrites);
    const covered = this.activity.beginFlush();
    let succeeded = false;
    try {
      await this.#flushCopies(covered);
      succeeded = true;
    } finally {
      this.activity.endFlush(covered, succeeded);
    }
  }

  async #flushCopies(covered: ReadonlySet<number>): Promise<void> {
    if (covered.size === 0) return;
    const holders = new Map<string, number[]>();
    for (const block of covered) {
      for (const node of this.marks.projectedInSync(block)) {
        holders.set(node, [...(holders.get(node) ?? []), block]);
      }
    }
    const bootIds = new Map<string, string>();
    const answers = await Promise.all(
      [...holders.keys()].map((node) =>
        this.#ask(node, async () => {
          bootIds.set(node, await this.#options.channels.to(node).flush(this.header(0, 0, 0)));
        })
      ),
    );
    const stale = answers.find((answer) =>
      answer.error instanceof UkaiError && answer.error.code === "STALE_EPOCH"
    );
    if (stale !== undefined) this.#failIfStale(stale.error);
    const marks: OutOfSyncMarks = new Map();
    for (const answer of answers) {
      const bootId = bootIds.get(answer.node);
      const previous = this.#bootIds.get(answer.node);
      // A copy whose machine restarted since its last flush may have lost the
      // writes it had not flushed: exactly the blocks this flush covers.
      const rebooted = bootId !== undefined && previous !== undefined && previous !== bootId;
      if (answer.error !== null || rebooted) {
        marks.set(answer.node, new Set(holders.get(answer.node)));
      }
      if (bootId !== undefined) this.#bootIds.set(answer.node, bootId);
      if (rebooted) {
        this.#options.logger.warn(
          "a copy's machine restarted; its unflushed blocks go out of sync",
          {
            image: this.#options.imageName,
            node: answer.node,
            blocks: holders.get(answer.node)?.length,
          },
        );
      }
    }
    let dropped: ReadonlySet<number>;
    try {
      dropped = (await this.marks.markOutOfSync(marks)).dropped;
    } catch (error) {
      this.#failIfStale(error);
    }
    if (dropped.size > 0) {
      throw new UkaiError(
        "NO_IN_SYNC_LOCATION",
        `Flush failed: no copy of blocks ${[...dropped].join(", ")} could make them durable`,
      );
    }
  }

  /**
   * Reads `[offset, offset + length)` from the projected in-sync copies, as
   * one piece per block segment (see {@link readPieces}).
   */
  async readPieces(offset: number, length: number): Promise<Uint8Array[]> {
    this.#checkActive();
    const image = this.image();
    try {
      return await readPieces(
        {
          nodeId: this.#options.nodeId,
          channels: this.#options.channels,
          health: this.#options.health,
          copiesOf: (block) => this.marks.projectedInSync(block),
          epoch: this.#options.epoch,
          ...(this.#options.onRead === undefined ? {} : { served: this.#options.onRead }),
        },
        image,
        offset,
        length,
      );
    } catch (error) {
      this.#failIfStale(error);
    }
  }

  /** Sets the visible size (within the capacity); shrinking discards what falls off. */
  async truncate(size: number): Promise<void> {
    const image = this.#checkRange(0, size);
    if (size < image.size) await this.punch(size, image.size - size);
    await this.#options.meta.propose({
      type: "image.resize",
      name: this.#options.imageName,
      size,
      epoch: this.#options.epoch,
    });
  }

  /** Background upkeep: flushes what is dirty, then retires idle blocks from the activity log. */
  async upkeep(): Promise<void> {
    if (this.#state !== "active") return;
    if (this.activity.hasDirty) await this.flush();
    // Lanes keep writing the blocks they hold permits for: those must not look idle.
    this.#options.lanePermits?.revoke(this.#options.uid);
    await this.activity.retire();
  }

  /**
   * Gives the image up cleanly: waits for writes in flight, flushes every
   * copy, empties the activity log and proposes `owner.release`, so the next
   * owner has nothing to reconcile.
   */
  async release(): Promise<void> {
    if (this.#state !== "active") return;
    this.#endLanes();
    this.#state = "releasing";
    while (this.#modificationsInFlight > 0) {
      await new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
    }
    try {
      await this.flush();
      await this.activity.retire(true);
      await this.#options.meta.propose({
        type: "owner.release",
        name: this.#options.imageName,
        node: this.#options.nodeId,
        epoch: this.#options.epoch,
      });
    } finally {
      this.#state = "ended";
    }
    assert(this.#modificationsInFlight === 0, "released with writes in flight");
  }
}
