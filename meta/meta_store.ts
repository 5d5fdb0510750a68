/**
 * The port through which everything else reaches the metadata: propose a
 * command and get its applied result, read the local state (or wait until it
 * is linearizable), and watch applied changes. `cluster/` implements it on
 * Raft; `MemoryMetaStore` implements it in one process for tests.
 *
 * @module
 */

import type { Command } from "./commands.ts";
import type { ApplyResult, MetaState } from "./state.ts";

/** Something the local state machine did. */
export type MetaEvent =
  | {
    readonly kind: "applied";
    readonly index: number;
    readonly command: Command;
    readonly result: ApplyResult;
  }
  | { readonly kind: "restored"; readonly index: number };

/** Options of a proposal. */
export interface ProposeOptions {
  /** Give up (TIMEOUT) after this long; the command may still be applied later. */
  readonly timeoutMs?: number;
}

/** Access to the replicated metadata. */
export interface MetaStore {
  /**
   * Proposes `command`, waits until it is applied on this node, and returns
   * its value.
   *
   * @throws {UkaiError} the refusal's code, or NOT_LEADER / NO_QUORUM / TIMEOUT / SHUTTING_DOWN
   */
  propose(command: Command, options?: ProposeOptions): Promise<Readonly<Record<string, unknown>>>;
  /** The state as applied on this node (may trail the leader). Never mutate it. */
  state(): MetaState;
  /** Index of the last command applied on this node. */
  appliedIndex(): number;
  /**
   * Resolves once this node has applied every command committed before the
   * call (a linearizable read point).
   *
   * @throws {UkaiError} NO_QUORUM / TIMEOUT when the group cannot confirm it
   */
  sync(options?: ProposeOptions): Promise<void>;
  /** Calls `listener` after each applied command and after a snapshot restore. */
  watch(listener: (event: MetaEvent) => void): () => void;
}
