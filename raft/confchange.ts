/**
 * Single-server membership changes: checks a {@link ConfChange} against the
 * current membership and applies it. Only one voter changes at a time, so no
 * joint consensus is needed. `addNode` of a learner promotes it, `addLearner`
 * of a voter demotes it, `removeNode` of a non-member does nothing.
 *
 * @module
 */

import type { ProgressTracker } from "./tracker.ts";
import type { ConfChange } from "./types.ts";

/**
 * Why `change` cannot be applied to the membership in `tracker`, or null when
 * it can. A change that would leave no voter is refused.
 */
export function confChangeInvalid(tracker: ProgressTracker, change: ConfChange): string | null {
  if (change.nodeId === "") return "a conf change needs a node id";
  const leavesVoters = change.type === "removeNode" || change.type === "addLearner";
  if (leavesVoters && tracker.voters.has(change.nodeId) && tracker.voters.size === 1) {
    return `${change.type} of ${change.nodeId} would remove the last voter`;
  }
  return null;
}

/**
 * Applies `change` to `tracker` in place (the caller validated it with
 * {@link confChangeInvalid}). A new member's progress starts at `lastIndex`.
 */
export function applyConfChangeTo(
  tracker: ProgressTracker,
  change: ConfChange,
  lastIndex: number,
): void {
  const id = change.nodeId;
  switch (change.type) {
    case "addNode":
      tracker.learners.delete(id);
      tracker.voters.add(id);
      break;
    case "addLearner":
      tracker.voters.delete(id);
      tracker.learners.add(id);
      break;
    case "removeNode":
      tracker.voters.delete(id);
      tracker.learners.delete(id);
      tracker.progress.delete(id);
      tracker.votes.delete(id);
      break;
  }
  if (change.type !== "removeNode") {
    const progress = tracker.progress.get(id);
    const isLearner = change.type === "addLearner";
    if (progress === undefined) tracker.progress.set(id, tracker.newProgress(lastIndex, isLearner));
    else progress.isLearner = isLearner;
  }
  tracker.invariants();
}
