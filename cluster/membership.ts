/**
 * Changes to who is in the Raft group, run on the leader: a node joins (or
 * is added) as a learner with its address and zone registered in the
 * metadata, is promoted to voter once caught up (unless it asked to stay a
 * learner), and is removed — after leadership moved away if it is the
 * leader, and only if the remaining voters that are alive still form a
 * quorum (unless forced). A voter counts as alive once the leader heard from
 * it in its current activity round; since each round starts with nobody heard
 * from, a voter is given one round (`livenessGraceMs`) to show up before the
 * removal is refused. Requests reaching a follower are forwarded to the
 * leader.
 *
 * @module
 */

import { describeError, UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import { checkAddress, checkNodeId, type MetaStore } from "../meta/mod.ts";
import type { Transport } from "../net/mod.ts";
import type { ProposeResult } from "../raft/mod.ts";
import { ClusterMessage, type RaftNode } from "./raft_node.ts";

/** A node asking to be a member. */
export interface JoinRequest {
  readonly id: string;
  readonly address: string;
  readonly zone: string;
  /** Stay a learner (a far site that should not vote). */
  readonly learner: boolean;
  /** Only ask for the members' addresses; change nothing. */
  readonly probe: boolean;
}

/** A membership change requested by an administrator. */
export type MembershipRequest =
  | ({ readonly op: "add" } & JoinRequest)
  | { readonly op: "remove"; readonly id: string; readonly force: boolean };

/** What a join answers: the members, so the new node can reach them before it has the metadata. */
export interface JoinAnswer {
  readonly leader: string;
  readonly members: { id: string; address: string }[];
}

/**
 * How far behind the leader's commit index a learner may be and still be
 * promoted (it must also be replicating and recently active).
 */
export const PROMOTION_LAG_MAX = 64;
/** How long a membership change may take. */
export const MEMBERSHIP_TIMEOUT_MS = 30_000;

/** How often the quorum check looks again at who the leader heard from. */
const LIVENESS_POLL_MS = 10;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function parseJson(body: Uint8Array): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(decoder.decode(body));
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // reported below
  }
  throw new UkaiError("PROTOCOL", "Membership request is not a JSON object");
}

/** Validates a join request from the wire. */
export function parseJoinRequest(value: Record<string, unknown>): JoinRequest {
  if (typeof value.zone !== "string" || value.zone.length > 64) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      "Join request: zone must be a string of up to 64 characters",
    );
  }
  return {
    id: checkNodeId(value.id),
    address: checkAddress(value.address),
    zone: value.zone,
    learner: value.learner === true,
    probe: value.probe === true,
  };
}

/** Runs membership changes for one node (acting when it leads, forwarding otherwise). */
export class Membership {
  readonly #nodeId: string;
  readonly #node: RaftNode;
  readonly #meta: MetaStore;
  readonly #transport: Transport;
  readonly #logger: Logger;
  readonly #livenessGraceMs: number;
  #promoting = false;

  constructor(options: {
    nodeId: string;
    node: RaftNode;
    meta: MetaStore;
    transport: Transport;
    logger: Logger;
    /** How long a voter not heard from in the leader's current round may take to show up (one election timeout). */
    livenessGraceMs: number;
  }) {
    this.#nodeId = options.nodeId;
    this.#node = options.node;
    this.#meta = options.meta;
    this.#transport = options.transport;
    this.#logger = options.logger;
    this.#livenessGraceMs = options.livenessGraceMs;
  }

  /** Serves join and membership requests from peers. */
  register(): void {
    this.#transport.handle(ClusterMessage.join, async (from, body) => {
      const request = parseJoinRequest(parseJson(body));
      // A joiner asks for itself. A member may pass on the request of a
      // joiner that asked it (having checked the same), since only the
      // leader adds nodes.
      if (request.id !== from && !this.#meta.state().nodes.has(from)) {
        throw new UkaiError(
          "PERMISSION_DENIED",
          `Node "${from}" cannot join on behalf of "${request.id}"`,
        );
      }
      return encoder.encode(JSON.stringify(await this.join(request)));
    });
    this.#transport.handle(ClusterMessage.membership, async (_from, body) => {
      const value = parseJson(body);
      const request: MembershipRequest = value.op === "remove"
        ? { op: "remove", id: checkNodeId(value.id), force: value.force === true }
        : { op: "add", ...parseJoinRequest(value), probe: false };
      await this.change(request);
      return encoder.encode("{}");
    });
  }

  #isLeader(): boolean {
    return this.#node.leader === this.#nodeId;
  }

  async #forward(type: number, body: unknown): Promise<Uint8Array> {
    const leader = this.#node.leader;
    if (leader === "") throw new UkaiError("NO_QUORUM", "No leader is known right now; retry");
    return await this.#transport.request(leader, type, encoder.encode(JSON.stringify(body)), {
      timeoutMs: MEMBERSHIP_TIMEOUT_MS,
    });
  }

  #members(): { id: string; address: string }[] {
    return [...this.#meta.state().nodes.values()].map((node) => ({
      id: node.id,
      address: node.address,
    }));
  }

  /** Adds `request.id` as a learner (idempotent); answers with the members. */
  async join(request: JoinRequest): Promise<JoinAnswer> {
    if (!this.#isLeader()) {
      return JSON.parse(
        decoder.decode(await this.#forward(ClusterMessage.join, request)),
      ) as JoinAnswer;
    }
    if (request.probe) return { leader: this.#nodeId, members: this.#members() };
    await this.#meta.propose({
      type: "node.add",
      id: request.id,
      address: request.address,
      zone: request.zone,
      role: request.learner ? "learner" : "voter",
    });
    const { voters, learners } = this.#node.confState;
    if (!voters.includes(request.id) && !learners.includes(request.id)) {
      await this.#confChange(
        () =>
          this.#node.proposeConfChange({
            type: "addLearner",
            nodeId: request.id,
            context: new Uint8Array(),
          }),
        () =>
          this.#node.confState.learners.includes(request.id) ||
          this.#node.confState.voters.includes(request.id),
      );
    }
    this.#logger.info("node joined", {
      node: request.id,
      address: request.address,
      zone: request.zone,
    });
    return { leader: this.#nodeId, members: this.#members() };
  }

  /** Adds or removes a member, on the leader. */
  async change(request: MembershipRequest): Promise<void> {
    if (!this.#isLeader()) {
      await this.#forward(ClusterMessage.membership, request);
      return;
    }
    if (request.op === "add") {
      await this.join(request);
      return;
    }
    await this.#remove(request.id, request.force);
  }

  async #remove(id: string, force: boolean): Promise<void> {
    const { voters, learners } = this.#node.confState;
    const member = voters.includes(id) || learners.includes(id);
    if (!member && !this.#meta.state().nodes.has(id)) {
      throw new UkaiError("NODE_NOT_FOUND", `Node "${id}" is not a member`);
    }
    if (voters.includes(id) && !force) await this.#checkQuorumWithout(id);
    if (id === this.#nodeId) {
      await this.#handOffLeadership();
      await this.#forward(ClusterMessage.membership, { op: "remove", id, force });
      return;
    }
    if (this.#meta.state().nodes.has(id)) {
      await this.#meta.propose({ type: "node.remove", id, force });
    }
    if (member) {
      await this.#confChange(
        () =>
          this.#node.proposeConfChange({
            type: "removeNode",
            nodeId: id,
            context: new Uint8Array(),
          }),
        () =>
          !this.#node.confState.voters.includes(id) && !this.#node.confState.learners.includes(id),
      );
    }
    this.#logger.info("node removed", { node: id, force });
  }

  /**
   * Refuses the removal of `id` unless the voters left that are alive form a
   * quorum. The leader forgets who it heard from at the start of each
   * activity round, so a voter not (yet) heard from in this one gets up to
   * `livenessGraceMs` to answer before it counts as dead.
   */
  async #checkQuorumWithout(id: string): Promise<void> {
    const remaining = this.#node.confState.voters.filter((voter) => voter !== id);
    const quorum = Math.floor(remaining.length / 2) + 1;
    const heardFrom = new Set([this.#nodeId]);
    const deadline = performance.now() + this.#livenessGraceMs;
    for (;;) {
      const progress = this.#node.status().progress;
      for (const voter of remaining) {
        if (progress?.get(voter)?.recentActive === true) heardFrom.add(voter);
      }
      const alive = remaining.filter((voter) => heardFrom.has(voter));
      if (remaining.length > 0 && alive.length >= quorum) return;
      if (remaining.length === 0 || performance.now() >= deadline) {
        throw new UkaiError(
          "NO_QUORUM",
          `Removing "${id}" would leave ${alive.length} live voters of ${remaining.length}, below a quorum of ${quorum}; use --force to remove it anyway`,
        );
      }
      await sleep(LIVENESS_POLL_MS);
    }
  }

  async #handOffLeadership(): Promise<void> {
    const status = this.#node.status();
    const candidates = this.#node.confState.voters.filter((voter) => voter !== this.#nodeId)
      .sort((a, b) =>
        (status.progress?.get(b)?.match ?? 0) - (status.progress?.get(a)?.match ?? 0)
      );
    const target = candidates[0];
    if (target === undefined) {
      throw new UkaiError("NO_QUORUM", "Cannot remove the only voter of the group");
    }
    this.#node.transferLeader(target);
    const deadline = performance.now() + MEMBERSHIP_TIMEOUT_MS;
    while (this.#node.leader === this.#nodeId || this.#node.leader === "") {
      if (performance.now() > deadline) {
        throw new UkaiError("TIMEOUT", `Leadership did not move to "${target}" in time`);
      }
      await sleep(50);
    }
  }

  async #confChange(propose: () => ProposeResult, done: () => boolean): Promise<void> {
    const deadline = performance.now() + MEMBERSHIP_TIMEOUT_MS;
    while (!done()) {
      if (performance.now() > deadline) {
        throw new UkaiError("TIMEOUT", "The membership change was not applied in time");
      }
      const result = propose();
      if (result.kind === "dropped" && result.reason === "notInConfig") {
        throw new UkaiError("NOT_LEADER", "This node is no longer a member");
      }
      const until = performance.now() + 1000;
      while (!done() && performance.now() < until) await sleep(20);
    }
  }

  /** Leader upkeep: promotes one caught-up learner that should vote. */
  async promoteCaughtUpLearners(): Promise<void> {
    if (!this.#isLeader() || this.#promoting) return;
    const status = this.#node.status();
    const ready = this.#node.confState.learners.find((id) => {
      const progress = status.progress?.get(id);
      return this.#meta.state().nodes.get(id)?.role === "voter" && progress !== undefined &&
        progress.state === "replicate" && progress.recentActive && progress.match > 0 &&
        progress.match + PROMOTION_LAG_MAX >= status.commit;
    });
    if (ready === undefined) return;
    this.#promoting = true;
    try {
      await this.#confChange(
        () =>
          this.#node.proposeConfChange({
            type: "addNode",
            nodeId: ready,
            context: new Uint8Array(),
          }),
        () => this.#node.confState.voters.includes(ready),
      );
      this.#logger.info("learner promoted to voter", { node: ready });
    } catch (error) {
      this.#logger.warn("promotion failed", { node: ready, error: describeError(error) });
    } finally {
      this.#promoting = false;
    }
  }
}
