/**
 * What a checker reports when a property fails, and the fixed order in which
 * simultaneous reports are ranked (the most fundamental property first, so
 * that a run names the cause rather than a consequence).
 *
 * @module
 */

/** The checkers, most fundamental first. */
export const CHECKER_NAMES = [
  "electionSafety",
  "leaderAppendOnly",
  "logMatching",
  "leaderCompleteness",
  "stateMachineSafety",
  "durability",
  "convergence",
  "linearizability",
  "raftAssertion",
  "simulatorAssertion",
] as const;

/** One of {@link CHECKER_NAMES}. */
export type CheckerName = (typeof CHECKER_NAMES)[number];

/** A failed property: which checker, what exactly, and when (virtual ms). */
export interface Violation {
  checker: CheckerName;
  message: string;
  timeMs: number;
}

/** The rank of a checker in {@link CHECKER_NAMES} (lower = reported first). */
export function checkerRank(checker: CheckerName): number {
  return CHECKER_NAMES.indexOf(checker);
}

/** The violation to report among several found in the same step. */
export function firstViolation(violations: readonly Violation[]): Violation | undefined {
  let best: Violation | undefined;
  for (const violation of violations) {
    if (best === undefined || checkerRank(violation.checker) < checkerRank(best.checker)) {
      best = violation;
    }
  }
  return best;
}
