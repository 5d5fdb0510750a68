/**
 * The Raft node around the pure core: one driver owns the `RawNode` and runs
 * the Ready procedure (raft/mod.ts) in a single sequential loop — send the
 * leader's appends and apply what was already durable, persist (fsync when
 * required), only then send the rest, apply, advance — so no vote or
 * acknowledgement leaves before the state it promises is durable, the
 * leader's fsync overlaps its followers', and a commit is answered without
 * waiting for the fsync of newer entries. Ticks come
 * from a timer (or from a test), messages from the peer transport. It also
 * takes snapshots of the state machine to compact the log, and resolves
 * ReadIndex requests once the applied index reaches them.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { describeError, UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import type { Rng } from "../base/rng.ts";
import type { Transport } from "../net/mod.ts";
import { CommitNotices, isCommitNotice } from "./commit_notices.ts";
import {
  committedBeforePersist,
  type ConfChange,
  type ConfState,
  decodeConfChange,
  decodeMessage,
  encodeMessage,
  type Entry,
  type MemoryStorage,
  type Message,
  MessageType,
  type ProposeResult,
  RaftCodecError,
  RawNode,
  type Ready,
  sendableBeforePersist,
  type Snapshot,
  type Status,
} from "../raft/mod.ts";

/** Frame types of the cluster layer on the peer transport (100-199). */
export const ClusterMessage = {
  raft: 100,
  raftSnapshot: 101,
  join: 102,
  membership: 103,
  status: 104,
} as const;

/** The state machine the node applies committed entries to. */
export interface RaftApplier {
  /** Applies a committed normal entry with data. */
  applyEntry(entry: Entry): void;
  /** Reacts to a committed membership change (already applied to the Raft core). */
  applyConfChange(entry: Entry, change: ConfChange, confState: ConfState): void;
  /** Replaces the state machine with a snapshot's data. */
  restore(snapshot: Snapshot): void;
  /** The state machine's bytes at the applied index, for a snapshot. */
  snapshotData(): Uint8Array;
}

/** Where the node persists Raft state (`RaftLog` in production). */
export interface RaftPersistence {
  readonly storage: MemoryStorage;
  save(ready: Ready): Promise<void>;
  compact(index: number, confState: ConfState, data: Uint8Array): Promise<void>;
}

/** Timing and sizing of a node. */
export interface RaftTimings {
  /** Milliseconds per tick. */
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** Applied entries between snapshots. */
  readonly snapshotEntries: number;
}

/** Options of a {@link RaftNode}. */
export interface RaftNodeOptions {
  readonly id: string;
  readonly persistence: RaftPersistence;
  readonly transport: Transport;
  readonly applier: RaftApplier;
  readonly logger: Logger;
  readonly rng: Rng;
  readonly timings: RaftTimings;
}

interface ReadWaiter {
  readonly resolve: (index: number) => void;
}

/** A member of the Raft group. */
export class RaftNode {
  readonly raw: RawNode;
  readonly #options: RaftNodeOptions;
  #applied: number;
  #confState: ConfState;
  #snapshotIndex: number;
  #processing = false;
  #again = false;
  #loop: Promise<void> = Promise.resolve();
  #stopped = false;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #nextReadId = 1;
  readonly #readWaiters = new Map<string, ReadWaiter>();
  readonly #appliedWaiters: { index: number; resolve: () => void }[] = [];
  /** A failure of the loop (a disk error): the node must stop, nothing more is safe. */
  #failure: unknown = null;
  readonly #commitNotices: CommitNotices;

  constructor(options: RaftNodeOptions) {
    this.#options = options;
    this.#commitNotices = new CommitNotices((message) => this.#send(message));
    const storage = options.persistence.storage;
    const snapshot = storage.snapshot();
    this.#snapshotIndex = snapshot.metadata.index;
    this.#applied = snapshot.metadata.index;
    this.#confState = storage.initialState().confState;
    if (snapshot.metadata.index > 0) options.applier.restore(snapshot);
    this.raw = new RawNode({
      id: options.id,
      storage,
      applied: this.#applied,
      electionTicks: options.timings.electionTicks,
      heartbeatTicks: options.timings.heartbeatTicks,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 256,
      maxUncommittedEntriesSize: 64 * 1024 * 1024,
      checkQuorum: true,
      preVote: true,
      rng: options.rng,
    });
  }

  /** Index of the last applied entry. */
  get applied(): number {
    return this.#applied;
  }

  /** The membership as applied. */
  get confState(): ConfState {
    return this.#confState;
  }

  /** The id of the leader this node knows, or "" . */
  get leader(): string {
    return this.raw.status().lead;
  }

  /** The core's status. */
  status(): Status {
    return this.raw.status();
  }

  /** Registers the transport handlers and starts the tick timer (omit `timer` in tests). */
  start(options: { timer: boolean }): void {
    const { transport } = this.#options;
    transport.onMessage(ClusterMessage.raft, (from, body) => this.#receive(from, body));
    transport.handle(ClusterMessage.raftSnapshot, (from, body) => {
      this.#receive(from, body);
      return new Uint8Array(0);
    });
    if (options.timer) {
      this.#ticker = setInterval(() => this.tick(), this.#options.timings.tickMs);
    }
    this.#kick();
  }

  /** Stops ticking and processing; resolves once the Ready loop is idle. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#commitNotices.clear();
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
    this.#ticker = undefined;
    await this.#loop;
  }

  /** Moves Raft time forward by one tick. */
  tick(): void {
    if (this.#stopped) return;
    this.raw.tick();
    this.#kick();
  }

  #receive(from: string, body: Uint8Array): void {
    if (this.#stopped) return;
    let message: Message;
    try {
      message = decodeMessage(body);
    } catch (error) {
      if (!(error instanceof RaftCodecError)) throw error;
      this.#options.logger.warn("undecodable Raft message dropped", { from, error: error.message });
      return;
    }
    // Proposals and read requests are forwarded between nodes with their
    // original sender; everything else must come from the node it names.
    const forwardable = message.type === MessageType.Prop || message.type === MessageType.ReadIndex;
    if (message.from !== from && !forwardable) {
      this.#options.logger.warn("Raft message with a forged sender dropped", {
        from,
        claimed: message.from,
      });
      return;
    }
    const result = this.raw.step(message);
    if (result.kind === "rejected" && result.reason !== "unknownPeer") {
      this.#options.logger.debug("Raft message refused", { from, reason: result.reason });
    }
    if (message.type === MessageType.Prop && result.kind === "stepped") {
      // Its proposer waits to apply it: the notice that commits it must not be held.
      const appendedUpTo = this.raw.status().progress.get(this.#options.id)?.match;
      if (appendedUpTo !== undefined) this.#commitNotices.awaited(message.from, appendedUpTo);
    }
    this.#kick();
  }

  /** Proposes `data`; see ProposeResult for what may happen to it. */
  propose(data: Uint8Array): ProposeResult {
    this.#checkHealthy();
    const result = this.raw.propose(data);
    this.#kick();
    return result;
  }

  /** Proposes a membership change. */
  proposeConfChange(change: ConfChange): ProposeResult {
    this.#checkHealthy();
    const result = this.raw.proposeConfChange(change);
    this.#kick();
    return result;
  }

  /** Hands leadership to `to` (the core aborts it after an election timeout). */
  transferLeader(to: string): void {
    this.raw.transferLeader(to);
    this.#kick();
  }

  /**
   * Resolves with a read index: once applied up to it, local reads are
   * linearizable.
   *
   * @throws {UkaiError} NO_QUORUM when no leader is known, NOT_LEADER when refused,
   *   TIMEOUT when no answer came within `timeoutMs` (leadership changed)
   */
  async readIndex(timeoutMs: number): Promise<number> {
    this.#checkHealthy();
    const key = `${this.#options.id}:${this.#nextReadId++}`;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answered = new Promise<number>((resolve, reject) => {
      this.#readWaiters.set(key, { resolve });
      timer = setTimeout(() => {
        this.#readWaiters.delete(key);
        reject(new UkaiError("TIMEOUT", `No read index within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      const result = this.raw.readIndex(new TextEncoder().encode(key));
      if (result.kind === "dropped") {
        throw new UkaiError(
          result.reason === "noLeader" ? "NO_QUORUM" : "NOT_LEADER",
          `Read index refused: ${result.reason} (${result.detail})`,
        );
      }
      this.#kick();
      return await answered;
    } finally {
      clearTimeout(timer);
      this.#readWaiters.delete(key);
      answered.catch(() => undefined);
    }
  }

  /** Resolves once the applied index reaches `index`. */
  waitApplied(index: number): Promise<void> {
    if (this.#applied >= index) return Promise.resolve();
    return new Promise((resolve) => this.#appliedWaiters.push({ index, resolve }));
  }

  #checkHealthy(): void {
    if (this.#failure !== null) {
      throw new UkaiError(
        "IO",
        `The Raft node stopped after a failure: ${describeError(this.#failure)}`,
      );
    }
    if (this.#stopped) throw new UkaiError("SHUTTING_DOWN", "The Raft node is stopping");
  }

  #kick(): void {
    if (this.#stopped || this.#failure !== null) return;
    if (this.#processing) {
      this.#again = true;
      return;
    }
    this.#processing = true;
    this.#loop = Promise.resolve().then(() => this.#process());
  }

  async #process(): Promise<void> {
    try {
      do {
        this.#again = false;
        while (!this.#stopped && this.raw.hasReady()) await this.#handleReady(this.raw.ready());
      } while (this.#again && !this.#stopped);
    } catch (error) {
      this.#failure = error;
      this.#options.logger.error("Raft node failed; it no longer takes part", {
        error: describeError(error),
      });
    } finally {
      this.#processing = false;
    }
  }

  async #handleReady(ready: Ready): Promise<void> {
    // A leader's appends go out at once, so its fsync and its followers' overlap;
    // entries committed earlier are applied (and their proposers answered) while
    // this Ready's newer ones are saved. Commit notices are held back a moment
    // (commit_notices.ts), so the answers leave first and the next append may
    // carry the commit index instead.
    for (const message of ready.messages) {
      if (sendableBeforePersist(message, ready)) this.#sendOrHold(message);
    }
    this.#applyCommitted(committedBeforePersist(ready));
    this.#resolveReads(ready);
    await this.#options.persistence.save(ready);
    for (const message of ready.messages) {
      if (!sendableBeforePersist(message, ready)) this.#sendOrHold(message);
    }
    if (ready.snapshot !== undefined) this.#restore(ready.snapshot);
    const membershipChanged = this.#applyCommitted(ready.committedEntries);
    this.raw.advance();
    await this.#maybeCompact(membershipChanged);
  }

  /** Applies the entries not applied yet and wakes their waiters; true when the membership changed. */
  #applyCommitted(entries: readonly Entry[]): boolean {
    let membershipChanged = false;
    for (const entry of entries) {
      if (entry.index <= this.#applied) continue;
      membershipChanged = this.#apply(entry) || membershipChanged;
    }
    this.#wakeAppliedWaiters();
    return membershipChanged;
  }

  #resolveReads(ready: Ready): void {
    for (const state of ready.readStates) {
      const key = new TextDecoder().decode(state.context);
      const waiter = this.#readWaiters.get(key);
      this.#readWaiters.delete(key);
      waiter?.resolve(state.index);
    }
  }

  #restore(snapshot: Snapshot): void {
    this.#options.applier.restore(snapshot);
    this.#applied = snapshot.metadata.index;
    this.#snapshotIndex = snapshot.metadata.index;
    this.#confState = snapshot.metadata.confState;
  }

  /** Applies one committed entry; true when it changed the membership. */
  #apply(entry: Entry): boolean {
    assert(
      entry.index === this.#applied + 1,
      `apply out of order: ${entry.index} after ${this.#applied}`,
    );
    this.#applied = entry.index;
    if (entry.type === "confChange") {
      const change = decodeConfChange(entry.data);
      this.#confState = this.raw.applyConfChange(change);
      this.#options.applier.applyConfChange(entry, change, this.#confState);
      return true;
    }
    if (entry.data.length > 0) this.#options.applier.applyEntry(entry);
    return false;
  }

  #wakeAppliedWaiters(): void {
    for (let i = this.#appliedWaiters.length - 1; i >= 0; i--) {
      const waiter = this.#appliedWaiters[i] as { index: number; resolve: () => void };
      if (waiter.index <= this.#applied) {
        this.#appliedWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  async #maybeCompact(membershipChanged: boolean): Promise<void> {
    const due = this.#applied - this.#snapshotIndex >= this.#options.timings.snapshotEntries;
    if (!(due || membershipChanged) || this.#applied <= this.#snapshotIndex) return;
    const index = this.#applied;
    await this.#options.persistence.compact(
      index,
      this.#confState,
      this.#options.applier.snapshotData(),
    );
    this.#snapshotIndex = index;
  }

  #sendOrHold(message: Message): void {
    if (isCommitNotice(message)) {
      this.#commitNotices.offer(message);
      return;
    }
    this.#commitNotices.supersede(message);
    this.#send(message);
  }

  #send(message: Message): void {
    const { transport, logger } = this.#options;
    const body = encodeMessage(message);
    if (message.type === MessageType.Snap) {
      transport.request(message.to, ClusterMessage.raftSnapshot, body, { timeoutMs: 60_000 }).then(
        () => {
          this.raw.reportSnapshot(message.to, true);
          this.#kick();
        },
        (error) => {
          logger.warn("snapshot not delivered", { to: message.to, error: describeError(error) });
          this.raw.reportSnapshot(message.to, false);
          this.#kick();
        },
      );
      return;
    }
    try {
      transport.send(message.to, ClusterMessage.raft, body);
    } catch (error) {
      if (!(error instanceof UkaiError)) throw error;
      this.raw.reportUnreachable(message.to);
    }
  }
}
