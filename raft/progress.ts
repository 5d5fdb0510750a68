/**
 * The leader's view of one follower's log ({@link Progress}): how far it
 * matches, what to send next, and in which replication state (probe,
 * replicate, snapshot) the leader talks to it.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { Inflights } from "./inflights.ts";
import type { ProgressStateType } from "./types.ts";

/**
 * Invariant: `0 <= match < next`.
 *
 * - `probe`: the leader does not know where the follower's log matches; it
 *   sends one append at a time and waits for the answer (or a heartbeat reply).
 * - `replicate`: the logs match up to `match`; the leader streams entries
 *   optimistically, bounded by `inflights`.
 * - `snapshot`: the follower needs a snapshot (`pendingSnapshot` is its
 *   index); nothing else is sent until it is reported done or failed.
 */
export class Progress {
  match: number;
  next: number;
  state: ProgressStateType = "probe";
  /** Index of the snapshot being sent (snapshot state), else 0. */
  pendingSnapshot = 0;
  /** Heard from this follower since the last check-quorum round. */
  recentActive: boolean;
  /** Probe state: one append is out, wait. Replicate state: inflights are full. */
  msgAppFlowPaused = false;
  /** The highest commit index sent to this follower. */
  sentCommit = 0;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(
    options: {
      match: number;
      next: number;
      isLearner: boolean;
      recentActive: boolean;
      maxInflightMsgs: number;
      maxInflightBytes: number;
    },
  ) {
    this.match = options.match;
    this.next = options.next;
    this.isLearner = options.isLearner;
    this.recentActive = options.recentActive;
    this.inflights = new Inflights(options.maxInflightMsgs, options.maxInflightBytes);
    this.#invariants();
  }

  /** Back to probing, from the last known match (or past a snapshot just sent). */
  becomeProbe(): void {
    const pendingSnapshot = this.state === "snapshot" ? this.pendingSnapshot : 0;
    this.#resetState("probe");
    this.next = Math.max(this.match + 1, pendingSnapshot + 1);
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
    this.#invariants();
  }

  /** Stream entries right after the match. */
  becomeReplicate(): void {
    this.#resetState("replicate");
    this.next = this.match + 1;
    this.#invariants();
  }

  /** A snapshot at `snapshotIndex` is on its way; pause everything else. */
  becomeSnapshot(snapshotIndex: number): void {
    this.#resetState("snapshot");
    this.pendingSnapshot = snapshotIndex;
    this.next = snapshotIndex + 1;
    this.sentCommit = snapshotIndex;
    this.#invariants();
  }

  /** Accounts for an append carrying `entryCount` entries (`bytes` of payload). */
  sentEntries(entryCount: number, bytes: number): void {
    assert(this.state !== "snapshot", "Progress: sending entries in snapshot state");
    if (this.state === "replicate") {
      if (entryCount > 0) {
        this.next += entryCount;
        this.inflights.add(this.next - 1, bytes);
      }
      this.msgAppFlowPaused = this.inflights.full();
    } else if (entryCount > 0) {
      this.msgAppFlowPaused = true;
    }
    this.#invariants();
  }

  /** Records that the follower was told the commit index `commit`. */
  sentCommitIndex(commit: number): void {
    this.sentCommit = commit;
  }

  /** True when the follower could learn a newer commit index than it was sent. */
  canBumpCommit(commit: number): boolean {
    return commit > this.sentCommit && this.sentCommit < this.next - 1;
  }

  /** The follower acknowledged entries up to `index`; false when that is old news. */
  maybeUpdate(index: number): boolean {
    if (index <= this.match) return false;
    this.match = index;
    this.next = Math.max(this.next, index + 1);
    this.msgAppFlowPaused = false;
    this.#invariants();
    return true;
  }

  /**
   * The follower rejected the append after `rejected`; `matchHint` is where
   * the logs may match. Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
    } else {
      if (this.next - 1 !== rejected) return false;
      this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
      this.msgAppFlowPaused = false;
    }
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
    this.#invariants();
    return true;
  }

  /** True when the leader must not send this follower new entries now. */
  isPaused(): boolean {
    return this.state === "snapshot" || this.msgAppFlowPaused;
  }

  #resetState(state: ProgressStateType): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  #invariants(): void {
    assert(
      0 <= this.match && this.match < this.next,
      `Progress: match ${this.match} next ${this.next}`,
    );
  }
}
