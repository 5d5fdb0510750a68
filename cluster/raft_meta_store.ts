/**
 * The `MetaStore` of a cluster: proposals go through Raft (a follower's are
 * forwarded to the leader by the core) and resolve when the command is
 * applied on this node; a proposal that vanished in a leader change is
 * proposed again with the same request id, which the state machine
 * de-duplicates, so retries never apply a command twice. `sync()` is a
 * ReadIndex round: afterwards the local state is linearizable. A node that
 * was removed from the cluster refuses proposals at once (NODE_NOT_FOUND).
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import {
  type Command,
  decodeCommand,
  encodeCommand,
  type MetaEvent,
  type MetaState,
  type MetaStore,
  type ProposeOptions,
  resultValue,
} from "../meta/mod.ts";
import type { MetaApplier } from "./meta_applier.ts";
import type { RaftNode } from "./raft_node.ts";

/** Default deadline of a proposal or a sync. */
export const PROPOSE_TIMEOUT_MS_DEFAULT = 10_000;

/** Options of a {@link RaftMetaStore}. */
export interface RaftMetaStoreOptions {
  readonly nodeId: string;
  readonly node: RaftNode;
  readonly applier: MetaApplier;
  readonly logger: Logger;
  /** How long to wait for a proposal before proposing it again (about two election timeouts). */
  readonly retryMs: number;
  /** Unique per process run, so request ids never collide across restarts. */
  readonly runId: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** MetaStore on the embedded Raft group. */
export class RaftMetaStore implements MetaStore {
  readonly #options: RaftMetaStoreOptions;
  #nextRequest = 1;
  /** A ReadIndex round not yet started, which callers arriving now join. */
  #gathering: Promise<void> | null = null;

  constructor(options: RaftMetaStoreOptions) {
    this.#options = options;
  }

  state(): MetaState {
    return this.#options.applier.state;
  }

  appliedIndex(): number {
    return this.#options.node.applied;
  }

  watch(listener: (event: MetaEvent) => void): () => void {
    return this.#options.applier.watch(listener);
  }

  async propose(
    command: Command,
    options: ProposeOptions = {},
  ): Promise<Readonly<Record<string, unknown>>> {
    const { node, applier } = this.#options;
    const requestId = command.requestId ??
      `${this.#options.nodeId}.${this.#options.runId}.${this.#nextRequest++}`;
    // Validate here, as every node will when applying: a command they would
    // skip must be refused to its proposer, not committed.
    const data = encodeCommand({ ...command, requestId });
    decodeCommand(data);
    this.#checkMember(command.type, false);
    const deadline = performance.now() + (options.timeoutMs ?? PROPOSE_TIMEOUT_MS_DEFAULT);
    const waiting = applier.awaitResult(requestId);
    try {
      for (let attempt = 1;; attempt++) {
        if (attempt > 1) this.#checkMember(command.type, true);
        const proposed = node.propose(data);
        const wait = proposed.kind === "dropped" ? 50 : this.#options.retryMs;
        // The timer goes as soon as the result comes: thousands of proposals a
        // second must not leave thousands of idle timers behind.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timedOut = new Promise<null>((resolve) => {
          timer = setTimeout(
            () => resolve(null),
            Math.max(0, Math.min(wait, deadline - performance.now())),
          );
        });
        const applied = await Promise.race([waiting.result, timedOut]).finally(() =>
          clearTimeout(timer)
        );
        if (applied !== null) return resultValue(applied);
        if (performance.now() >= deadline) {
          throw new UkaiError(
            proposed.kind === "dropped" && proposed.reason === "noLeader" ? "NO_QUORUM" : "TIMEOUT",
            `Metadata change "${command.type}" was not committed in time (${
              proposed.kind === "dropped" ? proposed.reason : "no answer"
            }); it may still be applied`,
          );
        }
      }
    } finally {
      waiting.cancel();
    }
  }

  /**
   * Resolves once a ReadIndex round started after this call has been applied
   * locally. Callers arriving in the same instant share one round (it starts
   * after all of them, so it is valid for each).
   */
  sync(options: ProposeOptions = {}): Promise<void> {
    if (this.#gathering === null) {
      this.#gathering = (async () => {
        await Promise.resolve();
        this.#gathering = null;
        await this.#syncRound(options);
      })();
    }
    return this.#gathering;
  }

  async #syncRound(options: ProposeOptions): Promise<void> {
    const { node } = this.#options;
    const deadline = performance.now() + (options.timeoutMs ?? PROPOSE_TIMEOUT_MS_DEFAULT);
    for (;;) {
      const left = deadline - performance.now();
      try {
        const index = await node.readIndex(Math.max(1, Math.min(left, this.#options.retryMs)));
        await node.waitApplied(index);
        return;
      } catch (error) {
        if (!(error instanceof UkaiError) || performance.now() >= deadline) throw error;
        if (error.code !== "TIMEOUT") await sleep(Math.min(50, Math.max(0, left)));
      }
    }
  }

  /**
   * Refuses once the applied metadata no longer lists this node: the members
   * ignore a removed node's proposals, so waiting for the deadline would only
   * delay the answer.
   *
   * @throws {UkaiError} NODE_NOT_FOUND
   */
  #checkMember(what: string, proposed: boolean): void {
    const { nodeId } = this.#options;
    if (this.state().nodes.has(nodeId)) return;
    throw new UkaiError(
      "NODE_NOT_FOUND",
      `Node "${nodeId}" was removed from the cluster: it cannot propose "${what}"${
        proposed ? " (proposed before the removal, it may still be applied)" : ""
      }`,
    );
  }
}
