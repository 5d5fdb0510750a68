/**
 * Log matching (Raft paper, Figure 3): if two logs hold an entry with the
 * same index and term, the logs are identical up to that index.
 *
 * Checked incrementally on every write, across all nodes and all time, by
 * induction: the first time any node writes entry (index, term) the checker
 * records a fingerprint of its content and the term of the entry before it;
 * every later write of (index, term), anywhere, must match both. Same
 * content at every (index, term) plus the same predecessor term at every
 * (index, term) implies identical prefixes.
 *
 * @module
 */

import type { Entry, NodeId } from "../../raft/mod.ts";
import { Hasher } from "../hash.ts";

interface Registered {
  contentHash: number;
  previousTerm: number;
  node: NodeId;
}

/** The fingerprint of an entry's position and content. */
export function entryHash(entry: Entry): number {
  return new Hasher().number(entry.index).number(entry.term).string(entry.type)
    .bytes(entry.data).value();
}

/**
 * The registry of every (index, term) ever written.
 *
 * @example
 * ```ts
 * import { LogMatchingChecker } from "./log_matching.ts";
 * const checker = new LogMatchingChecker();
 * const entry = (data: number) =>
 *   ({ index: 3, term: 2, type: "normal" as const, data: Uint8Array.of(data) });
 * checker.onWrite("a", [entry(1)], 1);
 * if (checker.onWrite("b", [entry(2)], 1) === null) throw new Error("mismatch not caught");
 * ```
 */
export class LogMatchingChecker {
  readonly #registry = new Map<string, Registered>();

  /**
   * Checks entries `node` writes (consecutive), where `previousTerm` is the
   * term of the entry just before the first one in its log. Returns a
   * description of a violation, or null.
   */
  onWrite(node: NodeId, entries: readonly Entry[], previousTerm: number): string | null {
    let before = previousTerm;
    for (const entry of entries) {
      const key = `${entry.index}/${entry.term}`;
      const contentHash = entryHash(entry);
      const known = this.#registry.get(key);
      if (known === undefined) {
        this.#registry.set(key, { contentHash, previousTerm: before, node });
      } else if (known.contentHash !== contentHash) {
        return `entry ${key} on ${node} differs from the one ${known.node} has`;
      } else if (known.previousTerm !== before) {
        return `entry ${key} follows term ${before} on ${node} ` +
          `but term ${known.previousTerm} on ${known.node}`;
      }
      before = entry.term;
    }
    return null;
  }
}
