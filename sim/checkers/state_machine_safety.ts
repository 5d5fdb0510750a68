/**
 * State machine safety (Raft paper, Figure 3): no two nodes apply different
 * commands at the same index. Three fingerprints are compared across all
 * nodes and all time: the entry applied at each index, the whole key-value
 * state after applying each index (this also covers snapshots, which restore
 * a state at an index without applying entries), and the entry each node
 * calls committed at each index.
 *
 * @module
 */

import type { NodeId } from "../../raft/mod.ts";

interface Seen {
  hash: number;
  node: NodeId;
}

/**
 * Registries of applied entries and states by index.
 *
 * @example
 * ```ts
 * import { StateMachineSafetyChecker } from "./state_machine_safety.ts";
 * const checker = new StateMachineSafetyChecker();
 * checker.onApply("a", 5, 111, 222);
 * if (checker.onApply("b", 5, 333, 222) === null) throw new Error("divergence not caught");
 * ```
 */
export class StateMachineSafetyChecker {
  readonly #entries = new Map<number, Seen>();
  readonly #states = new Map<number, Seen>();

  /** `node` applied the entry with `entryHash` at `index`, reaching `stateHash`. */
  onApply(node: NodeId, index: number, entryHash: number, stateHash: number): string | null {
    const entryProblem = compare(this.#entries, node, index, entryHash, "applied entry");
    return entryProblem ?? compare(this.#states, node, index, stateHash, "state after");
  }

  /** `node` restored a snapshot at `index` whose state has `stateHash`. */
  onSnapshotRestore(node: NodeId, index: number, stateHash: number): string | null {
    return compare(this.#states, node, index, stateHash, "snapshot state at");
  }
}

function compare(
  registry: Map<number, Seen>,
  node: NodeId,
  index: number,
  hash: number,
  what: string,
): string | null {
  const seen = registry.get(index);
  if (seen === undefined) {
    registry.set(index, { hash, node });
    return null;
  }
  if (seen.hash === hash) return null;
  return `${what} index ${index} differs: ${seen.node} has #${seen.hash}, ${node} has #${hash}`;
}
