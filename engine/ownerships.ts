/**
 * The images this node owns: for each, its owner session, its resync runner
 * and its rate limiter. Taking ownership (one takeover at a time per image),
 * releasing it cleanly, dropping it when the metadata says another node took
 * it — and then fencing this node's open handles of that image, so a zombie
 * VM cannot take the disk back — and keeping each resync going.
 *
 * @module
 */

import type { Clock } from "../base/clock.ts";
import { describeError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import type { MetaStore, OwnerKind } from "../meta/mod.ts";
import type { BlockServer } from "./block_server.ts";
import type { Channels } from "./channels.ts";
import type { EngineSettings } from "./engine.ts";
import type { OwnerCalls } from "./owner_routes.ts";
import type { LanePermits } from "./lane_permits.ts";
import { OwnerSession } from "./owner_session.ts";
import type { PeerHealth } from "./peer_health.ts";
import { RateLimiter } from "./rate_limiter.ts";
import { ResyncRunner } from "./resync.ts";
import type { StatsRegistry } from "./stats.ts";
import { takeOwnership } from "./takeover.ts";
import type { OperationTimer } from "./timing.ts";

/** What the ownerships of a node are built from. */
export interface OwnershipsOptions {
  readonly nodeId: string;
  readonly meta: MetaStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly sleep: (ms: number) => Promise<void>;
  readonly settings: EngineSettings;
  readonly channels: Channels;
  readonly server: BlockServer;
  readonly health: PeerHealth;
  readonly stats: StatsRegistry;
  readonly timer: OperationTimer;
  readonly owners: OwnerCalls;
  /** How many times an image is open through this node's mount. */
  readonly openCount: (name: string) => number;
  /** Permits for FUSE lanes, when the mount has lanes. */
  readonly lanePermits?: LanePermits | undefined;
}

interface Owned {
  readonly session: OwnerSession;
  readonly resync: ResyncRunner;
  readonly limiter: RateLimiter;
}

/** A summary of one owned image, for `ukai status`. */
export interface OwnedSummary {
  image: string;
  epoch: number;
  kind: OwnerKind;
  resyncRunning: boolean;
}

/** The images this node owns. */
export class Ownerships {
  readonly #options: OwnershipsOptions;
  readonly #owned = new Map<string, Owned>();
  readonly #acquiring = new Map<string, Promise<Owned>>();
  /** Releases in progress; a new takeover of the same image waits for its release. */
  readonly #releasing = new Map<string, Promise<void>>();
  /**
   * Images this node lost to another owner while they were open here: the
   * open handles are fenced (writes fail) until every one is closed, so a
   * zombie VM cannot take the disk back from its successor.
   */
  readonly #fenced = new Set<string>();
  readonly #nodeLimiter: RateLimiter;

  constructor(options: OwnershipsOptions) {
    this.#options = options;
    this.#nodeLimiter = new RateLimiter(options.settings.resyncBytesPerSecond, options.clock);
  }

  /** Whether this node's open handles of `name` are fenced. */
  isFenced(name: string): boolean {
    return this.#fenced.has(name);
  }

  /** Whether a takeover of `name` is under way. */
  acquiring(name: string): boolean {
    return this.#acquiring.has(name);
  }

  /** The session of `name` if this node owns it now. */
  /** Has every owned image pass on what FUSE lanes served (for the statistics). */
  reportLaneCounts(): void {
    for (const { session } of this.#owned.values()) session.reportLaneCounts();
  }

  sessionOf(name: string): OwnerSession | undefined {
    const owned = this.#owned.get(name);
    if (owned === undefined) return undefined;
    if (owned.session.active) return owned.session;
    // A session being released (or released) by this node is not a loss:
    // only one another node ended fences this node's open handles.
    if (owned.session.lost) void this.#drop(name, "another node took the image");
    return undefined;
  }

  /** Takes ownership of `name` here (a no-op when already owned), e.g. for a hand-over. */
  async acquire(name: string, kind: OwnerKind = "io"): Promise<OwnerSession> {
    await this.#releasing.get(name);
    const current = this.sessionOf(name);
    if (current !== undefined && (current.kind === kind || kind === "resync")) return current;
    let pending = this.#acquiring.get(name);
    if (pending === undefined) {
      pending = this.#takeover(name, kind).finally(() => this.#acquiring.delete(name));
      this.#acquiring.set(name, pending);
    }
    return (await pending).session;
  }

  async #takeover(name: string, kind: OwnerKind): Promise<Owned> {
    const previous = this.#owned.get(name);
    if (previous !== undefined) {
      await previous.session.release().catch(() => undefined);
      await this.#drop(name, "replaced");
    }
    const { uid, epoch, bootIds } = await takeOwnership(
      {
        nodeId: this.#options.nodeId,
        meta: this.#options.meta,
        channels: this.#options.channels,
        logger: this.#options.logger,
        requestRelease: (owner, image, ownerEpoch) =>
          this.#options.owners.requestRelease(owner, image, ownerEpoch),
      },
      name,
      kind,
    );
    const session = new OwnerSession({
      nodeId: this.#options.nodeId,
      meta: this.#options.meta,
      channels: this.#options.channels,
      server: this.#options.server,
      health: this.#options.health,
      clock: this.#options.clock,
      logger: this.#options.logger,
      imageName: name,
      uid,
      epoch,
      kind,
      activityIdleMs: this.#options.settings.activityIdleMs,
      onRead: (node, bytes) => this.#options.timer.countRead(name, node, bytes),
      bootIds,
      lanePermits: this.#options.lanePermits,
      onLaneCounts: (counts) => {
        const stats = this.#options.stats.image(name);
        stats.readOps += counts.readOps;
        stats.readBytes += counts.readBytes;
        stats.writeOps += counts.writeOps;
        stats.writeBytes += counts.writeBytes;
        stats.readLatency.merge(counts.readLatency.counts, counts.readLatency.sumSeconds);
        stats.writeLatency.merge(counts.writeLatency.counts, counts.writeLatency.sumSeconds);
        this.#options.timer.countRead(name, this.#options.nodeId, counts.readBytes);
      },
    });
    const limiter = new RateLimiter(
      this.#options.meta.state().image(name).resyncRateBytesPerSecond,
      this.#options.clock,
    );
    const resync = new ResyncRunner({
      nodeId: this.#options.nodeId,
      meta: this.#options.meta,
      channels: this.#options.channels,
      health: this.#options.health,
      logger: this.#options.logger,
      session,
      limiters: [this.#nodeLimiter, limiter],
      sleep: this.#options.sleep,
      onCopied: (_task, bytes) => {
        const stats = this.#options.stats.image(name);
        stats.resyncBytes += bytes;
        stats.resyncBlocks++;
      },
    });
    const owned = { session, resync, limiter };
    this.#owned.set(name, owned);
    if (this.#options.meta.state().image(name).outOfSyncTotal() > 0) resync.start();
    return owned;
  }

  async #drop(name: string, reason: string): Promise<void> {
    const owned = this.#owned.get(name);
    if (owned === undefined) return;
    this.#owned.delete(name);
    owned.session.lose(reason);
    this.#fenceOpenHandles(name, owned.session.kind);
    await owned.resync.stop();
  }

  #fenceOpenHandles(name: string, kind: OwnerKind): void {
    if (kind !== "io" || this.#options.openCount(name) === 0) return;
    this.#fenced.add(name);
    this.#options.logger.warn("image taken over while open here; its open handles are fenced", {
      image: name,
    });
  }

  /** Releases `name` cleanly (flushing every copy) if owned here; its handles are no longer fenced. */
  async release(name: string): Promise<void> {
    this.#fenced.delete(name);
    const pending = this.#releasing.get(name);
    if (pending !== undefined) return await pending;
    const owned = this.#owned.get(name);
    if (owned === undefined) return;
    const releasing = (async () => {
      await owned.resync.stop();
      try {
        await owned.session.release();
      } catch (error) {
        this.#options.logger.warn("release failed", { image: name, error: describeError(error) });
      }
      if (this.#owned.get(name) === owned) this.#owned.delete(name);
    })().finally(() => this.#releasing.delete(name));
    this.#releasing.set(name, releasing);
    await releasing;
  }

  /** Releases `name` if owned here at `epoch` (a peer wants to take it over). */
  async releaseFor(name: string, epoch: number): Promise<boolean> {
    const owned = this.#owned.get(name);
    if (owned === undefined || owned.session.epoch !== epoch) return false;
    await this.release(name);
    this.#fenceOpenHandles(name, owned.session.kind);
    return true;
  }

  /** Drops the session of `name` if the metadata says it is no longer ours; keeps resync going. */
  check(name: string): void {
    const owned = this.#owned.get(name);
    if (owned === undefined) return;
    const image = this.#options.meta.state().images.get(name);
    if (image === undefined || image.uid !== owned.session.uid) {
      void this.#drop(name, "image removed");
    } else if (image.epoch !== owned.session.epoch) {
      void this.#drop(name, `epoch ${image.epoch} taken by ${image.owner ?? "nobody"}`);
    } else {
      owned.limiter.setRate(image.resyncRateBytesPerSecond);
      if (image.outOfSyncTotal() > 0) {
        owned.resync.start();
        owned.resync.poke();
      }
    }
  }

  /** Checks every owned image (after a snapshot install). */
  checkAll(): void {
    for (const name of [...this.#owned.keys()]) this.check(name);
  }

  /** Background upkeep of every owned image: flush what is dirty, retire the activity log. */
  async upkeep(): Promise<void> {
    await Promise.all(
      [...this.#owned.values()].map(({ session }) =>
        session.upkeep().catch((error) =>
          this.#options.logger.warn("background flush failed", {
            image: session.imageName,
            error: describeError(error),
          })
        )
      ),
    );
  }

  /** Releases every owned image cleanly (the node stops). */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.#owned.keys()].map((name) => this.release(name)));
  }

  /** The owned images, for `ukai status`. */
  list(): OwnedSummary[] {
    return [...this.#owned.values()].map(({ session, resync }) => ({
      image: session.imageName,
      epoch: session.epoch,
      kind: session.kind,
      resyncRunning: resync.running,
    }));
  }
}
