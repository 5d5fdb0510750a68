/**
 * The Raft state machine of one node: roles and their transitions, ticks,
 * the term and vote rules common to every role, and membership changes.
 * Role-specific message handling lives in `raft_leader.ts` and
 * `raft_follower.ts`. It does no I/O: outgoing messages accumulate in `msgs`
 * and reach the network only through `RawNode.ready()`.
 *
 * Internal to `raft/`: applications use `RawNode`.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { applyConfChangeTo, confChangeInvalid } from "./confchange.ts";
import type { ResolvedConfig } from "./config.ts";
import { RaftLog } from "./log.ts";
import {
  bcastAppend,
  maybeSendAppend,
  proposeAsLeader,
  readIndexAsLeader,
  stepLeader,
} from "./raft_leader.ts";
import { stepCandidate, stepFollower } from "./raft_follower.ts";
import type { VoteResult } from "./quorum.ts";
import { ReadOnlyQueue, type ReadRequest } from "./read_only.ts";
import { ProgressTracker } from "./tracker.ts";
import {
  bytesEqual,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  MessageType,
  newMessage,
  NO_NODE,
  type NodeId,
  type RaftStateType,
  type ReadState,
  type Snapshot,
  type SoftState,
} from "./types.ts";

/** Why a proposal or read request was not taken. */
export type DropReason =
  /** No leader is known (follower without leader, or an election is running). */
  | "noLeader"
  /** This leader is no longer a member of the group. */
  | "notInConfig"
  /** A leadership transfer is in progress; retry with the next leader. */
  | "transferInProgress"
  /** The leader holds `maxUncommittedEntriesSize` bytes of uncommitted entries. */
  | "uncommittedSizeExceeded"
  /** A membership change is proposed but not yet applied. */
  | "confChangePending"
  /** The leader has not yet committed an entry of its own term. */
  | "leaderNotCommittedInTerm"
  /** The membership change makes no sense for the current membership. */
  | "invalidConfChange"
  /** The leader already waits on `READ_INDEX_PENDING_MAX` read requests. */
  | "readQueueFull";

/** A refusal, with a human-readable detail. */
export interface Dropped {
  kind: "dropped";
  reason: DropReason;
  detail: string;
}

/**
 * What happened to a proposal. `appended`: in this leader's log at
 * (index, term), not yet committed; it is committed only if an entry with that
 * index and term later appears in `Ready.committedEntries` (a leader change may
 * discard it). `forwarded`: sent to the leader `to`; its fate is unknown here,
 * and the leader drops it silently if it cannot take it. Callers retry after a
 * timeout.
 */
export type ProposeResult =
  | { kind: "appended"; index: number; term: number }
  | { kind: "forwarded"; to: NodeId }
  | Dropped;

/**
 * What happened to a read request. `pending`: a ReadState with the same
 * context will appear in a later Ready, unless leadership changes first (then
 * it never does: retry after a timeout). `forwarded`: likewise, via the leader.
 */
export type ReadIndexResult =
  | { kind: "pending" }
  | { kind: "forwarded"; to: NodeId }
  | Dropped;

/** Builds a {@link Dropped} result. */
export function dropped(reason: DropReason, detail: string): Dropped {
  return { kind: "dropped", reason, detail };
}

/** How an election starts: a pre-vote round, a real one, or forced by a leader transfer. */
export type CampaignType = "preElection" | "election" | "transfer";

/** The context that marks a vote request forced by leadership transfer (it bypasses leases). */
export const TRANSFER_CAMPAIGN_CONTEXT: Uint8Array = new TextEncoder().encode("CampaignTransfer");

/** Most read requests a new leader holds until it commits in its term. */
export const PENDING_READS_BEFORE_COMMIT_MAX = 1024;

/** One node's Raft state. Fields are public for the sibling modules and white-box tests. */
export class Raft {
  readonly id: NodeId;
  readonly config: ResolvedConfig;
  term = 0;
  vote: NodeId = NO_NODE;
  lead: NodeId = NO_NODE;
  state: RaftStateType = "follower";
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  /** This node is a learner in its own view of the membership. */
  isLearner = false;
  /** Outgoing messages, taken by `RawNode.ready()`. */
  msgs: Message[] = [];
  /** Confirmed reads, taken by `RawNode.ready()`. */
  readStates: ReadState[] = [];
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  leadTransferee: NodeId = NO_NODE;
  /** Leader: index of the last proposed conf change (or of the last entry at election). */
  pendingConfIndex = 0;
  /** Leader: payload bytes of entries appended but not yet applied. */
  uncommittedSize = 0;
  readOnly = new ReadOnlyQueue();
  /** Leader: reads that arrived before the first commit in this term. */
  pendingReadsBeforeCommit: ReadRequest[] = [];

  constructor(config: ResolvedConfig) {
    this.id = config.id;
    this.config = config;
    this.log = new RaftLog(config.storage, config.maxCommittedSizePerReady);
    const { hardState, confState } = config.storage.initialState();
    this.tracker = new ProgressTracker(config.maxInflightMsgs, config.maxInflightBytes);
    this.tracker.restore(confState, this.log.lastIndex());
    this.isLearner = this.tracker.learners.has(this.id);
    if (hardState.term !== 0 || hardState.vote !== NO_NODE || hardState.commit !== 0) {
      this.loadState(hardState);
    }
    if (config.applied > this.log.applied) this.log.appliedTo(config.applied);
    this.becomeFollower(this.term, NO_NODE);
  }

  // ---- roles -------------------------------------------------------------

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.state = "follower";
  }

  becomeCandidate(): void {
    assert(this.state !== "leader", "invalid transition leader -> candidate");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = "candidate";
  }

  becomePreCandidate(): void {
    assert(this.state !== "leader", "invalid transition leader -> preCandidate");
    // A pre-candidate changes neither term nor vote: it only asks whether it could win.
    this.tracker.resetVotes();
    this.lead = NO_NODE;
    this.state = "preCandidate";
  }

  becomeLeader(): void {
    assert(this.state !== "follower", "invalid transition follower -> leader");
    this.reset(this.term);
    this.lead = this.id;
    this.state = "leader";
    const self = this.tracker.progress.get(this.id);
    if (self !== undefined) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // No conf change until everything before this term is applied.
    this.pendingConfIndex = this.log.lastIndex();
    // The empty entry lets this leader commit (section 5.4.2: only current-term entries are counted).
    const appended = this.appendEntries([emptyEntry()]);
    assert(appended, "the leader's empty entry was refused");
  }

  /** Resets the per-term volatile state; a new term also clears the vote. */
  reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NO_NODE;
    }
    this.lead = NO_NODE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = NO_NODE;
    this.tracker.resetVotes();
    const lastIndex = this.log.lastIndex();
    this.tracker.visit((id, progress) => {
      const fresh = this.tracker.newProgress(lastIndex + 1, progress.isLearner);
      fresh.recentActive = false;
      if (id === this.id) fresh.match = lastIndex;
      this.tracker.progress.set(id, fresh);
    });
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnlyQueue();
    this.pendingReadsBeforeCommit = [];
  }

  resetRandomizedElectionTimeout(): void {
    const ticks = this.config.electionTicks;
    this.randomizedElectionTimeout = ticks + this.config.rng.int(ticks);
  }

  // ---- time --------------------------------------------------------------

  /** Advances time by one tick. */
  tick(): void {
    if (this.state === "leader") this.tickHeartbeat();
    else this.tickElection();
  }

  tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(newMessage({ type: MessageType.Hup, from: this.id }));
    }
  }

  tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum) {
        this.step(newMessage({ type: MessageType.CheckQuorum, from: this.id }));
      }
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === "leader" && this.leadTransferee !== NO_NODE) this.abortLeaderTransfer();
    }
    if (this.state !== "leader") return;
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.step(newMessage({ type: MessageType.Beat, from: this.id }));
    }
  }

  // ---- messages ----------------------------------------------------------

  /** Handles one message: term rules first, then votes, then the role's handler. */
  step(m: Message): void {
    if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return;
    } else if (m.term !== 0 && m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.config.preVote ? "preElection" : "election");
        return;
      case MessageType.Vote:
      case MessageType.PreVote:
        this.handleVoteRequest(m);
        return;
    }
    if (this.state === "leader") stepLeader(this, m);
    else if (this.state === "follower") stepFollower(this, m);
    else stepCandidate(this, m);
  }

  /** A message from a newer term. Returns false when it must be ignored. */
  stepHigherTerm(m: Message): boolean {
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      const forced = m.context !== undefined && bytesEqual(m.context, TRANSFER_CAMPAIGN_CONTEXT);
      const inLease = this.config.checkQuorum && this.lead !== NO_NODE &&
        this.electionElapsed < this.config.electionTicks;
      // Heard from a live leader recently: do not let a (pre)candidate depose it.
      if (!forced && inLease) return false;
    }
    if (m.type === MessageType.PreVote) return true; // a pre-vote never changes our term
    if (m.type === MessageType.PreVoteResp && !m.reject) return true; // term moves on winning
    const leaderTypes: MessageType[] = [MessageType.App, MessageType.Heartbeat, MessageType.Snap];
    this.becomeFollower(m.term, leaderTypes.includes(m.type) ? m.from : NO_NODE);
    return true;
  }

  /** A message from an older term: answer only what helps the sender catch up. */
  stepLowerTerm(m: Message): void {
    const fromLeader = m.type === MessageType.Heartbeat || m.type === MessageType.App;
    if ((this.config.checkQuorum || this.config.preVote) && fromLeader) {
      // A stale leader cut off by check-quorum or pre-vote would never hear our
      // newer term otherwise; this answer makes it step down.
      this.send(newMessage({ type: MessageType.AppResp, to: m.from }));
    } else if (m.type === MessageType.PreVote) {
      this.send(
        newMessage({ type: MessageType.PreVoteResp, to: m.from, term: this.term, reject: true }),
      );
    }
  }

  /** Grants or refuses a (pre-)vote (section 5.2, section 5.4.1). */
  handleVoteRequest(m: Message): void {
    const canVote = this.vote === m.from ||
      (this.vote === NO_NODE && this.lead === NO_NODE) ||
      (m.type === MessageType.PreVote && m.term > this.term);
    const candidateLast = { index: m.index, term: m.logTerm };
    const ignoreTerm = this.config.testingKnobs.skipLogTermVoteCheck === true;
    const responseType = m.type === MessageType.Vote
      ? MessageType.VoteResp
      : MessageType.PreVoteResp;
    if (canVote && this.log.isUpToDate(candidateLast, ignoreTerm)) {
      this.send(newMessage({ type: responseType, to: m.from, term: m.term }));
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send(newMessage({ type: responseType, to: m.from, term: this.term, reject: true }));
    }
  }

  /** Queues `m` for sending, filling in the sender and (for most kinds) the term. */
  send(m: Message): void {
    if (m.from === NO_NODE) m.from = this.id;
    const voteTypes: MessageType[] = [
      MessageType.Vote,
      MessageType.VoteResp,
      MessageType.PreVote,
      MessageType.PreVoteResp,
    ];
    if (voteTypes.includes(m.type)) {
      assert(m.term !== 0, `term must be set when sending ${m.type}`);
    } else {
      assert(m.term === 0, `term must not be set when sending ${m.type}`);
      // Forwarded proposals and reads stay local messages (term 0).
      if (m.type !== MessageType.Prop && m.type !== MessageType.ReadIndex) m.term = this.term;
    }
    assert(m.to !== this.id && m.to !== NO_NODE, `bad recipient for ${m.type}: "${m.to}"`);
    this.msgs.push(m);
  }

  // ---- elections ---------------------------------------------------------

  /** Starts an election unless this node may not (leader, learner, unapplied conf change). */
  hup(type: CampaignType): void {
    if (this.state === "leader") return;
    if (!this.promotable()) return;
    if (this.hasUnappliedConfChanges()) return;
    this.campaign(type);
  }

  campaign(type: CampaignType): void {
    let voteType: MessageType;
    let term: number;
    if (type === "preElection") {
      this.becomePreCandidate();
      voteType = MessageType.PreVote;
      term = this.term + 1; // the term we would campaign in
    } else {
      this.becomeCandidate();
      voteType = MessageType.Vote;
      term = this.term;
    }
    if (this.poll(this.id, true) === "won") {
      // A single voter wins at once.
      if (type === "preElection") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    const last = this.log.lastEntryId();
    for (const id of this.tracker.voterIds()) {
      if (id === this.id) continue;
      const vote = newMessage({
        type: voteType,
        to: id,
        term,
        index: last.index,
        logTerm: last.term,
      });
      if (type === "transfer") vote.context = TRANSFER_CAMPAIGN_CONTEXT;
      this.send(vote);
    }
  }

  /** Records a vote and returns the election's outcome so far. */
  poll(from: NodeId, granted: boolean): VoteResult {
    this.tracker.recordVote(from, granted);
    return this.tracker.tallyVotes();
  }

  /** May this node campaign? Voters only, and not while a snapshot is being installed. */
  promotable(): boolean {
    const self = this.tracker.progress.get(this.id);
    return self !== undefined && !self.isLearner && !this.log.hasPendingSnapshot();
  }

  /** True when a committed conf change awaits application (campaigning must wait). */
  hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    const pending = this.log.slice(this.log.applied + 1, this.log.committed + 1, Infinity) ?? [];
    return pending.some((entry) => entry.type === "confChange");
  }

  // ---- log ---------------------------------------------------------------

  /**
   * Leader: appends `entries` in the current term (assigning terms and
   * indexes) and counts them on its own progress. False when they would
   * exceed the uncommitted-size budget.
   */
  appendEntries(entries: readonly Entry[]): boolean {
    const lastIndex = this.log.lastIndex();
    const stamped = entries.map((entry, i) => ({
      ...entry,
      term: this.term,
      index: lastIndex + 1 + i,
    }));
    if (!this.increaseUncommittedSize(stamped)) return false;
    const newLast = this.log.append(stamped);
    // Counting ourselves before the entries are durable is safe: a commit
    // that needs them shows only in a later Ready, handed out after the one
    // that carries them is persisted (see sendableBeforePersist).
    this.tracker.progress.get(this.id)?.maybeUpdate(newLast);
    this.maybeCommit();
    return true;
  }

  /**
   * Leader: advances the commit index to what a quorum has, but only through
   * an entry of the current term (section 5.4.2, Figure 8).
   */
  maybeCommit(): boolean {
    const index = this.tracker.committed();
    if (this.config.testingKnobs.commitByCountingAnyTerm === true) {
      const term = this.log.term(index);
      return term !== undefined && this.log.maybeCommit({ index, term });
    }
    return this.log.maybeCommit({ index, term: this.term });
  }

  committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  increaseUncommittedSize(entries: readonly Entry[]): boolean {
    let size = 0;
    for (const entry of entries) size += entry.data.length;
    const limit = this.config.maxUncommittedEntriesSize;
    if (this.uncommittedSize > 0 && size > 0 && this.uncommittedSize + size > limit) return false;
    this.uncommittedSize += size;
    return true;
  }

  reduceUncommittedSize(size: number): void {
    this.uncommittedSize = Math.max(0, this.uncommittedSize - size);
  }

  /** Applies a persisted hard state at start-up. */
  loadState(hardState: HardState): void {
    assert(
      hardState.commit >= this.log.committed && hardState.commit <= this.log.lastIndex(),
      `hard state commit ${hardState.commit} out of range [${this.log.committed}, ${this.log.lastIndex()}]`,
    );
    this.log.committed = hardState.commit;
    this.term = hardState.term;
    this.vote = hardState.vote;
  }

  /**
   * Follower: replaces the log with the leader's snapshot. False when the
   * snapshot is stale, does not include us, or our log already matches it
   * (then we only fast-forward the commit index).
   */
  restore(snapshot: Snapshot): boolean {
    const { index, term, confState } = snapshot.metadata;
    if (index <= this.log.committed) return false;
    if (this.state !== "follower") {
      // Only a follower of the sender may get here; anything else is a bug upstream.
      this.becomeFollower(this.term + 1, NO_NODE);
      return false;
    }
    if (!confState.voters.includes(this.id) && !confState.learners.includes(this.id)) return false;
    if (this.log.matchTerm({ index, term })) {
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snapshot);
    this.tracker.restore(confState, this.log.lastIndex());
    this.isLearner = this.tracker.learners.has(this.id);
    return true;
  }

  // ---- membership --------------------------------------------------------

  /**
   * Applies a committed membership change. An invalid change (it can only be
   * committed through races the leader could not see) is ignored the same way
   * on every node. Returns the membership afterwards.
   */
  applyConfChange(change: ConfChange): ConfState {
    if (confChangeInvalid(this.tracker, change) === null) {
      applyConfChangeTo(this.tracker, change, this.log.lastIndex());
      this.afterConfChange();
    }
    return this.tracker.confState();
  }

  afterConfChange(): void {
    const self = this.tracker.progress.get(this.id);
    this.isLearner = self?.isLearner === true;
    if (this.state !== "leader") return;
    if (self === undefined || this.isLearner) {
      if (this.config.stepDownOnRemoval) this.becomeFollower(this.term, NO_NODE);
      return;
    }
    // Fewer voters may commit more; new members need entries.
    if (this.maybeCommit()) bcastAppend(this);
    else this.tracker.visit((id) => id !== this.id && maybeSendAppend(this, id, false));
    if (this.leadTransferee !== NO_NODE && !this.tracker.voters.has(this.leadTransferee)) {
      this.abortLeaderTransfer();
    }
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NO_NODE;
  }

  // ---- local requests ----------------------------------------------------

  /** Proposes `entries` (their term and index are assigned by the leader). */
  propose(entries: Entry[]): ProposeResult {
    assert(entries.length > 0, "propose: no entries");
    if (this.state === "leader") return proposeAsLeader(this, entries);
    if (this.state !== "follower" || this.lead === NO_NODE) {
      return dropped("noLeader", `${this.id} is ${this.state} and knows no leader`);
    }
    this.send(newMessage({ type: MessageType.Prop, to: this.lead, entries }));
    return { kind: "forwarded", to: this.lead };
  }

  /** Asks for a linearizable read point; the answer comes as a ReadState. */
  readIndex(context: Uint8Array): ReadIndexResult {
    if (this.state === "leader") {
      return readIndexAsLeader(this, { from: this.id, context, index: 0 });
    }
    if (this.state !== "follower" || this.lead === NO_NODE) {
      return dropped("noLeader", `${this.id} is ${this.state} and knows no leader`);
    }
    this.send(newMessage({ type: MessageType.ReadIndex, to: this.lead, context }));
    return { kind: "forwarded", to: this.lead };
  }

  /**
   * Cheap whole-node invariants, checked by `RawNode` after every call that
   * changes state: index order, role/leader consistency, and that no log entry
   * is newer than the current term.
   */
  checkInvariants(): void {
    const { applied, committed } = this.log;
    const last = this.log.lastEntryId();
    assert(
      applied <= committed && committed <= last.index,
      `invariant: applied ${applied} <= committed ${committed} <= last ${last.index}`,
    );
    assert(last.term <= this.term, `invariant: last log term ${last.term} > term ${this.term}`);
    assert(this.state !== "leader" || this.lead === this.id, "invariant: a leader leads itself");
    assert(
      this.state === "leader" || this.leadTransferee === NO_NODE,
      "invariant: only a leader transfers leadership",
    );
    assert(this.vote === NO_NODE || this.term > 0, "invariant: a vote needs a term");
  }

  // ---- views -------------------------------------------------------------

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { lead: this.lead, state: this.state };
  }
}

function emptyEntry(): Entry {
  return { term: 0, index: 0, type: "normal", data: new Uint8Array() };
}
