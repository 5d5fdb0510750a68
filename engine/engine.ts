/**
 * The data-path engine of one node: what the FUSE filesystem and the control
 * API call. It serves this node's copies to peers, does I/O on images as
 * their owner (taking ownership on the first write), forwards reads to the
 * owner when another node owns the image, runs resyncs, keeps block files in
 * line with the metadata, and measures its peers. Background work happens in
 * `tick()`, which the daemon calls every second (tests call it directly).
 *
 * @module
 */

import type { Clock } from "../base/clock.ts";
import { describeError, UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import type { ImageRecord, MetaEvent, MetaStore, OwnerKind } from "../meta/mod.ts";
import type { PeerStatus, Transport } from "../net/mod.ts";
import type { BlockStore } from "../store/mod.ts";
import { registerBlockRoutes } from "./block_routes.ts";
import { BlockServer } from "./block_server.ts";
import { type BlockChannel, type Channels, LocalChannel, RemoteChannel } from "./channels.ts";
import { Janitor } from "./janitor.ts";
import { type OwnerCalls, registerOwnerRoutes, RemoteOwnerCalls } from "./owner_routes.ts";
import type { OwnerSession } from "./owner_session.ts";
import { PeerHealth } from "./peer_health.ts";
import { readPieces } from "./reader.ts";
import { Ownerships } from "./ownerships.ts";
import { StatsRegistry } from "./stats.ts";
import type { LanePermits } from "./lane_permits.ts";
import { OperationTimer } from "./timing.ts";

/** Tunables of the engine, with their defaults. */
export interface EngineSettings {
  /** Deadline of one block request to a peer. */
  readonly ioTimeoutMs: number;
  /** How long a graceful release may take before a takeover goes ahead. */
  readonly releaseTimeoutMs: number;
  /** How long a failing peer is skipped. */
  readonly suspensionMs: number;
  /** Background flush interval of dirty owned images. */
  readonly flushIntervalMs: number;
  /** How long a block stays in the activity log after its last write. */
  readonly activityIdleMs: number;
  /** Bytes of block reads in flight to one peer; more wait (engine/read_window.ts). */
  readonly readWindowBytes: number;
  /** Node-wide resync cap in bytes/s (0: unlimited). */
  readonly resyncBytesPerSecond: number;
  /** This machine's boot id (Linux's /proc/sys/kernel/random/boot_id). */
  readonly bootId: string;
}

/** Defaults of {@link EngineSettings}. */
export const ENGINE_DEFAULTS: EngineSettings = {
  ioTimeoutMs: 5000,
  releaseTimeoutMs: 3000,
  suspensionMs: 10_000,
  flushIntervalMs: 5000,
  activityIdleMs: 5000,
  readWindowBytes: 4 * 1024 * 1024,
  resyncBytesPerSecond: 0,
  bootId: "unknown",
};

/** What the engine is built from. */
export interface EngineOptions {
  readonly nodeId: string;
  readonly meta: MetaStore;
  readonly store: BlockStore;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly sleep: (ms: number) => Promise<void>;
  readonly settings?: Partial<EngineSettings>;
  /** Permits for the FUSE lanes of this node's mount, if it has lanes. */
  readonly lanePermits?: LanePermits | undefined;
}

/** One node's data path. */
export class Engine implements Channels {
  readonly nodeId: string;
  readonly health: PeerHealth;
  readonly stats = new StatsRegistry();
  readonly settings: EngineSettings;
  readonly server: BlockServer;
  readonly #options: EngineOptions;
  readonly #channels = new Map<string, BlockChannel>();
  readonly #ownerships: Ownerships;
  readonly #timer: OperationTimer;
  readonly #opens = new Map<string, number>();
  readonly #janitor: Janitor;
  /** Ownership calls to other nodes (hand-over, release, forwarded reads). */
  readonly owners: OwnerCalls;
  #lastFlushMs = 0;
  #unwatch: (() => void) | null = null;
  #recovered: Promise<void> = Promise.resolve();

  constructor(options: EngineOptions) {
    this.#options = options;
    this.nodeId = options.nodeId;
    this.settings = { ...ENGINE_DEFAULTS, ...options.settings };
    this.health = new PeerHealth({
      clock: options.clock,
      suspensionMs: this.settings.suspensionMs,
    });
    this.server = new BlockServer({
      nodeId: options.nodeId,
      bootId: this.settings.bootId,
      meta: options.meta,
      store: options.store,
      logger: options.logger,
      lanePermits: options.lanePermits,
    });
    this.#janitor = new Janitor({
      nodeId: options.nodeId,
      meta: options.meta,
      store: options.store,
      logger: options.logger.child("janitor"),
    });
    this.owners = new RemoteOwnerCalls(options.transport, this.settings);
    this.#timer = new OperationTimer(options.nodeId, this.stats, options.clock);
    this.#ownerships = new Ownerships({
      nodeId: options.nodeId,
      meta: options.meta,
      clock: options.clock,
      logger: options.logger,
      sleep: options.sleep,
      settings: this.settings,
      channels: this,
      server: this.server,
      health: this.health,
      stats: this.stats,
      timer: this.#timer,
      owners: this.owners,
      openCount: (name) => this.openCount(name),
      lanePermits: options.lanePermits,
    });
    this.stats.collect = () => this.#ownerships.reportLaneCounts();
  }

  /** The session of `name` if this node owns it now. */
  sessionOf(name: string): OwnerSession | undefined {
    return this.#ownerships.sessionOf(name);
  }

  /** Takes ownership of `name` here (a no-op when already owned), e.g. for a hand-over. */
  acquire(name: string, kind: OwnerKind = "io"): Promise<OwnerSession> {
    return this.#ownerships.acquire(name, kind);
  }

  /** Releases `name` if owned here at `epoch` (a peer wants to take it over). */
  releaseFor(name: string, epoch: number): Promise<boolean> {
    return this.#ownerships.releaseFor(name, epoch);
  }

  /** Connection status of every peer (for `ukai node list`). */
  peers(): PeerStatus[] {
    return this.#options.transport.peers();
  }

  /** The channel to `node`'s block server. */
  to(node: string): BlockChannel {
    let channel = this.#channels.get(node);
    if (channel === undefined) {
      channel = node === this.nodeId
        ? new LocalChannel(node, this.server, this)
        : new RemoteChannel(node, this.#options.transport, {
          timeoutMs: this.settings.ioTimeoutMs,
          readWindowBytes: this.settings.readWindowBytes,
          clock: this.#options.clock,
        });
      this.#channels.set(node, channel);
    }
    return channel;
  }

  /**
   * Registers the peer routes and watches the metadata. Recovery from a
   * previous run — releasing ownerships it left, removing block files the
   * metadata no longer gives this node — runs in the background once the
   * metadata is known to be current (it may wait for a quorum).
   */
  start(): Promise<void> {
    registerBlockRoutes(this.#options.transport, this.server, this);
    registerOwnerRoutes(this.#options.transport, this);
    this.#unwatch = this.#options.meta.watch((event) => this.#onMetaEvent(event));
    this.#recovered = this.#recover();
    return Promise.resolve();
  }

  /** Resolves once start-up recovery is done. */
  recovered(): Promise<void> {
    return this.#recovered;
  }

  async #recover(): Promise<void> {
    for (let attempt = 1;; attempt++) {
      if (this.#unwatch === null) return;
      try {
        await this.#options.meta.sync();
        break;
      } catch (error) {
        this.#logger.warn("metadata not current yet; recovery waits", {
          attempt,
          error: describeError(error),
        });
        await this.#options.sleep(Math.min(5000, 500 * attempt));
      }
    }
    for (const image of this.#options.meta.state().images.values()) {
      if (image.owner !== this.nodeId || this.#ownerships.sessionOf(image.name)) continue;
      await this.#options.meta.propose({
        type: "owner.release",
        name: image.name,
        node: this.nodeId,
        epoch: image.epoch,
      }).catch((error) =>
        this.#logger.warn("release of a stale ownership failed", {
          image: image.name,
          error: describeError(error),
        })
      );
    }
    await this.#janitor.collect();
  }

  /** Releases every owned image cleanly (flushing every copy) and stops background work. */
  async stop(): Promise<void> {
    this.#unwatch?.();
    this.#unwatch = null;
    await this.#recovered;
    await this.#ownerships.releaseAll();
    await this.#janitor.settled();
  }

  get #logger(): Logger {
    return this.#options.logger;
  }

  #image(name: string): ImageRecord {
    return this.#options.meta.state().image(name);
  }

  // ---- I/O -----------------------------------------------------------------

  /**
   * Runs `work` on the owner session, taking ownership first. Refused while
   * the image's open handles here are fenced (another node took it over).
   */
  async #asOwner(name: string, work: (session: OwnerSession) => Promise<void>): Promise<void> {
    for (let attempt = 1;; attempt++) {
      if (this.#ownerships.isFenced(name)) {
        throw new UkaiError(
          "NOT_OWNER",
          `Image "${name}" was taken over by another node while open here; close and reopen it to write again`,
        );
      }
      const session = await this.acquire(name);
      try {
        return await work(session);
      } catch (error) {
        const lost = error instanceof UkaiError &&
          (error.code === "NOT_OWNER" || error.code === "STALE_EPOCH");
        if (!lost || attempt >= 2 || session.active) throw error;
      }
    }
  }

  /**
   * Writes `data` at `offset` (taking ownership if needed); `durable` for
   * O_SYNC/O_DSYNC. Returns nothing when the write completed synchronously
   * (the owner's only in-sync copy is local), a promise otherwise.
   */
  write(
    name: string,
    offset: number,
    data: Uint8Array<ArrayBuffer>,
    durable = false,
  ): void | Promise<void> {
    const session = durable || this.#ownerships.isFenced(name) ? undefined : this.sessionOf(name);
    const count = () => {
      const stats = this.stats.image(name);
      stats.writeOps++;
      stats.writeBytes += data.length;
    };
    if (
      session !== undefined &&
      this.#timer.now(name, "write", () => session.tryWriteNow(offset, data))
    ) {
      session.grantLanes(offset, data.length, "write");
      return count();
    }
    return this.#timer.timed(name, "write", async () => {
      await this.#asOwner(name, (owner) => owner.write(offset, data, durable));
      count();
    });
  }

  /** Discards a range (it reads as zeros afterwards). */
  async discard(name: string, offset: number, length: number): Promise<void> {
    await this.#asOwner(name, (session) => session.punch(offset, length));
    this.stats.image(name).discardOps++;
  }

  /** Sets the visible size within the capacity. */
  async truncate(name: string, size: number): Promise<void> {
    await this.#asOwner(name, (session) => session.truncate(size));
  }

  /** Makes every acknowledged write durable on every in-sync copy (a no-op when not the owner). */
  flush(name: string): Promise<void> {
    return this.#timer.timed(name, "flush", async () => {
      this.stats.image(name).flushOps++;
      await this.sessionOf(name)?.flush();
    });
  }

  /**
   * Serves a read of `[offset, offset + target.length)` (up to the visible
   * size) at once from this node's own in-sync copy, when this node owns the
   * image. True when `target` holds the bytes; false when the read needs
   * {@link read} (`target` may then hold part of them).
   */
  readNow(name: string, offset: number, target: Uint8Array<ArrayBuffer>): boolean {
    const session = this.sessionOf(name);
    if (session === undefined) return false;
    const view = this.#visible(name, offset, target);
    if (!this.#timer.now(name, "read", () => session.tryReadNow(offset, view))) return false;
    session.grantLanes(offset, view.length, "read");
    this.#countRead(name, view.length);
    return true;
  }

  /**
   * Reads `[offset, offset + length)` (up to the visible size) from the best
   * copies: the owner's session, or the owner, or the nearest in-sync copy
   * when this node does not own the image. Resolves to the bytes in order, as
   * the buffers they arrived in (one per block segment; a FUSE reply gathers
   * them without another copy).
   */
  readPieces(name: string, offset: number, length: number): Promise<Uint8Array[]> {
    const visibleLength = this.#visibleLength(name, offset, length);
    return this.#timer.timed(name, "read", async () => {
      const session = this.sessionOf(name);
      const pieces = session !== undefined
        ? await session.readPieces(offset, visibleLength)
        : await this.#readAsNonOwner(name, offset, visibleLength);
      this.#countRead(name, visibleLength);
      return pieces;
    });
  }

  /**
   * Hands back pieces from {@link readPieces} that nothing will read again:
   * the buffers that came from peers receive later answers.
   */
  releasePieces(pieces: readonly Uint8Array[]): void {
    for (const piece of pieces) this.#options.transport.releaseBody(piece);
  }

  #visible(name: string, offset: number, target: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
    return target.subarray(0, this.#visibleLength(name, offset, target.length));
  }

  #visibleLength(name: string, offset: number, length: number): number {
    const end = Math.min(offset + length, this.#image(name).size);
    return Math.max(0, end - offset);
  }

  #countRead(name: string, byteLength: number): void {
    const stats = this.stats.image(name);
    stats.readOps++;
    stats.readBytes += byteLength;
  }

  /** Reads when another node (or nobody) owns the image: forward to the owner first. */
  async #readAsNonOwner(name: string, offset: number, length: number): Promise<Uint8Array[]> {
    const owner = this.#image(name).owner;
    if (owner !== null && owner !== this.nodeId) {
      try {
        const data = await this.owners.forwardRead(owner, name, offset, length);
        if (data.length !== length) {
          throw new UkaiError("PROTOCOL", `the owner answered ${data.length} of ${length} bytes`);
        }
        this.stats.image(name).forwardedReadOps++;
        return [data];
      } catch (error) {
        this.#logger.debug("forwarded read failed; reading the copies directly", {
          image: name,
          owner,
          error: describeError(error),
        });
      }
    }
    for (let attempt = 1;; attempt++) {
      await this.#options.meta.sync();
      const image = this.#image(name);
      try {
        return await readPieces(
          {
            nodeId: this.nodeId,
            channels: this,
            health: this.health,
            copiesOf: (block) => image.inSyncNodes(block),
            epoch: image.epoch,
            served: (node, bytes) => this.#timer.countRead(name, node, bytes),
          },
          image,
          offset,
          length,
        );
      } catch (error) {
        const raced = error instanceof UkaiError && error.code === "STALE_EPOCH";
        if (!raced || attempt >= 3) throw error;
      }
    }
  }

  /**
   * Serves a read forwarded by a node that has the image open without owning
   * it: the bytes up to the visible size, as pieces the answer sends back to back.
   */
  readForPeer(name: string, offset: number, length: number): Promise<Uint8Array[]> {
    const session = this.sessionOf(name);
    if (session === undefined) {
      throw new UkaiError("NOT_OWNER", `Node "${this.nodeId}" does not own image "${name}"`);
    }
    const visibleLength = Math.max(0, Math.min(length, session.image().size - offset));
    return session.readPieces(offset, visibleLength);
  }

  // ---- opens ---------------------------------------------------------------

  /** Records an open of `name` through this node's mount (the first one is registered). */
  async open(name: string): Promise<void> {
    this.#image(name);
    const count = this.#opens.get(name) ?? 0;
    this.#opens.set(name, count + 1);
    if (count === 0) {
      await this.#options.meta.propose({ type: "image.open", name, node: this.nodeId });
    }
  }

  /** Records a close; on the last one the owner flushes, releases, and the open is dropped. */
  async close(name: string): Promise<void> {
    const count = this.#opens.get(name) ?? 0;
    if (count > 1) {
      this.#opens.set(name, count - 1);
      return;
    }
    this.#opens.delete(name);
    await this.#ownerships.release(name);
    await this.#options.meta.propose({ type: "image.close", name, node: this.nodeId })
      .catch((error) =>
        this.#logger.warn("recording a close failed", {
          image: name,
          error: describeError(error),
        })
      );
  }

  /** How many times `name` is open through this node's mount. */
  openCount(name: string): number {
    return this.#opens.get(name) ?? 0;
  }

  // ---- background ----------------------------------------------------------

  #onMetaEvent(event: MetaEvent): void {
    // Any change may end a condition a lane permit stands for.
    this.#options.lanePermits?.revokeAll();
    this.#janitor.handle(event);
    if (event.kind === "restored") {
      this.#ownerships.checkAll();
      return;
    }
    const name = "name" in event.command ? event.command.name : undefined;
    if (name === undefined) return;
    this.#ownerships.check(name);
    // A location added or a copy marked out of sync starts its resync now, not at the next tick.
    const image = this.#options.meta.state().images.get(name);
    if (image !== undefined) this.#resyncIfUnowned(image);
  }

  /** Takes a resync ownership of `image` when nobody owns it and its copy here is out of sync. */
  #resyncIfUnowned(image: ImageRecord): void {
    if (image.owner !== null || this.#ownerships.acquiring(image.name)) return;
    if (image.countsOf(this.nodeId).outOfSync === 0) return;
    void this.acquire(image.name, "resync").catch((error) =>
      this.#logger.debug("resync ownership not taken", {
        image: image.name,
        error: describeError(error),
      })
    );
  }

  /**
   * One round of background work: measure peers, flush and retire owned
   * images, and take a resync ownership of unowned images that have
   * out-of-sync copies here or are moving here.
   */
  async tick(): Promise<void> {
    const state = this.#options.meta.state();
    const pings = [...state.nodes.keys()].filter((node) => node !== this.nodeId).map((node) =>
      this.#options.transport.ping(node).then(
        (rttMs) => this.health.succeeded(node, rttMs),
        (error) => this.health.failed(node, describeError(error)),
      )
    );
    const now = this.#options.clock.monotonicMs();
    if (now - this.#lastFlushMs >= this.settings.flushIntervalMs) {
      this.#lastFlushMs = now;
      await this.#ownerships.upkeep();
    }
    for (const image of state.images.values()) this.#resyncIfUnowned(image);
    await this.#finishMoves();
    await Promise.all(pings);
  }

  async #finishMoves(): Promise<void> {
    for (const image of this.#options.meta.state().images.values()) {
      const move = image.move;
      if (move === null || move.to !== this.nodeId) continue;
      if (image.countsOf(move.to).outOfSync > 0) continue;
      await this.#options.meta.propose({ type: "move.finish", name: image.name }).catch((error) =>
        this.#logger.warn("finishing a move failed", {
          image: image.name,
          error: describeError(error),
        })
      );
    }
  }

  /** What this node is doing, for `ukai status`. */
  activity(): {
    owned: { image: string; epoch: number; kind: OwnerKind; resyncRunning: boolean }[];
    opens: Record<string, number>;
  } {
    return { owned: this.#ownerships.list(), opens: Object.fromEntries(this.#opens) };
  }
}
