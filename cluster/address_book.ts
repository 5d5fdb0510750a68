/**
 * Where peers are: the transport asks this book for a node's address at each
 * dial. Addresses come from the metadata's node registry once this node has
 * it, and before that (while joining) from what the members told it.
 *
 * @module
 */

import type { MetaState } from "../meta/mod.ts";

/** Node id → `host:port`, for the peer transport's resolver. */
export class AddressBook {
  readonly #seeds = new Map<string, string>();
  #state: (() => MetaState) | null = null;

  /** Uses the metadata's registry from now on (seeds stay as a fallback). */
  attach(state: () => MetaState): void {
    this.#state = state;
  }

  /** Remembers an address learnt outside the metadata (a join answer). */
  seed(nodeId: string, address: string): void {
    this.#seeds.set(nodeId, address);
  }

  /** The address of `nodeId`, or undefined when unknown. */
  lookup(nodeId: string): string | undefined {
    return this.#state?.().nodes.get(nodeId)?.address ?? this.#seeds.get(nodeId);
  }
}
