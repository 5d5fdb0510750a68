/**
 * The safety checkers of design.md section 4, wired to the node driver's
 * hooks: one leader per term, leader append-only, log matching, leader
 * completeness, state machine safety, and nothing sent ahead of the durable
 * state. Each hook runs the checkers concerned and reports what fails to the
 * sink; the simulator stops at the end of the step and names the most
 * fundamental failure (see `violation.ts`).
 *
 * @module
 */

import {
  type Entry,
  MemoryStorage,
  type Message,
  NO_LIMIT,
  type NodeId,
  type Status,
} from "../../raft/mod.ts";
import type { LogState, WalRecord } from "../wal.ts";
import { CommittedLog } from "./committed_log.ts";
import { messageAheadOfDurable } from "./durability.ts";
import { ElectionSafetyChecker } from "./election_safety.ts";
import { LeaderAppendOnlyChecker } from "./leader_append_only.ts";
import {
  type CurrentLeader,
  LeaderCompletenessChecker,
  type LogView,
} from "./leader_completeness.ts";
import { entryHash, LogMatchingChecker } from "./log_matching.ts";
import { StateMachineSafetyChecker } from "./state_machine_safety.ts";
import type { CheckerName } from "./violation.ts";

export { CHECKER_NAMES, type CheckerName, firstViolation, type Violation } from "./violation.ts";

/** Where checkers report. */
export type ViolationSink = (checker: CheckerName, message: string) => void;

/** A node as the checkers see it. */
export interface CheckedNode {
  id: NodeId;
  incarnation: number;
  mirror: MemoryStorage;
}

/** A {@link LogView} over a node's storage mirror. */
export function mirrorView(mirror: MemoryStorage): LogView {
  return {
    firstIndex: () => mirror.firstIndex(),
    lastIndex: () => mirror.lastIndex(),
    term: (index) => {
      if (index < mirror.firstIndex() - 1 || index > mirror.lastIndex()) return undefined;
      return mirror.term(index);
    },
  };
}

/** All safety checkers, fed by the node driver's hooks. */
export class SafetyCheckers {
  readonly #report: ViolationSink;
  readonly #election = new ElectionSafetyChecker();
  readonly #appendOnly = new LeaderAppendOnlyChecker();
  readonly #matching = new LogMatchingChecker();
  readonly #committed = new CommittedLog();
  readonly #completeness = new LeaderCompletenessChecker(this.#committed);
  readonly #stateMachine = new StateMachineSafetyChecker();
  /** Per node: the committed prefix already recorded (reset at every start). */
  readonly #committedSeen = new Map<NodeId, number>();
  /** Nodes last seen leading, with their term and log. */
  readonly #leaders = new Map<NodeId, CurrentLeader>();

  constructor(report: ViolationSink) {
    this.#report = report;
  }

  /** A node (re)started: forget what was volatile about it. */
  onStart(node: CheckedNode): void {
    this.#committedSeen.set(node.id, 0);
    this.#leaders.delete(node.id);
  }

  /** A node stopped running (crash or removal). */
  onStop(node: CheckedNode): void {
    this.#leaders.delete(node.id);
  }

  /** Role observation after a step (or a write). */
  observe(node: CheckedNode, status: Status): void {
    const problem = this.#election.observe(node.id, status.state, status.term);
    if (problem !== null) this.#report("electionSafety", problem);
    if (status.state === "leader") {
      this.#leaders.set(node.id, {
        node: node.id,
        term: status.term,
        log: mirrorView(node.mirror),
      });
    } else {
      this.#leaders.delete(node.id);
    }
  }

  /** Before a write: append-only and log matching (the mirror still holds the old log). */
  persisting(node: CheckedNode, record: WalRecord, status: Status): void {
    const mirror = node.mirror;
    const appendOnly = this.#appendOnly.onPersist({
      node: node.id,
      incarnation: node.incarnation,
      state: status.state,
      term: status.term,
      lastIndexBefore: mirror.lastIndex(),
      entries: record.entries,
      installsSnapshot: record.snapshot !== undefined,
    });
    if (appendOnly !== null) this.#report("leaderAppendOnly", appendOnly);
    const snapshotMeta = record.snapshot?.metadata;
    const base = snapshotMeta ?? { index: mirror.firstIndex() - 1, term: 0 };
    const fresh = record.entries.filter((entry) => entry.index > base.index);
    const first = fresh[0];
    if (first === undefined) return;
    const previousTerm = snapshotMeta !== undefined && first.index === snapshotMeta.index + 1
      ? snapshotMeta.term
      : mirror.term(first.index - 1);
    const matching = this.#matching.onWrite(node.id, fresh, previousTerm);
    if (matching !== null) this.#report("logMatching", matching);
  }

  /** After a write: the mirror equals the core's log. */
  persisted(node: CheckedNode, status: Status): void {
    this.observe(node, status);
    if (status.state === "leader") {
      const problem = this.#completeness.onLeaderWrite(
        node.id,
        status.term,
        mirrorView(node.mirror),
      );
      if (problem !== null) this.#report("leaderCompleteness", problem);
    }
  }

  /**
   * What `node` wrote with the core in `status` is durable: its commit index
   * now stands. (Not earlier: a single voter counts itself, and so commits,
   * before its entries are durable; a crash before the fsync loses them
   * unapplied and unacknowledged, which is correct.)
   */
  durable(node: CheckedNode, status: Status): void {
    this.#recordCommitted(node, status);
  }

  /** A message leaves `node` whose durable log is `durable`. */
  sending(node: CheckedNode, message: Message, durable: LogState): void {
    const problem = messageAheadOfDurable(message, durable);
    if (problem !== null) {
      this.#report("durability", `${node.id} -> ${message.to}: ${problem}`);
    }
  }

  /** `node` applied `entry` and reached `stateHash`. */
  applied(node: CheckedNode, entry: Entry, stateHash: number): void {
    const problem = this.#stateMachine.onApply(node.id, entry.index, entryHash(entry), stateHash);
    if (problem !== null) this.#report("stateMachineSafety", problem);
  }

  /** `node` restored a snapshot at `index` with `stateHash`. */
  snapshotRestored(node: CheckedNode, index: number, stateHash: number): void {
    const problem = this.#stateMachine.onSnapshotRestore(node.id, index, stateHash);
    if (problem !== null) this.#report("stateMachineSafety", problem);
  }

  #recordCommitted(node: CheckedNode, status: Status): void {
    const mirror = node.mirror;
    const from = Math.max((this.#committedSeen.get(node.id) ?? 0) + 1, mirror.firstIndex());
    const through = Math.min(status.commit, mirror.lastIndex());
    if (through < from) return;
    this.#committedSeen.set(node.id, through);
    const leaders = [...this.#leaders.values()];
    for (const entry of mirror.entries(from, through + 1, NO_LIMIT)) {
      const outcome = this.#committed.record(node.id, entry, status.term);
      if (outcome.conflict !== null) this.#report("stateMachineSafety", outcome.conflict);
      if (!outcome.tightened) continue;
      const problem = this.#completeness.onCommitted(entry.index, leaders);
      if (problem !== null) this.#report("leaderCompleteness", problem);
    }
  }
}
