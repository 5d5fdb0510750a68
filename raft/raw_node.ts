/**
 * {@link RawNode}: the synchronous API of one Raft node, and {@link Ready},
 * the batch of work it hands the application (state to persist, messages to
 * send, entries to apply). See `mod.ts` for the procedure a caller follows.
 *
 * Not re-entrant and not shared: one driver calls it, one call at a time.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { encodeConfChange } from "./codec.ts";
import { coalesceMessages } from "./coalesce.ts";
import { type Config, NODE_ID_BYTES_MAX, resolveConfig } from "./config.ts";
import type { EntryId } from "./log.ts";
import { dropped, type ProposeResult, Raft, type ReadIndexResult } from "./raft.ts";
import {
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  LOCAL_MESSAGE_TYPES,
  type Message,
  MessageType,
  newMessage,
  type NodeId,
  payloadSizeBytes,
  type ProgressStateType,
  type RaftStateType,
  type ReadState,
  RESPONSE_MESSAGE_TYPES,
  type Snapshot,
  type SoftState,
} from "./types.ts";
import { messageInvalid } from "./validate.ts";

/**
 * Work for the application, to be done in order (see `mod.ts`): persist
 * `snapshot`, `hardState` and `entries` (fsync when `mustSync`); then send
 * `messages`; then apply `snapshot` and `committedEntries` (calling
 * `applyConfChange` for each `confChange` entry) and serve `readStates`;
 * then call `advance()`.
 */
export interface Ready {
  /** Present when the leader or the role changed. Needs no persistence. */
  softState?: SoftState;
  /** Present when term, vote or commit changed. Persist before sending `messages`. */
  hardState?: HardState;
  /** Entries to append to storage (replacing any overlapping suffix) before sending `messages`. */
  entries: Entry[];
  /** A snapshot to install in storage before sending `messages`, and to apply. */
  snapshot?: Snapshot;
  /**
   * Entries to apply to the state machine, in order. They may overlap `entries`:
   * persist first — except the prefix {@link committedBeforePersist} returns.
   */
  committedEntries: Entry[];
  /**
   * Messages to send, only after everything above is durable — except those
   * for which {@link sendableBeforePersist} holds, which may leave at once.
   * Continuing appends to one follower arrive joined (`coalesce.ts`).
   */
  messages: Message[];
  /** Confirmed reads: serve each once the applied index reaches its `index`. */
  readStates: ReadState[];
  /** True when `hardState`, `entries` or `snapshot` must be fsynced (not only written). */
  mustSync: boolean;
}

/** A leader's messages: they may leave while their Ready is still being persisted. */
const LEADER_MESSAGE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  MessageType.App,
  MessageType.Heartbeat,
  MessageType.Snap,
]);

/**
 * Whether `message`, one of `ready.messages`, may be sent before `ready` is
 * durable (Raft thesis §10.2.1: the leader writes its log in parallel with
 * replicating it). Only a leader's appends, heartbeats and snapshots may: a
 * node leads a term only after that term and its own vote were persisted and
 * its vote requests answered, so they promise nothing undurable except the
 * leader's own new entries — provided the commit index they carry does not
 * reach into `ready.entries` (with one voter, the leader commits on append,
 * and a learner told so early could apply an entry that a crash then takes
 * back). The leader counts its new entries for itself at once, but a commit
 * that needs another node's acknowledgement shows only in a later Ready,
 * handed out after this one is persisted. Votes, vote grants and
 * acknowledgements always wait: they promise durable state of the sender.
 */
export function sendableBeforePersist(message: Message, ready: Ready): boolean {
  if (!LEADER_MESSAGE_TYPES.has(message.type)) return false;
  const firstUnpersisted = ready.entries[0]?.index;
  return firstUnpersisted === undefined || message.commit < firstUnpersisted;
}

/**
 * The prefix of `ready.committedEntries` that may be applied before `ready`
 * is durable, while it is being persisted: the entries already in durable
 * storage (below `ready.entries`), up to the first membership change. A
 * committed entry is durable on a quorum, so applying it early promises
 * nothing this node could take back; what must wait is an entry this Ready
 * itself brings (one voter commits on append, a follower may learn an
 * entry and its commit together), a snapshot's successors, and a membership
 * change (it reaches into the core, and keeps the plain order). Answering a
 * client at once, instead of after the fsync of newer entries, takes one
 * fsync off the commit latency (etcd's server applies during the save too).
 */
export function committedBeforePersist(ready: Ready): Entry[] {
  if (ready.snapshot !== undefined) return [];
  const firstUnpersisted = ready.entries[0]?.index ?? Infinity;
  const early: Entry[] = [];
  for (const entry of ready.committedEntries) {
    if (entry.index >= firstUnpersisted || entry.type === "confChange") break;
    early.push(entry);
  }
  return early;
}

/** The outcome of {@link RawNode.step}: stepped, or refused at the gateway. */
export type StepResult =
  | { kind: "stepped" }
  | {
    kind: "rejected";
    reason: "localMessage" | "invalidMessage" | "wrongRecipient" | "unknownPeer";
    detail: string;
  };

/** The leader's view of one follower, as reported by {@link RawNode.status}. */
export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressStateType;
  recentActive: boolean;
  isLearner: boolean;
  pendingSnapshot: number;
  inflightCount: number;
  paused: boolean;
}

/** A snapshot of a node's state for monitoring, tests and the node layer. */
export interface Status {
  id: NodeId;
  term: number;
  vote: NodeId;
  commit: number;
  applied: number;
  lead: NodeId;
  state: RaftStateType;
  /** Per member, only on the leader (empty otherwise). */
  progress: Map<NodeId, ProgressStatus>;
  leadTransferee: NodeId;
  confState: ConfState;
}

/** What `ready()` handed out, so that `advance()` can mark it done. */
interface OutstandingReady {
  lastEntry: EntryId | undefined;
  snapshotIndex: number | undefined;
  lastCommittedIndex: number | undefined;
  committedPayloadBytes: number;
}

/**
 * One Raft node, driven by the caller: `tick()` for time, `step()` for
 * messages, `propose*()` and `readIndex()` for requests, and the
 * `ready()` / `advance()` pair for output.
 *
 * @example
 * ```ts
 * import { RawNode } from "./raw_node.ts";
 * import { MemoryStorage } from "./storage.ts";
 * import { Rng } from "../base/rng.ts";
 * const storage = new MemoryStorage({ confState: { voters: ["a"], learners: [] } });
 * const node = new RawNode({
 *   id: "a", storage, applied: 0, maxSizePerMsg: 1 << 20, maxInflightMsgs: 256,
 *   checkQuorum: true, preVote: true, rng: new Rng(1),
 * });
 * node.campaign();
 * const rd = node.ready();
 * if (rd.hardState) storage.setHardState(rd.hardState);
 * storage.append(rd.entries);
 * node.advance();
 * if (node.status().state !== "leader") throw new Error("a single voter leads at once");
 * ```
 */
export class RawNode {
  readonly #raft: Raft;
  #prevSoftState: SoftState;
  #prevHardState: HardState;
  #outstanding: OutstandingReady | undefined;

  /** @throws {RaftConfigError} when the config is invalid (see `validateConfig`). */
  constructor(config: Config) {
    this.#raft = new Raft(resolveConfig(config));
    this.#prevSoftState = this.#raft.softState();
    this.#prevHardState = this.#raft.hardState();
    this.#raft.checkInvariants();
  }

  /** Advances logical time by one tick (elections, heartbeats, check-quorum). */
  tick(): void {
    this.#raft.tick();
    this.#raft.checkInvariants();
  }

  /** Starts an election now (a pre-election first when pre-vote is on). Ignored by leaders and learners. */
  campaign(): void {
    this.#raft.step(newMessage({ type: MessageType.Hup, from: this.#raft.id }));
    this.#raft.checkInvariants();
  }

  /** Proposes application data. Committed entries come back in `Ready.committedEntries`. */
  propose(data: Uint8Array): ProposeResult {
    const result = this.#raft.propose([{ term: 0, index: 0, type: "normal", data }]);
    this.#raft.checkInvariants();
    return result;
  }

  /**
   * Proposes a membership change. The leader refuses it (reason
   * `leaderNotCommittedInTerm`, `confChangePending` or `invalidConfChange`)
   * until it has committed in its term and applied the previous change.
   */
  proposeConfChange(change: ConfChange): ProposeResult {
    const idBytes = new TextEncoder().encode(change.nodeId).length;
    if (idBytes === 0 || idBytes > NODE_ID_BYTES_MAX) {
      return dropped("invalidConfChange", `node id must be 1 to ${NODE_ID_BYTES_MAX} UTF-8 bytes`);
    }
    const data = encodeConfChange(change);
    const result = this.#raft.propose([{ term: 0, index: 0, type: "confChange", data }]);
    this.#raft.checkInvariants();
    return result;
  }

  /** Steps a message received from a peer, after the gateway checks. */
  step(message: Message): StepResult {
    if (LOCAL_MESSAGE_TYPES.has(message.type)) {
      return rejected("localMessage", `${message.type} is local and cannot come from a peer`);
    }
    const problem = messageInvalid(message);
    if (problem !== null) return rejected("invalidMessage", problem);
    if (message.to !== this.#raft.id) {
      return rejected("wrongRecipient", `message for ${message.to} delivered to ${this.#raft.id}`);
    }
    if (
      RESPONSE_MESSAGE_TYPES.has(message.type) && !this.#raft.tracker.progress.has(message.from)
    ) {
      return rejected("unknownPeer", `${message.type} from non-member ${message.from}`);
    }
    this.#raft.step(message);
    this.#raft.checkInvariants();
    return { kind: "stepped" };
  }

  /** True when `ready()` has work; false while a Ready is outstanding (until `advance()`). */
  hasReady(): boolean {
    if (this.#outstanding !== undefined) return false;
    const r = this.#raft;
    return !softStateEqual(r.softState(), this.#prevSoftState) ||
      !hardStateEqual(r.hardState(), this.#prevHardState) ||
      r.log.hasPendingSnapshot() ||
      r.log.unstable.entries.length > 0 ||
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.log.hasNextCommittedEntries();
  }

  /**
   * Takes the pending work. Must be followed by `advance()` before the next
   * `ready()`. Other calls (step, tick, propose...) are allowed in between;
   * their output goes into the next Ready.
   */
  ready(): Ready {
    assert(this.#outstanding === undefined, "ready() called again before advance()");
    const r = this.#raft;
    const entries = [...r.log.unstable.entries];
    const snapshot = r.log.unstable.snapshot;
    const committedEntries = r.log.nextCommittedEntries();
    const ready: Ready = {
      entries,
      committedEntries,
      messages: coalesceMessages(r.msgs, r.config.maxSizePerMsg),
      readStates: r.readStates,
      mustSync: entries.length > 0 || snapshot !== undefined,
    };
    r.msgs = [];
    r.readStates = [];
    const softState = r.softState();
    if (!softStateEqual(softState, this.#prevSoftState)) ready.softState = softState;
    this.#prevSoftState = softState;
    const hardState = r.hardState();
    if (!hardStateEqual(hardState, this.#prevHardState)) {
      ready.hardState = hardState;
      // Term and vote must survive a crash; a commit index may be re-learned.
      const previous = this.#prevHardState;
      if (hardState.term !== previous.term || hardState.vote !== previous.vote) {
        ready.mustSync = true;
      }
    }
    this.#prevHardState = hardState;
    if (snapshot !== undefined) ready.snapshot = snapshot;
    const lastEntry = entries[entries.length - 1];
    const lastCommitted = committedEntries[committedEntries.length - 1];
    this.#outstanding = {
      lastEntry: lastEntry && { index: lastEntry.index, term: lastEntry.term },
      snapshotIndex: snapshot?.metadata.index,
      lastCommittedIndex: lastCommitted?.index,
      committedPayloadBytes: payloadSizeBytes(committedEntries),
    };
    return ready;
  }

  /** Reports the last Ready done: persisted, sent and applied. */
  advance(): void {
    const done = this.#outstanding;
    assert(done !== undefined, "advance() without an outstanding ready()");
    this.#outstanding = undefined;
    const log = this.#raft.log;
    if (done.snapshotIndex !== undefined) {
      log.stableSnapTo(done.snapshotIndex);
      if (done.snapshotIndex > log.applied) log.appliedTo(done.snapshotIndex);
    }
    if (done.lastEntry !== undefined) log.stableTo(done.lastEntry);
    if (done.lastCommittedIndex !== undefined && done.lastCommittedIndex > log.applied) {
      log.appliedTo(done.lastCommittedIndex);
    }
    this.#raft.reduceUncommittedSize(done.committedPayloadBytes);
    this.#raft.checkInvariants();
  }

  /** Applies a committed membership change (from a `confChange` entry); returns the new membership. */
  applyConfChange(change: ConfChange): ConfState {
    const confState = this.#raft.applyConfChange(change);
    this.#raft.checkInvariants();
    return confState;
  }

  /** Requests a linearizable read point; the answer is a `ReadState` with this `context`. */
  readIndex(context: Uint8Array): ReadIndexResult {
    const result = this.#raft.readIndex(context);
    this.#raft.checkInvariants();
    return result;
  }

  /**
   * Asks the leader (this node, or forwarded to it) to hand leadership to
   * `to`. Ignored when `to` is not a voter; watch `status().lead` for the outcome.
   */
  transferLeader(to: NodeId): void {
    this.#raft.step(newMessage({ type: MessageType.TransferLeader, from: to }));
    this.#raft.checkInvariants();
  }

  /** The transport failed to reach `id`: stop streaming to it optimistically. */
  reportUnreachable(id: NodeId): void {
    this.#raft.step(newMessage({ type: MessageType.Unreachable, from: id }));
    this.#raft.checkInvariants();
  }

  /** The snapshot sent to `id` was installed (`ok`) or failed to arrive. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.#raft.step(newMessage({ type: MessageType.SnapStatus, from: id, reject: !ok }));
    this.#raft.checkInvariants();
  }

  /** The node's current state. */
  status(): Status {
    const r = this.#raft;
    const progress = new Map<NodeId, ProgressStatus>();
    if (r.state === "leader") {
      r.tracker.visit((id, p) => {
        progress.set(id, {
          match: p.match,
          next: p.next,
          state: p.state,
          recentActive: p.recentActive,
          isLearner: p.isLearner,
          pendingSnapshot: p.pendingSnapshot,
          inflightCount: p.inflights.count,
          paused: p.isPaused(),
        });
      });
    }
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      lead: r.lead,
      state: r.state,
      progress,
      leadTransferee: r.leadTransferee,
      confState: r.tracker.confState(),
    };
  }
}

function rejected(
  reason: "localMessage" | "invalidMessage" | "wrongRecipient" | "unknownPeer",
  detail: string,
): StepResult {
  return { kind: "rejected", reason, detail };
}

function softStateEqual(a: SoftState, b: SoftState): boolean {
  return a.lead === b.lead && a.state === b.state;
}

function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
