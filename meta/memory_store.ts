/**
 * A `MetaStore` in one process: commands are applied at once, in call order.
 * For unit tests of the layers above meta/ and for the simulator; a cluster
 * uses the Raft-backed store in `cluster/`.
 *
 * @module
 */

import { type Command, decodeCommand, encodeCommand } from "./commands.ts";
import type { MetaEvent, MetaStore } from "./meta_store.ts";
import { applyCommand, MetaState, resultValue } from "./state_machine.ts";

/** A MetaStore that applies commands synchronously in memory. */
export class MemoryMetaStore implements MetaStore {
  #state: MetaState;
  #index = 0;
  readonly #listeners = new Set<(event: MetaEvent) => void>();

  constructor(state = new MetaState()) {
    this.#state = state;
  }

  propose(command: Command): Promise<Readonly<Record<string, unknown>>> {
    let parsed: Command;
    try {
      parsed = decodeCommand(encodeCommand(command));
    } catch (error) {
      return Promise.reject(error);
    }
    const result = applyCommand(this.#state, parsed);
    this.#index++;
    for (const listener of this.#listeners) {
      listener({ kind: "applied", index: this.#index, command: parsed, result });
    }
    try {
      return Promise.resolve(resultValue(result));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  state(): MetaState {
    return this.#state;
  }

  appliedIndex(): number {
    return this.#index;
  }

  sync(): Promise<void> {
    return Promise.resolve();
  }

  watch(listener: (event: MetaEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
