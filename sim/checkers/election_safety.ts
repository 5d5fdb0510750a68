/**
 * Election safety (Raft paper, Figure 3): at most one leader per term, ever.
 * Every time a node is seen leading, its term is recorded with its id; a
 * second id for the same term is a violation, even if the first leader has
 * since crashed or stepped down.
 *
 * @module
 */

import type { NodeId } from "../../raft/mod.ts";

/**
 * Remembers the leader of every term seen.
 *
 * @example
 * ```ts
 * import { ElectionSafetyChecker } from "./election_safety.ts";
 * const checker = new ElectionSafetyChecker();
 * checker.observe("a", "leader", 2);
 * if (checker.observe("b", "leader", 2) === null) throw new Error("two leaders not caught");
 * ```
 */
export class ElectionSafetyChecker {
  readonly #leaders = new Map<number, NodeId>();

  /** Records what `node` is in `term`; returns a description of a violation, or null. */
  observe(node: NodeId, state: string, term: number): string | null {
    if (state !== "leader") return null;
    const known = this.#leaders.get(term);
    if (known === undefined) {
      this.#leaders.set(term, node);
      return null;
    }
    if (known === node) return null;
    return `two leaders in term ${term}: ${known} and ${node}`;
  }

  /** The leader recorded for `term`, if any. */
  leaderOf(term: number): NodeId | undefined {
    return this.#leaders.get(term);
  }
}
