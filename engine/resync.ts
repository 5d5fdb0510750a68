/**
 * The owner's background resync (design rule 5): copies every out-of-sync
 * copy of a block from an in-sync copy, node to node, and marks it in sync.
 * Per block: take the block lock exclusive (writes to that block wait, so no
 * write lands between the copy and the mark), ask the target to pull from
 * the best source (same zone first, then nearest; this node's own copy when
 * it has one), then let the settler flush the target and mark in sync
 * together with the other blocks pulled meanwhile (group commit), unlock.
 * Only pulls (and the pause after a failed one) count against the
 * parallelism: a copy waiting for its group's flush has no bytes in flight,
 * and holding its slot would stall the pulls behind every flush.
 * Each copy reserves a whole block against the rate limiters before it
 * starts and gets back what it did not ship.
 * Progress is the metadata itself, so a restart resumes where it stopped.
 *
 * @module
 */

import { describeError, UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import { BlockStatus, type ImageRecord, type MetaStore } from "../meta/mod.ts";
import type { Channels } from "./channels.ts";
import type { OwnerSession } from "./owner_session.ts";
import type { PeerHealth } from "./peer_health.ts";
import type { RateLimiter } from "./rate_limiter.ts";
import { ResyncSettler } from "./resync_settler.ts";

/** Most bytes of blocks being copied at once for one image (at least two blocks, at most 32). */
export const RESYNC_BYTES_IN_FLIGHT_MAX = 128 * 1024 * 1024;

/** How many blocks of `blockSize` bytes one image copies at once. */
export function resyncParallelism(blockSize: number): number {
  return Math.min(32, Math.max(2, Math.floor(RESYNC_BYTES_IN_FLIGHT_MAX / blockSize)));
}
/** Most copies of one image pulled or waiting to settle at once, per unit of parallelism. */
export const RESYNC_SETTLING_FACTOR = 4;
/** How long a copy that could not be made waits before it is tried again. */
export const RESYNC_RETRY_DELAY_MS = 1000;

/** One copy to bring back in sync. */
export interface ResyncTask {
  readonly block: number;
  readonly target: string;
}

/** Options of a {@link ResyncRunner}. */
export interface ResyncOptions {
  readonly nodeId: string;
  readonly meta: MetaStore;
  readonly channels: Channels;
  readonly health: PeerHealth;
  readonly logger: Logger;
  readonly session: OwnerSession;
  /** The node-wide cap and this image's cap; work waits for both. */
  readonly limiters: readonly RateLimiter[];
  /** Waits `ms` milliseconds (a timer in production, virtual time in tests). */
  readonly sleep: (ms: number) => Promise<void>;
  /** Reports each block brought in sync and the bytes it moved. */
  readonly onCopied?: (task: ResyncTask, bytes: number) => void;
}

/** The next out-of-sync copies to work on, skipping `busy` ones and suspended targets. */
export function nextResyncTasks(
  image: ImageRecord,
  health: PeerHealth,
  busy: ReadonlySet<string>,
  limit: number,
): ResyncTask[] {
  const tasks: ResyncTask[] = [];
  for (const node of image.locationNodes().sort()) {
    if (health.isSuspended(node)) continue;
    const statuses = image.statusView(node) as Uint8Array;
    let block = statuses.indexOf(BlockStatus.outOfSync);
    while (block !== -1 && tasks.length < limit) {
      if (!busy.has(`${node}/${block}`)) tasks.push({ block, target: node });
      block = statuses.indexOf(BlockStatus.outOfSync, block + 1);
    }
    if (tasks.length >= limit) break;
  }
  return tasks;
}

/** Chooses the copy to pull from: this node, then the target's zone, then the nearest. */
export function chooseSource(
  target: string,
  inSync: readonly string[],
  context: { nodeId: string; health: PeerHealth; zoneOf: (node: string) => string | undefined },
): string | undefined {
  const candidates = inSync.filter((node) => node !== target && !context.health.isSuspended(node));
  const targetZone = context.zoneOf(target);
  const rank = (node: string) =>
    (node === context.nodeId ? 0 : 2) - (context.zoneOf(node) === targetZone ? 1 : 0);
  return candidates.sort((a, b) =>
    rank(a) - rank(b) || context.health.rttOf(a) - context.health.rttOf(b) || a.localeCompare(b)
  )[0];
}

/** Runs the resync of one owned image until stopped or nothing is left. */
export class ResyncRunner {
  readonly #options: ResyncOptions;
  readonly #settler: ResyncSettler;
  readonly #busy = new Set<string>();
  #running = false;
  #wake: (() => void) | null = null;
  #done: Promise<void> = Promise.resolve();

  constructor(options: ResyncOptions) {
    this.#options = options;
    const { session, channels } = options;
    this.#settler = new ResyncSettler({
      flush: (target) => channels.to(target).flush(session.header(0, 0, 0)),
      markInSync: (target, blocks) => session.marks.markInSync(target, blocks),
    });
  }

  /** Starts the loop (no-op when running). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#done = this.#loop().catch((error) => {
      this.#options.logger.error("resync stopped", {
        image: this.#options.session.imageName,
        error: describeError(error),
      });
    });
  }

  /** Asks the loop to look for work now (after a metadata change). */
  poke(): void {
    this.#wake?.();
  }

  /** Stops after the copies in progress finish. */
  async stop(): Promise<void> {
    this.#running = false;
    this.poke();
    await this.#done;
  }

  /** Whether the loop runs. */
  get running(): boolean {
    return this.#running;
  }

  async #idle(ms: number): Promise<void> {
    await Promise.race([
      this.#options.sleep(ms),
      new Promise<void>((resolve) => (this.#wake = resolve)),
    ]);
    this.#wake = null;
  }

  async #loop(): Promise<void> {
    const { session } = this.#options;
    /** Every copy under way, until it settled or gave up. */
    const copies = new Set<Promise<void>>();
    /** The slots of copies pulling, or pausing after a failure. */
    const slots = new Set<Promise<void>>();
    while (this.#running && session.active) {
      const image = session.image();
      const parallelism = resyncParallelism(image.blockSize);
      const room = Math.min(
        parallelism - slots.size,
        parallelism * RESYNC_SETTLING_FACTOR - copies.size,
      );
      const tasks = room > 0 ? nextResyncTasks(image, this.#options.health, this.#busy, room) : [];
      if (tasks.length === 0 && copies.size === 0) {
        if (image.outOfSyncTotal() === 0 && session.kind === "resync") break;
        await this.#idle(1000);
        continue;
      }
      for (const task of tasks) {
        const key = `${task.target}/${task.block}`;
        this.#busy.add(key);
        const pulled = Promise.withResolvers<void>();
        const copy = this.#copy(task, image.blockSize, pulled.resolve).then(async (copied) => {
          if (!copied) await this.#options.sleep(RESYNC_RETRY_DELAY_MS);
        }).finally(() => {
          this.#busy.delete(key);
          copies.delete(copy);
          pulled.resolve();
        });
        copies.add(copy);
        const slot = pulled.promise.then(() => void slots.delete(slot));
        slots.add(slot);
      }
      if (slots.size >= parallelism || tasks.length === 0) {
        await Promise.race([...slots, ...copies, this.#idle(1000)]);
      }
    }
    await Promise.all(copies);
    this.#running = false;
    if (session.active && session.kind === "resync") await session.release();
  }

  /**
   * Waits until every limiter allows more work, then charges `bytes` to them
   * in the same step, so that copies started together cannot all pass the
   * check before any of them is charged.
   */
  async #reserve(bytes: number): Promise<void> {
    for (;;) {
      const delay = Math.max(...this.#options.limiters.map((limiter) => limiter.delayFor()), 0);
      if (delay === 0 || !this.#running) break;
      await this.#options.sleep(delay);
    }
    for (const limiter of this.#options.limiters) limiter.charge(bytes);
  }

  /**
   * Brings one copy in sync; false when it could not (it is retried after a
   * pause). Calls `pulled` once the target holds the bytes, before settling.
   */
  async #copy(task: ResyncTask, blockSize: number, pulled: () => void): Promise<boolean> {
    const { session, health, channels, limiters } = this.#options;
    // A whole block is reserved before the copy starts; what it did not ship is given back.
    let shipped = 0;
    await this.#reserve(blockSize);
    const unlock = await session.locks.exclusive(task.block);
    try {
      if (!session.active) return false;
      const image = session.image();
      if (image.statusOf(task.target, task.block) !== BlockStatus.outOfSync) return true;
      const zoneOf = (node: string) => this.#options.meta.state().nodes.get(node)?.zone;
      const source = chooseSource(
        task.target,
        session.marks.projectedInSync(task.block),
        {
          nodeId: this.#options.nodeId,
          health,
          zoneOf,
        },
      );
      if (source === undefined) return false;
      const pull = await channels.to(task.target).pull(session.header(task.block, 0, 0), source);
      shipped = pull.bytes;
      pulled();
      await this.#settler.settle(task.target, task.block, pull.bootId);
      if (task.target !== this.#options.nodeId) health.succeeded(task.target);
      this.#options.onCopied?.(task, pull.bytes);
      return true;
    } catch (error) {
      if (error instanceof UkaiError && error.code === "STALE_EPOCH") session.lose(error.message);
      if (task.target !== this.#options.nodeId) health.failed(task.target, describeError(error));
      this.#options.logger.warn("resync of a block failed", {
        image: session.imageName,
        block: task.block,
        target: task.target,
        error: describeError(error),
      });
      return false;
    } finally {
      unlock();
      for (const limiter of limiters) limiter.refund(blockSize - shipped);
    }
  }
}
