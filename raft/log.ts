/**
 * The Raft log as the core sees it: the durable prefix in {@link Storage}
 * followed by the {@link UnstableLog}, plus the commit and applied indexes.
 *
 * Invariants: `applied <= committed <= lastIndex()`, and
 * `firstIndex() - 1 <= committed` (nothing uncommitted is ever compacted).
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { UnstableLog } from "./log_unstable.ts";
import { isStorageError, type Storage } from "./storage.ts";
import { type Entry, entrySizeBytes, limitSize, NO_LIMIT, type Snapshot } from "./types.ts";

/** An entry's position: what the log-matching property compares. */
export interface EntryId {
  index: number;
  term: number;
}

/** The log of one node. */
export class RaftLog {
  readonly storage: Storage;
  readonly unstable: UnstableLog;
  /** Highest index known to be committed. */
  committed: number;
  /** Highest index the application has applied. */
  applied: number;
  /** Bound on the committed entries handed out in one Ready. */
  readonly maxCommittedSizePerReady: number;

  constructor(storage: Storage, maxCommittedSizePerReady = NO_LIMIT) {
    const firstIndex = storage.firstIndex();
    const lastIndex = storage.lastIndex();
    this.storage = storage;
    this.unstable = new UnstableLog(lastIndex + 1);
    this.committed = firstIndex - 1;
    this.applied = firstIndex - 1;
    this.maxCommittedSizePerReady = maxCommittedSizePerReady;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** The id of the last entry (or of the snapshot when the log is empty). */
  lastEntryId(): EntryId {
    const index = this.lastIndex();
    const term = this.term(index);
    assert(term !== undefined, `log: no term for the last index ${index}`);
    return { index, term };
  }

  /**
   * The term of the entry at `index`, or undefined when it is compacted
   * (before `firstIndex() - 1`) or does not exist yet (after `lastIndex()`).
   */
  term(index: number): number | undefined {
    const unstableTerm = this.unstable.maybeTerm(index);
    if (unstableTerm !== undefined) return unstableTerm;
    if (index + 1 < this.firstIndex() || index > this.lastIndex()) return undefined;
    try {
      return this.storage.term(index);
    } catch (error) {
      if (isStorageError(error, "compacted") || isStorageError(error, "unavailable")) {
        return undefined;
      }
      throw error;
    }
  }

  /** True when the log has an entry at `id.index` with term `id.term`. */
  matchTerm(id: EntryId): boolean {
    return this.term(id.index) === id.term;
  }

  /**
   * Raft section 5.4.1: a candidate whose last entry is `candidate` is at least as
   * up to date as this log. `ignoreTerm` is the planted-bug testing knob.
   */
  isUpToDate(candidate: EntryId, ignoreTerm = false): boolean {
    const ours = this.lastEntryId();
    if (ignoreTerm) return candidate.index >= ours.index;
    return candidate.term > ours.term ||
      (candidate.term === ours.term && candidate.index >= ours.index);
  }

  /**
   * Appends `entries` sent by the leader after `prev` if the log matches at
   * `prev`, then commits up to `min(leaderCommit, last new index)`.
   * @returns the index of the last entry the message covered, or undefined on mismatch.
   */
  maybeAppend(prev: EntryId, leaderCommit: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prev)) return undefined;
    const lastNewIndex = prev.index + entries.length;
    const conflictIndex = this.findConflict(entries);
    if (conflictIndex !== 0) {
      assert(
        conflictIndex > this.committed,
        `log: entry ${conflictIndex} conflicts with committed entry (committed ${this.committed})`,
      );
      this.append(entries.slice(conflictIndex - (prev.index + 1)));
    }
    this.commitTo(Math.min(leaderCommit, lastNewIndex));
    return lastNewIndex;
  }

  /** Appends `entries` (consecutive) to the unstable log. @returns the new last index. */
  append(entries: readonly Entry[]): number {
    const first = entries[0];
    if (first === undefined) return this.lastIndex();
    assert(
      first.index - 1 >= this.committed,
      `log: append after ${first.index - 1} would overwrite committed ${this.committed}`,
    );
    assert(first.index <= this.lastIndex() + 1, `log: append at ${first.index} leaves a gap`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /**
   * The index of the first entry in `entries` that is missing from the log or
   * has a different term; 0 when all of them are already present.
   */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry)) return entry.index;
    }
    return 0;
  }

  /**
   * The fast-backtracking probe: the largest index `<= index` whose term is
   * `<= term`, with that term (0 when unknown or compacted). An entry found
   * this way is the best candidate for where two logs last agree.
   */
  findConflictByTerm(index: number, term: number): EntryId {
    for (let i = index; i > 0; i--) {
      const ourTerm = this.term(i);
      if (ourTerm === undefined) return { index: i, term: 0 };
      if (ourTerm <= term) return { index: i, term: ourTerm };
    }
    return { index: 0, term: 0 };
  }

  /** Raises the commit index to `index` (never lowers it). */
  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(
      index <= this.lastIndex(),
      `log: commit ${index} is beyond the last index ${this.lastIndex()} (log lost or corrupted?)`,
    );
    this.committed = index;
  }

  /** Commits `at` if it is newer than the commit index and its term matches. */
  maybeCommit(at: EntryId): boolean {
    if (at.index > this.committed && this.matchTerm(at)) {
      this.commitTo(at.index);
      return true;
    }
    return false;
  }

  /** The application has applied everything up to `index`. */
  appliedTo(index: number): void {
    assert(
      this.applied <= index && index <= this.committed,
      `log: applied ${index} out of range [${this.applied}, ${this.committed}]`,
    );
    this.applied = index;
  }

  /** Entries durable up to `id`. */
  stableTo(id: EntryId): void {
    this.unstable.stableTo(id.index, id.term);
  }

  /** The pending snapshot at `index` is durable. */
  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  /** Replaces the log with `snapshot` (a follower installing the leader's state). */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }

  /** True while an incoming snapshot has not been persisted and applied. */
  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  /** Committed entries the application has not applied yet (size-limited). */
  nextCommittedEntries(): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    const entries = this.slice(this.applied + 1, this.committed + 1, this.maxCommittedSizePerReady);
    assert(entries !== undefined, "log: unapplied committed entries are compacted");
    return entries;
  }

  /** True when {@link nextCommittedEntries} would return something. */
  hasNextCommittedEntries(): boolean {
    return !this.hasPendingSnapshot() && this.applied < this.committed;
  }

  /** The snapshot to send a lagging follower: the pending one, else storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Entries from `lo` to the end, size-limited; undefined when `lo` is compacted. */
  entriesFrom(lo: number, maxSizeBytes: number): Entry[] | undefined {
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, this.lastIndex() + 1, maxSizeBytes);
  }

  /**
   * Entries in `[lo, hi)` (at least one when the range is not empty),
   * size-limited; undefined when `lo` is compacted.
   */
  slice(lo: number, hi: number, maxSizeBytes: number): Entry[] | undefined {
    assert(lo <= hi, `log: invalid slice [${lo}, ${hi})`);
    if (lo < this.firstIndex()) return undefined;
    assert(hi <= this.lastIndex() + 1, `log: slice [${lo}, ${hi}) beyond ${this.lastIndex()}`);
    if (lo === hi) return [];
    const unstableOffset = this.unstable.offset;
    if (lo >= unstableOffset) return limitSize(this.unstable.slice(lo, hi), maxSizeBytes);
    const cut = Math.min(hi, unstableOffset);
    let stored: Entry[];
    try {
      stored = this.storage.entries(lo, cut, maxSizeBytes);
    } catch (error) {
      if (isStorageError(error, "compacted")) return undefined;
      throw error;
    }
    if (hi <= unstableOffset || stored.length < cut - lo) return stored;
    let size = 0;
    for (const entry of stored) size += entrySizeBytes(entry);
    const rest: Entry[] = [];
    for (const entry of this.unstable.slice(unstableOffset, hi)) {
      size += entrySizeBytes(entry);
      if (size > maxSizeBytes) break;
      rest.push(entry);
    }
    return rest.length === 0 ? stored : [...stored, ...rest];
  }

  /** Every entry from the first index on (tests and debugging). */
  allEntries(): Entry[] {
    return this.entriesFrom(this.firstIndex(), NO_LIMIT) ?? [];
  }
}
