/**
 * The membership as the core uses it: voters, learners, one {@link Progress}
 * per member, and the votes of the current election. Every iteration is in
 * sorted id order so that a run replays identically from its seed.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { Progress } from "./progress.ts";
import { majorityCommittedIndex, majorityVoteResult, type VoteResult } from "./quorum.ts";
import type { ConfState, NodeId } from "./types.ts";

/**
 * Invariants: voters and learners are disjoint; `progress` has exactly one
 * entry per member, with `isLearner` matching the set it belongs to.
 */
export class ProgressTracker {
  voters: Set<NodeId> = new Set();
  learners: Set<NodeId> = new Set();
  progress: Map<NodeId, Progress> = new Map();
  votes: Map<NodeId, boolean> = new Map();
  readonly maxInflightMsgs: number;
  readonly maxInflightBytes: number;

  constructor(maxInflightMsgs: number, maxInflightBytes: number) {
    this.maxInflightMsgs = maxInflightMsgs;
    this.maxInflightBytes = maxInflightBytes;
  }

  /** A fresh progress for a member joining with the log ending at `lastIndex`. */
  newProgress(lastIndex: number, isLearner: boolean): Progress {
    return new Progress({
      match: 0,
      next: Math.max(lastIndex, 1),
      isLearner,
      // Counted as active so that check-quorum does not step down at once and
      // so that a snapshot may be sent to it straight away.
      recentActive: true,
      maxInflightMsgs: this.maxInflightMsgs,
      maxInflightBytes: this.maxInflightBytes,
    });
  }

  /** Replaces the membership with `confState` (start-up, snapshot restore). */
  restore(confState: ConfState, lastIndex: number): void {
    this.voters = new Set(confState.voters);
    this.learners = new Set(confState.learners);
    this.progress = new Map();
    for (const id of [...this.voters, ...this.learners]) {
      this.progress.set(id, this.newProgress(lastIndex, this.learners.has(id)));
    }
    this.votes = new Map();
    this.invariants();
  }

  /** The membership as a plain, sorted {@link ConfState}. */
  confState(): ConfState {
    return { voters: [...this.voters].sort(), learners: [...this.learners].sort() };
  }

  /** Member ids (voters and learners) in sorted order. */
  memberIds(): NodeId[] {
    return [...this.progress.keys()].sort();
  }

  /** Voter ids in sorted order. */
  voterIds(): NodeId[] {
    return [...this.voters].sort();
  }

  /** Calls `visit` for every member in sorted id order. */
  visit(visit: (id: NodeId, progress: Progress) => void): void {
    for (const id of this.memberIds()) visit(id, this.progress.get(id)!);
  }

  /** The highest index acknowledged by a majority of voters. */
  committed(): number {
    return majorityCommittedIndex(this.voters, (id) => this.progress.get(id)?.match);
  }

  /** True when a majority of voters were recently active (`self` always is). */
  quorumActive(self: NodeId): boolean {
    return majorityVoteResult(this.voters, (id) => {
      const progress = this.progress.get(id);
      if (progress === undefined) return undefined;
      return id === self || progress.recentActive;
    }) === "won";
  }

  /** True when this is a one-voter group. */
  isSingleton(): boolean {
    return this.voters.size === 1;
  }

  /** Forgets the votes of the previous election. */
  resetVotes(): void {
    this.votes = new Map();
  }

  /** Records `id`'s answer; only its first answer in an election counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /** The election's outcome so far, counting voters only. */
  tallyVotes(): VoteResult {
    return majorityVoteResult(this.voters, (id) => this.votes.get(id));
  }

  /** Checks the invariants (called after every membership change). */
  invariants(): void {
    for (const id of this.voters) {
      assert(!this.learners.has(id), `tracker: ${id} is both voter and learner`);
      assert(this.progress.get(id)?.isLearner === false, `tracker: voter ${id} progress`);
    }
    for (const id of this.learners) {
      assert(this.progress.get(id)?.isLearner === true, `tracker: learner ${id} progress`);
    }
    assert(
      this.progress.size === this.voters.size + this.learners.size,
      "tracker: progress for a non-member",
    );
  }
}
