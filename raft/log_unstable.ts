/**
 * The unstable part of the log: entries (and possibly one incoming snapshot)
 * the core has accepted but the application has not yet written to storage.
 * They leave this buffer when the application reports them durable
 * (`stableTo`, `stableSnapTo`, called from `RawNode.advance`).
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Entry, Snapshot } from "./types.ts";

/**
 * Invariants: `entries[i].index === offset + i`; when a snapshot is present,
 * `offset === snapshot.metadata.index + 1` or entries were appended after it.
 */
export class UnstableLog {
  /** An incoming snapshot not yet persisted. */
  snapshot: Snapshot | undefined;
  /** Entries not yet persisted; `entries[0]` has index `offset`. */
  entries: Entry[] = [];
  offset: number;

  constructor(offset: number) {
    assert(offset >= 1, "UnstableLog: offset must be >= 1");
    this.offset = offset;
  }

  /** The first index if a snapshot is pending (else undefined: ask storage). */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  /** The last index if there are unstable entries or a pending snapshot. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.metadata.index;
  }

  /** The term at `index` if this buffer knows it. */
  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      const meta = this.snapshot?.metadata;
      return meta !== undefined && meta.index === index ? meta.term : undefined;
    }
    return this.entries[index - this.offset]?.term;
  }

  /**
   * Entries up to `(index, term)` are durable: drop them. Ignored when the
   * entry at `index` has since been replaced (its term differs) or was never here.
   */
  stableTo(index: number, term: number): void {
    const known = this.maybeTerm(index);
    if (known === undefined || known !== term || index < this.offset) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  /** The pending snapshot at `index` is durable: drop it. */
  stableSnapTo(index: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === index) {
      this.snapshot = undefined;
    }
  }

  /** Replaces everything with `snapshot`, to be persisted next. */
  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  /**
   * Appends `entries` (consecutive), replacing any unstable suffix they
   * overlap. If they start before `offset`, the caller has already checked
   * that nothing committed is replaced; the buffer then restarts there.
   */
  truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const after = first.index;
    if (after === this.offset + this.entries.length) {
      this.entries = [...this.entries, ...entries];
    } else if (after <= this.offset) {
      this.offset = after;
      this.entries = [...entries];
    } else {
      this.entries = [...this.entries.slice(0, after - this.offset), ...entries];
    }
    this.#invariants();
  }

  /** Entries in `[lo, hi)`, which must lie within the buffer. */
  slice(lo: number, hi: number): Entry[] {
    const upper = this.offset + this.entries.length;
    assert(
      this.offset <= lo && lo <= hi && hi <= upper,
      `unstable slice [${lo}, ${hi}) out of [${this.offset}, ${upper})`,
    );
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }

  #invariants(): void {
    const first = this.entries[0];
    const last = this.entries[this.entries.length - 1];
    if (first === undefined || last === undefined) return;
    assert(first.index === this.offset, "UnstableLog: first entry is not at offset");
    assert(
      last.index === this.offset + this.entries.length - 1,
      "UnstableLog: entries are not consecutive",
    );
  }
}
