/**
 * Leader append-only (Raft paper, Figure 3): a leader never overwrites or
 * deletes entries in its log during its term; it only appends entries of its
 * own term. Checked on every persist: when a node was leader of term T at its
 * previous persist (same incarnation) and still is, the new write must be a
 * pure append of term-T entries directly after its last index, with no
 * snapshot install.
 *
 * @module
 */

import type { Entry, NodeId } from "../../raft/mod.ts";

interface LeaderMark {
  term: number;
  incarnation: number;
}

/** What a node persists, as the checker needs it. */
export interface PersistFacts {
  node: NodeId;
  incarnation: number;
  state: string;
  term: number;
  /** The last index of the node's log before this write. */
  lastIndexBefore: number;
  entries: readonly Entry[];
  installsSnapshot: boolean;
}

/**
 * Tracks which nodes were leaders at their previous persist.
 *
 * @example
 * ```ts
 * import { LeaderAppendOnlyChecker } from "./leader_append_only.ts";
 * const checker = new LeaderAppendOnlyChecker();
 * const base = { node: "a", incarnation: 1, state: "leader", term: 2, installsSnapshot: false };
 * const entry = (index: number) =>
 *   ({ index, term: 2, type: "normal" as const, data: new Uint8Array() });
 * checker.onPersist({ ...base, lastIndexBefore: 4, entries: [entry(5)] });
 * if (checker.onPersist({ ...base, lastIndexBefore: 5, entries: [entry(4)] }) === null) {
 *   throw new Error("an overwrite was not caught");
 * }
 * ```
 */
export class LeaderAppendOnlyChecker {
  readonly #marks = new Map<NodeId, LeaderMark>();

  /** Checks one persist; returns a description of a violation, or null. */
  onPersist(facts: PersistFacts): string | null {
    const mark = this.#marks.get(facts.node);
    let problem: string | null = null;
    const stillLeading = facts.state === "leader" && mark !== undefined &&
      mark.term === facts.term && mark.incarnation === facts.incarnation;
    if (stillLeading) problem = appendProblem(facts);
    if (facts.state === "leader") {
      this.#marks.set(facts.node, { term: facts.term, incarnation: facts.incarnation });
    } else {
      this.#marks.delete(facts.node);
    }
    return problem;
  }
}

function appendProblem(facts: PersistFacts): string | null {
  const where = `leader ${facts.node} of term ${facts.term}`;
  if (facts.installsSnapshot) return `${where} installs a snapshot`;
  const first = facts.entries[0];
  if (first === undefined) return null;
  if (first.index !== facts.lastIndexBefore + 1) {
    return `${where} writes entry ${first.index} over its log ending at ${facts.lastIndexBefore}`;
  }
  for (const entry of facts.entries) {
    if (entry.term !== facts.term) {
      return `${where} appends entry ${entry.index} of term ${entry.term}`;
    }
  }
  return null;
}
