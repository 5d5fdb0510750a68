/**
 * Majority quorums over a set of voters: the highest index acknowledged by a
 * majority (what the leader may commit) and the outcome of a vote. Learners
 * are never passed in here, so they never count.
 *
 * @module
 */

import type { NodeId } from "./types.ts";

/** Outcome of an election (or of a read-index confirmation round) so far. */
export type VoteResult = "pending" | "lost" | "won";

/**
 * The largest index that a majority of `voters` have acknowledged; a voter
 * missing from `acked` counts as 0. Returns 0 for an empty voter set.
 *
 * @example
 * ```ts
 * import { majorityCommittedIndex } from "./quorum.ts";
 * const acked = new Map([["a", 5], ["b", 3], ["c", 1]]);
 * if (majorityCommittedIndex(["a", "b", "c"], (id) => acked.get(id)) !== 3) throw new Error();
 * ```
 */
export function majorityCommittedIndex(
  voters: Iterable<NodeId>,
  acked: (id: NodeId) => number | undefined,
): number {
  const indexes: number[] = [];
  for (const id of voters) indexes.push(acked(id) ?? 0);
  if (indexes.length === 0) return 0;
  indexes.sort((a, b) => b - a);
  const quorum = Math.floor(indexes.length / 2) + 1;
  return indexes[quorum - 1]!;
}

/**
 * The result of a vote among `voters`, given each voter's answer (missing =
 * not answered yet). An empty voter set wins trivially.
 */
export function majorityVoteResult(
  voters: Iterable<NodeId>,
  votes: (id: NodeId) => boolean | undefined,
): VoteResult {
  let granted = 0;
  let missing = 0;
  let total = 0;
  for (const id of voters) {
    total++;
    const vote = votes(id);
    if (vote === undefined) missing++;
    else if (vote) granted++;
  }
  if (total === 0) return "won";
  const quorum = Math.floor(total / 2) + 1;
  if (granted >= quorum) return "won";
  if (granted + missing >= quorum) return "pending";
  return "lost";
}
