/**
 * The committed log as the nodes report it: for every index any node has
 * called committed, the entry's term and content fingerprint, and an upper
 * bound on the term in which it was committed (the smallest current term of
 * a node seen holding it as committed: a node learns of a commit made in its
 * term or an earlier one). Shared by the leader-completeness and
 * state-machine-safety checkers.
 *
 * @module
 */

import type { Entry, NodeId } from "../../raft/mod.ts";
import { entryHash } from "./log_matching.ts";

/** One committed index. */
export interface CommittedRecord {
  term: number;
  contentHash: number;
  /** The entry was committed in this term or an earlier one. */
  commitTermBound: number;
  node: NodeId;
}

/** The outcome of recording one committed entry. */
export interface RecordOutcome {
  /** A different entry was already recorded as committed at this index. */
  conflict: string | null;
  /** The record is new, or its commit-term bound went down (leaders must be rechecked). */
  tightened: boolean;
}

/**
 * Committed entries, by index.
 *
 * @example
 * ```ts
 * import { CommittedLog } from "./committed_log.ts";
 * const log = new CommittedLog();
 * const entry = (term: number) =>
 *   ({ index: 2, term, type: "normal" as const, data: new Uint8Array() });
 * log.record("a", entry(1), 3);
 * if (log.record("b", entry(2), 3).conflict === null) throw new Error("conflict not seen");
 * ```
 */
export class CommittedLog {
  readonly #records = new Map<number, CommittedRecord>();
  #highestIndex = 0;

  /** The highest index recorded. */
  get highestIndex(): number {
    return this.#highestIndex;
  }

  /** The record at `index`, if any. */
  at(index: number): CommittedRecord | undefined {
    return this.#records.get(index);
  }

  /** Records that `node`, in term `nodeTerm`, holds `entry` as committed. */
  record(node: NodeId, entry: Entry, nodeTerm: number): RecordOutcome {
    const contentHash = entryHash(entry);
    const known = this.#records.get(entry.index);
    if (known === undefined) {
      this.#records.set(entry.index, {
        term: entry.term,
        contentHash,
        commitTermBound: nodeTerm,
        node,
      });
      this.#highestIndex = Math.max(this.#highestIndex, entry.index);
      return { conflict: null, tightened: true };
    }
    if (known.term !== entry.term || known.contentHash !== contentHash) {
      return {
        conflict: `index ${entry.index} committed as term ${known.term} on ${known.node} ` +
          `but as term ${entry.term} on ${node}`,
        tightened: false,
      };
    }
    if (nodeTerm < known.commitTermBound) {
      known.commitTermBound = nodeTerm;
      return { conflict: null, tightened: true };
    }
    return { conflict: null, tightened: false };
  }
}
