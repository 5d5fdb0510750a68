/**
 * This node's membership in the metadata group: opens the durable Raft state
 * under `DATA/raft`, bootstraps a new group (first start of an empty data
 * folder, or `--bootstrap`), joins an existing one (`--join HOST:PORT`), or
 * simply restarts; then runs the Raft node, the metadata store on it, and the
 * membership upkeep. Also answers peers' status questions for `ukai node list`.
 *
 * @module
 */

import { describeError, UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import type { Rng } from "../base/rng.ts";
import { applyCommand, encodeSnapshot, MetaState, type MetaStore } from "../meta/mod.ts";
import type { Transport } from "../net/mod.ts";
import type { Status } from "../raft/mod.ts";
import type { AddressBook } from "./address_book.ts";
import { MetaApplier } from "./meta_applier.ts";
import { type JoinAnswer, Membership, type MembershipRequest } from "./membership.ts";
import { RaftLog } from "./raft_log.ts";
import { RaftMetaStore } from "./raft_meta_store.ts";
import { ClusterMessage, RaftNode, type RaftTimings } from "./raft_node.ts";

/** How this node enters the group. */
export interface ClusterOptions {
  readonly nodeId: string;
  /** The address peers reach this node at (`host:port`). */
  readonly address: string;
  readonly zone: string;
  /** The data folder; Raft state lives in `DATA/raft`. */
  readonly dataFolder: string;
  readonly transport: Transport;
  readonly logger: Logger;
  readonly rng: Rng;
  readonly timings: RaftTimings;
  /** A member to join through, for a node with no Raft state yet. */
  readonly join?: string;
  /** Stay a learner after joining. */
  readonly learner: boolean;
  /** Start a new group; refused when the data folder already holds one. */
  readonly bootstrap: boolean;
  /** Unique per process run (request ids). */
  readonly runId: string;
  /** The book the transport resolves node ids with; the cluster fills it. */
  readonly addresses: AddressBook;
}

/** A node's view of itself, as peers ask for it. */
export interface NodeRaftStatus {
  readonly id: string;
  readonly state: string;
  readonly term: number;
  readonly leader: string;
  readonly applied: number;
  readonly commit: number;
}

/** How long a joining node waits to be admitted and caught up. */
export const JOIN_TIMEOUT_MS = 60_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** This node's part of the metadata group. */
export class Cluster {
  readonly meta: MetaStore;
  readonly node: RaftNode;
  readonly membership: Membership;
  readonly #options: ClusterOptions;
  readonly #log: RaftLog;
  readonly #applier: MetaApplier;
  #upkeep: ReturnType<typeof setInterval> | undefined;

  private constructor(options: ClusterOptions, log: RaftLog, applier: MetaApplier) {
    this.#options = options;
    this.#log = log;
    this.#applier = applier;
    options.addresses.attach(() => applier.state);
    this.node = new RaftNode({
      id: options.nodeId,
      persistence: log,
      transport: options.transport,
      applier,
      logger: options.logger.child("raft"),
      rng: options.rng,
      timings: options.timings,
    });
    this.meta = new RaftMetaStore({
      nodeId: options.nodeId,
      node: this.node,
      applier,
      logger: options.logger,
      retryMs: options.timings.tickMs * options.timings.electionTicks * 2,
      runId: options.runId,
    });
    this.membership = new Membership({
      nodeId: options.nodeId,
      node: this.node,
      meta: this.meta,
      livenessGraceMs: options.timings.tickMs * options.timings.electionTicks,
      transport: options.transport,
      logger: options.logger.child("membership"),
    });
  }

  /**
   * Opens the Raft state and enters the group.
   *
   * @throws {UkaiError} CONFIG for contradictory flags; TIMEOUT / AUTH_FAILED / UNREACHABLE
   *   when a join cannot complete
   */
  static async open(options: ClusterOptions): Promise<Cluster> {
    const { log, empty } = await RaftLog.open(`${options.dataFolder}/raft`, options.logger);
    if (!empty && options.bootstrap) {
      await log.close();
      throw new UkaiError(
        "CONFIG",
        `--bootstrap refused: ${options.dataFolder}/raft already holds a cluster's state`,
      );
    }
    const joining = empty && options.join !== undefined;
    if (empty && !joining) await Cluster.#bootstrap(log, options);
    const cluster = new Cluster(options, log, new MetaApplier(options.logger.child("meta")));
    cluster.#start();
    if (joining) await cluster.#join(options.join as string);
    return cluster;
  }

  static async #bootstrap(log: RaftLog, options: ClusterOptions): Promise<void> {
    const state = new MetaState();
    const added = applyCommand(state, {
      type: "node.add",
      id: options.nodeId,
      address: options.address,
      zone: options.zone,
      role: "voter",
    });
    if (!added.ok) throw new UkaiError(added.code, added.message);
    await log.save({
      snapshot: {
        metadata: { index: 1, term: 1, confState: { voters: [options.nodeId], learners: [] } },
        data: encodeSnapshot(state),
      },
      hardState: { term: 1, vote: "", commit: 1 },
      entries: [],
      committedEntries: [],
      messages: [],
      readStates: [],
      mustSync: true,
    });
    options.logger.info("new cluster bootstrapped", { node: options.nodeId });
  }

  #start(): void {
    this.node.start({ timer: true });
    this.membership.register();
    this.#options.transport.handle(
      ClusterMessage.status,
      () => new TextEncoder().encode(JSON.stringify(this.ownStatus())),
    );
    const { voters } = this.node.confState;
    if (voters.length === 1 && voters[0] === this.#options.nodeId) this.node.raw.campaign();
    this.#upkeep = setInterval(() => {
      void this.membership.promoteCaughtUpLearners();
    }, 1000);
  }

  async #join(through: string): Promise<void> {
    const { nodeId, logger } = this.#options;
    const request = {
      id: nodeId,
      address: this.#options.address,
      zone: this.#options.zone,
      learner: this.#options.learner,
    };
    const deadline = performance.now() + JOIN_TIMEOUT_MS;
    // First learn where the members are, so the replies to the leader's first
    // messages can reach it; then ask to be added.
    for (const probe of [true, false]) {
      const answer = await this.#askToJoin(through, { ...request, probe }, deadline);
      for (const member of answer.members) this.#options.addresses.seed(member.id, member.address);
    }
    while (!this.meta.state().nodes.has(nodeId)) {
      if (performance.now() > deadline) {
        throw new UkaiError("TIMEOUT", "Joined, but the metadata did not arrive in time");
      }
      await sleep(50);
    }
    // Members are reached by node id from now on; the bootstrap address is not redialed.
    this.#options.transport.disconnect({ address: through });
    logger.info("joined the cluster", { through });
  }

  async #askToJoin(through: string, request: object, deadline: number): Promise<JoinAnswer> {
    for (let attempt = 1;; attempt++) {
      try {
        const body = await this.#options.transport.request(
          { address: through },
          ClusterMessage.join,
          new TextEncoder().encode(JSON.stringify(request)),
          { timeoutMs: 35_000 },
        );
        return JSON.parse(new TextDecoder().decode(body)) as JoinAnswer;
      } catch (error) {
        const final = error instanceof UkaiError &&
          ["AUTH_FAILED", "PERMISSION_DENIED", "INVALID_ARGUMENT", "NODE_EXISTS"].includes(
            error.code,
          );
        if (performance.now() > deadline || final) throw error;
        this.#options.logger.warn("join attempt failed; retrying", {
          through,
          attempt,
          error: describeError(error),
        });
        await sleep(Math.min(2000, 200 * attempt));
      }
    }
  }

  /** This node's Raft status. */
  ownStatus(): NodeRaftStatus {
    const status: Status = this.node.status();
    return {
      id: this.#options.nodeId,
      state: status.state,
      term: status.term,
      leader: status.lead,
      applied: this.node.applied,
      commit: status.commit,
    };
  }

  /** Asks `node` for its Raft status. */
  async statusOf(node: string, timeoutMs: number): Promise<NodeRaftStatus> {
    if (node === this.#options.nodeId) return this.ownStatus();
    const body = await this.#options.transport.request(
      node,
      ClusterMessage.status,
      new Uint8Array(0),
      {
        timeoutMs,
      },
    );
    return JSON.parse(new TextDecoder().decode(body)) as NodeRaftStatus;
  }

  /** Adds or removes a member (forwarded to the leader when needed). */
  changeMembership(request: MembershipRequest): Promise<void> {
    return this.membership.change(request);
  }

  /** Stops the Raft node and closes the log. */
  async close(): Promise<void> {
    if (this.#upkeep !== undefined) clearInterval(this.#upkeep);
    await this.node.stop();
    await this.#log.close();
  }
}
