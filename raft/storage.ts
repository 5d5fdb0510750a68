/**
 * The read side of the durable Raft log, as the core sees it ({@link Storage}),
 * and {@link MemoryStorage}, an in-memory implementation. The core only reads
 * storage; the application writes it while handling a `Ready`. The node layer
 * keeps a `MemoryStorage` as the in-memory mirror of its write-ahead log.
 *
 * @module
 */

import { assert, assertIndex } from "../base/assert.ts";
import {
  cloneConfState,
  type ConfState,
  type Entry,
  type HardState,
  limitSize,
  NO_NODE,
  type Snapshot,
} from "./types.ts";

/** Why a storage read or write could not be served. */
export type StorageErrorKind =
  /** The requested index is at or before the last snapshot: the entries are gone. */
  | "compacted"
  /** The requested index is after the last entry. */
  | "unavailable"
  /** The snapshot given is older than the one storage already has. */
  | "snapshotOutOfDate"
  /** No snapshot can be produced right now; the leader will retry later. */
  | "snapshotTemporarilyUnavailable";

/** The one error type storage implementations throw; callers switch on `kind`. */
export class StorageError extends Error {
  override name = "StorageError";
  readonly kind: StorageErrorKind;

  constructor(kind: StorageErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

/** True when `error` is a {@link StorageError} of the given kind. */
export function isStorageError(error: unknown, kind: StorageErrorKind): error is StorageError {
  return error instanceof StorageError && error.kind === kind;
}

/**
 * Read access to the durable log. Entries in `[firstIndex(), lastIndex()]` are
 * available; the entry at `firstIndex() - 1` is represented only by its term
 * (the last entry covered by the snapshot).
 */
export interface Storage {
  /** The persisted hard state and membership, read once when the node starts. */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries in `[lo, hi)`, at most `maxSizeBytes` in total but at least one.
   * @throws {StorageError} `compacted` if `lo < firstIndex()`; `unavailable` if `hi > lastIndex() + 1`.
   */
  entries(lo: number, hi: number, maxSizeBytes: number): Entry[];
  /**
   * The term of the entry at `index`, for `index` in `[firstIndex() - 1, lastIndex()]`.
   * @throws {StorageError} `compacted` or `unavailable` outside that range.
   */
  term(index: number): number;
  /** The index of the first available entry (snapshot index + 1). */
  firstIndex(): number;
  /** The index of the last entry (the snapshot index when there are none). */
  lastIndex(): number;
  /**
   * The most recent snapshot.
   * @throws {StorageError} `snapshotTemporarilyUnavailable` when it cannot be produced now.
   */
  snapshot(): Snapshot;
}

/**
 * An in-memory {@link Storage}. `#entries[0]` is a dummy entry holding the
 * index and term of the last compacted entry (the snapshot's).
 *
 * Invariant: `#entries` is non-empty and its indexes are consecutive.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "./storage.ts";
 * const storage = new MemoryStorage({ confState: { voters: ["a"], learners: [] } });
 * storage.append([{ term: 1, index: 1, type: "normal", data: new Uint8Array() }]);
 * if (storage.lastIndex() !== 1) throw new Error("expected one entry");
 * ```
 */
export class MemoryStorage implements Storage {
  #hardState: HardState = { term: 0, vote: NO_NODE, commit: 0 };
  #snapshot: Snapshot;
  #entries: Entry[];

  /**
   * An empty log. `confState` sets a membership "at index 0", without any
   * entry or snapshot carrying it: handy for tests, but a node that joins
   * later could never learn it. Production groups use {@link MemoryStorage.bootstrap}.
   */
  constructor(options: { confState?: ConfState } = {}) {
    const confState = cloneConfState(options.confState ?? { voters: [], learners: [] });
    this.#snapshot = { metadata: { index: 0, term: 0, confState }, data: new Uint8Array() };
    this.#entries = [dummyEntry(0, 0)];
  }

  /**
   * The storage of an initial member of a new group: a snapshot at index 1,
   * term 1 carrying the membership and the initial state-machine `data`, and
   * the matching hard state. Every initial member must be bootstrapped with
   * the same arguments. Nodes added later receive the membership through a
   * snapshot (or the log), so it is never lost.
   */
  static bootstrap(confState: ConfState, data: Uint8Array = new Uint8Array()): MemoryStorage {
    assert(confState.voters.length > 0, "bootstrap: a group needs at least one voter");
    const storage = new MemoryStorage();
    storage.applySnapshot({
      metadata: { index: 1, term: 1, confState: cloneConfState(confState) },
      data,
    });
    storage.setHardState({ term: 1, vote: NO_NODE, commit: 1 });
    return storage;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return {
      hardState: { ...this.#hardState },
      confState: cloneConfState(this.#snapshot.metadata.confState),
    };
  }

  /** Records the hard state (the application does this when a Ready carries one). */
  setHardState(hardState: HardState): void {
    assertIndex(hardState.term, "term");
    assertIndex(hardState.commit, "commit");
    this.#hardState = { ...hardState };
  }

  entries(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    assert(lo <= hi, `entries: invalid range [${lo}, ${hi})`);
    const offset = this.#offset();
    if (lo <= offset) {
      throw new StorageError("compacted", `entries: index ${lo} is compacted (offset ${offset})`);
    }
    if (hi > this.lastIndex() + 1) {
      throw new StorageError("unavailable", `entries: index ${hi - 1} > last ${this.lastIndex()}`);
    }
    return limitSize(this.#entries.slice(lo - offset, hi - offset), maxSizeBytes);
  }

  term(index: number): number {
    const offset = this.#offset();
    if (index < offset) {
      throw new StorageError("compacted", `term: index ${index} is compacted (offset ${offset})`);
    }
    const entry = this.#entries[index - offset];
    if (entry === undefined) {
      throw new StorageError("unavailable", `term: index ${index} > last ${this.lastIndex()}`);
    }
    return entry.term;
  }

  firstIndex(): number {
    return this.#offset() + 1;
  }

  lastIndex(): number {
    return this.#offset() + this.#entries.length - 1;
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /**
   * Replaces the whole log with `snapshot` (a follower installing the leader's snapshot).
   * @throws {StorageError} `snapshotOutOfDate` if it is older than the current snapshot.
   */
  applySnapshot(snapshot: Snapshot): void {
    const { index, term } = snapshot.metadata;
    if (index <= this.#snapshot.metadata.index) {
      throw new StorageError(
        "snapshotOutOfDate",
        `applySnapshot: index ${index} <= current snapshot index ${this.#snapshot.metadata.index}`,
      );
    }
    this.#snapshot = snapshot;
    this.#entries = [dummyEntry(index, term)];
    this.#invariants();
  }

  /**
   * Makes a snapshot at `index` (at most the last index) with the given
   * membership and state-machine data; entries are kept until `compact`.
   * @throws {StorageError} `snapshotOutOfDate` if `index` is not after the current snapshot.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.#snapshot.metadata.index) {
      throw new StorageError(
        "snapshotOutOfDate",
        `createSnapshot: index ${index} <= current snapshot index ${this.#snapshot.metadata.index}`,
      );
    }
    assert(index <= this.lastIndex(), `createSnapshot: index ${index} > last ${this.lastIndex()}`);
    const term = this.term(index);
    this.#snapshot = { metadata: { index, term, confState: cloneConfState(confState) }, data };
    return this.#snapshot;
  }

  /**
   * Discards entries up to and including `compactIndex` (which must be at most
   * the last index). The application should only compact applied entries.
   * @throws {StorageError} `compacted` if `compactIndex` is already compacted.
   */
  compact(compactIndex: number): void {
    const offset = this.#offset();
    if (compactIndex <= offset) {
      throw new StorageError("compacted", `compact: ${compactIndex} <= offset ${offset}`);
    }
    assert(compactIndex <= this.lastIndex(), `compact: ${compactIndex} > last ${this.lastIndex()}`);
    const kept = this.#entries.slice(compactIndex - offset);
    const first = this.#entries[compactIndex - offset];
    assert(first !== undefined, "compact: missing entry");
    this.#entries = [dummyEntry(first.index, first.term), ...kept.slice(1)];
    this.#invariants();
  }

  /**
   * Appends `entries`, replacing any existing suffix they overlap. Entries at
   * or before the snapshot are ignored. The first entry must be at most
   * `lastIndex() + 1` (no gaps).
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[entries.length - 1]!.index;
    if (last < first) return;
    const fresh = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const start = fresh[0]!.index;
    assert(start <= this.lastIndex() + 1, `append: gap after ${this.lastIndex()} (got ${start})`);
    for (let i = 1; i < fresh.length; i++) {
      assert(fresh[i]!.index === start + i, "append: entries are not consecutive");
    }
    const keep = start - this.#offset();
    if (keep === this.#entries.length) {
      for (const entry of fresh) this.#entries.push(entry);
    } else {
      this.#entries = [...this.#entries.slice(0, keep), ...fresh];
    }
    this.#invariants();
  }

  #offset(): number {
    return this.#entries[0]!.index;
  }

  #invariants(): void {
    assert(this.#entries.length >= 1, "MemoryStorage: lost the dummy entry");
    const last = this.#entries[this.#entries.length - 1]!;
    assert(
      last.index === this.#offset() + this.#entries.length - 1,
      "MemoryStorage: entries are not consecutive",
    );
  }
}

function dummyEntry(index: number, term: number): Entry {
  return { index, term, type: "normal", data: new Uint8Array() };
}
