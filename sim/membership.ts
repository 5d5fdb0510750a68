/**
 * The membership operator: a scripted administrator that changes the group
 * during the safety phase, one change at a time, through the current leader:
 * add a spare node as a learner (it starts with an empty disk and catches up
 * through a snapshot), promote a caught-up learner, remove a voter, and, to
 * remove the leader, first transfer leadership to the most up-to-date other
 * voter (falling back to removing the leader directly, which makes it step
 * down, when the transfer does not finish); now and then demote a voter (the
 * leader too: it steps down) to be promoted again later, or hand leadership
 * over without removing anyone. A node whose removal is applied
 * is shut down for good. Proposals that are refused or lost are proposed
 * again; Raft makes a repeated change harmless.
 *
 * @module
 */

import { unreachable } from "../base/assert.ts";
import type { Rng } from "../base/rng.ts";
import type { ConfChange, NodeId, Status } from "../raft/mod.ts";
import type { Cluster } from "./cluster.ts";
import type { SimEvent } from "./events.ts";
import type { SimNode } from "./node.ts";

/** Fewest voters a removal may leave (so one crash never blocks the group for good). */
export const VOTERS_AFTER_REMOVAL_MIN = 3;
/** A change not seen applied after this long is proposed again. */
const RETRY_AFTER_MS = 600;

/** The pending-change kind each proposed change type waits as. */
const PENDING_KIND = {
  addLearner: "addLearner",
  addNode: "promote",
  removeNode: "remove",
} as const satisfies Record<ConfChange["type"], PendingChange["kind"]>;

interface PendingChange {
  kind: "addLearner" | "promote" | "demote" | "remove" | "transfer" | "handover";
  target: NodeId;
  sinceMs: number;
}

/** Changes the membership of a cluster from its seed. */
export class MembershipOperator {
  readonly #cluster: Cluster;
  readonly #rng: Rng;
  #pending: PendingChange | undefined;
  #sparesUsed = 0;

  constructor(cluster: Cluster, rng: Rng) {
    this.#cluster = cluster;
    this.#rng = rng;
    if (cluster.knobs.cluster.membershipIntervalMs > 0) this.#scheduleStep();
  }

  /** Handles membership events; false for events of other modules. */
  handle(event: SimEvent): boolean {
    if (event.kind !== "membership") return false;
    this.#step();
    return true;
  }

  /** True while a change is under way (the liveness phase waits for it). */
  get busy(): boolean {
    return this.#pending !== undefined;
  }

  #scheduleStep(): void {
    const mean = this.#cluster.knobs.cluster.membershipIntervalMs;
    this.#cluster.scheduler.after(this.#rng.between(Math.ceil(mean / 2), mean * 2), {
      kind: "membership",
    });
  }

  #step(): void {
    const safety = this.#cluster.phase === "safety";
    if (safety || this.#pending !== undefined) this.#scheduleStep();
    const leader = this.#cluster.leader();
    if (leader === undefined) return;
    const status = leader.status();
    if (this.#pending !== undefined) this.#followUp(leader, status, this.#pending);
    else if (safety) this.#startChange(leader, status);
  }

  #followUp(leader: SimNode, status: Status, pending: PendingChange): void {
    const { voters, learners } = status.confState;
    const now = this.#cluster.scheduler.now;
    const late = now - pending.sinceMs > RETRY_AFTER_MS;
    switch (pending.kind) {
      case "addLearner":
        if (learners.includes(pending.target) || voters.includes(pending.target)) this.#done();
        else if (late) this.#propose(leader, "addLearner", pending.target);
        return;
      case "promote":
        if (voters.includes(pending.target)) this.#done();
        else if (late) this.#propose(leader, "addNode", pending.target);
        return;
      case "demote":
        if (learners.includes(pending.target)) this.#done();
        else if (late) this.#propose(leader, "addLearner", pending.target, "demote");
        return;
      case "remove":
        if (!voters.includes(pending.target) && !learners.includes(pending.target)) {
          const removed = this.#cluster.maybeNode(pending.target);
          if (removed !== undefined && removed.liveness !== "stopped") {
            this.#cluster.stopNode(removed);
          }
          this.#done();
        } else if (late) {
          this.#propose(leader, "removeNode", pending.target);
        }
        return;
      case "transfer":
        // The old leader gone from the lead (or the transfer stuck): remove it now.
        if (leader.id !== pending.target || late) {
          this.#propose(leader, "removeNode", pending.target);
        }
        return;
      case "handover":
        if (leader.id !== pending.target || late) this.#done();
        return;
      default:
        unreachable(pending.kind);
    }
  }

  #startChange(leader: SimNode, status: Status): void {
    const { voters, learners } = status.confState;
    const learner = learners[0];
    if (learner !== undefined) {
      const match = status.progress.get(learner)?.match ?? 0;
      if (match >= status.commit) this.#propose(leader, "addNode", learner);
      return;
    }
    const draw = this.#rng.float();
    const spare = this.#cluster.spareIds[this.#sparesUsed];
    if (draw < 0.4 && spare !== undefined) {
      this.#sparesUsed++;
      this.#cluster.addNode(spare);
      this.#cluster.traceLine(`membership: ${spare} starts empty and will join`);
      this.#propose(leader, "addLearner", spare);
    } else if (draw < 0.7 && voters.length - 1 >= VOTERS_AFTER_REMOVAL_MIN) {
      // Half of the removals remove the leader itself.
      const others = voters.filter((id) => id !== leader.id);
      if (this.#rng.chance(0.5)) this.#transfer(leader, status, "transfer");
      else this.#propose(leader, "removeNode", this.#rng.pick(others));
    } else if (draw < 0.8 && voters.length - 1 >= VOTERS_AFTER_REMOVAL_MIN) {
      // Demote a voter (maybe the leader, which then steps down); it is promoted again later.
      this.#propose(leader, "addLearner", this.#rng.pick(voters), "demote");
    } else if (draw < 0.9 && voters.length >= 2) {
      this.#transfer(leader, status, "handover");
    }
  }

  /** Hands leadership to the most up-to-date other voter (`transfer`: then removes the old one). */
  #transfer(leader: SimNode, status: Status, kind: "transfer" | "handover"): void {
    const others = status.confState.voters.filter((id) => id !== leader.id);
    const successor = mostUpToDate(status, others);
    this.#cluster.traceLine(`membership: ${kind} leadership ${leader.id} -> ${successor}`);
    if (kind === "transfer") this.#cluster.stats.leaderRemovals++;
    this.#pending = { kind, target: leader.id, sinceMs: this.#cluster.scheduler.now };
    this.#cluster.touch(leader);
    leader.transferLeader(successor);
  }

  #propose(
    leader: SimNode,
    type: ConfChange["type"],
    nodeId: NodeId,
    kind: PendingChange["kind"] = PENDING_KIND[type],
  ): void {
    this.#cluster.touch(leader);
    const result = leader.proposeConfChange({ type, nodeId, context: new Uint8Array() });
    this.#pending = { kind, target: nodeId, sinceMs: this.#cluster.scheduler.now };
    this.#cluster.traceLine(
      `membership: propose ${type} ${nodeId} at ${leader.id}: ${result.kind}`,
    );
  }

  #done(): void {
    this.#cluster.traceLine(`membership: ${this.#pending!.kind} ${this.#pending!.target} done`);
    this.#cluster.stats.membershipChanges++;
    this.#pending = undefined;
  }
}

function mostUpToDate(status: Status, candidates: readonly NodeId[]): NodeId {
  let best = candidates[0]!;
  for (const id of candidates) {
    if ((status.progress.get(id)?.match ?? 0) > (status.progress.get(best)?.match ?? 0)) best = id;
  }
  return best;
}
