/**
 * Leader completeness (Raft paper, Figure 3): an entry committed in term T is
 * in the log of every leader of every term after T.
 *
 * Checked when a node is first seen writing as leader of a term (its log then
 * is exactly its log at election plus its own new entries), and again for
 * every current leader whenever a committed record appears or its
 * commit-term bound goes down. Entries the leader has compacted into its
 * snapshot are covered by the state-machine checker instead.
 *
 * @module
 */

import type { NodeId } from "../../raft/mod.ts";
import type { CommittedLog, CommittedRecord } from "./committed_log.ts";

/** Read access to a node's log. */
export interface LogView {
  firstIndex(): number;
  lastIndex(): number;
  /** The term at `index`, or undefined when compacted or absent. */
  term(index: number): number | undefined;
}

/** A node currently leading. */
export interface CurrentLeader {
  node: NodeId;
  term: number;
  log: LogView;
}

/**
 * Checks leaders against the committed log.
 *
 * @example
 * ```ts
 * import { CommittedLog } from "./committed_log.ts";
 * import { LeaderCompletenessChecker } from "./leader_completeness.ts";
 * const committed = new CommittedLog();
 * committed.record("a", { index: 2, term: 2, type: "normal", data: new Uint8Array() }, 2);
 * const checker = new LeaderCompletenessChecker(committed);
 * const emptyLog = { firstIndex: () => 2, lastIndex: () => 1, term: () => undefined };
 * const problem = checker.onLeaderWrite("b", 3, emptyLog);
 * if (problem === null) throw new Error("missing entry not caught");
 * ```
 */
export class LeaderCompletenessChecker {
  readonly #committed: CommittedLog;
  readonly #checkedLeaders = new Set<string>();

  constructor(committed: CommittedLog) {
    this.#committed = committed;
  }

  /** `node` persists as leader of `term`; the first time, check its whole log. */
  onLeaderWrite(node: NodeId, term: number, log: LogView): string | null {
    const key = `${term}/${node}`;
    if (this.#checkedLeaders.has(key)) return null;
    this.#checkedLeaders.add(key);
    const from = Math.max(1, log.firstIndex());
    for (let index = from; index <= this.#committed.highestIndex; index++) {
      const record = this.#committed.at(index);
      if (record === undefined || record.commitTermBound >= term) continue;
      const problem = missing(node, term, log, index, record);
      if (problem !== null) return problem;
    }
    return null;
  }

  /** A committed record at `index` is new or tightened: check the current leaders. */
  onCommitted(index: number, leaders: readonly CurrentLeader[]): string | null {
    const record = this.#committed.at(index);
    if (record === undefined) return null;
    for (const leader of leaders) {
      if (record.commitTermBound >= leader.term || index < leader.log.firstIndex()) continue;
      const problem = missing(leader.node, leader.term, leader.log, index, record);
      if (problem !== null) return problem;
    }
    return null;
  }
}

function missing(
  node: NodeId,
  term: number,
  log: LogView,
  index: number,
  record: CommittedRecord,
): string | null {
  const leaderTerm = log.term(index);
  if (leaderTerm === record.term) return null;
  const has = leaderTerm === undefined ? "nothing" : `term ${leaderTerm}`;
  return `leader ${node} of term ${term} has ${has} at index ${index}, where term ` +
    `${record.term} was committed (by term ${record.commitTermBound}, seen on ${record.node})`;
}
