/**
 * The metadata state machine as the Raft node applies it: decodes each
 * committed command, applies it to `MetaState`, tells the watchers, and hands
 * the result to the local proposer waiting for that request id. Snapshots
 * are the metadata snapshot encoding.
 *
 * @module
 */

import { describeError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import {
  applyCommand,
  type ApplyResult,
  type Command,
  decodeCommand,
  decodeSnapshot,
  encodeSnapshot,
  type MetaEvent,
  MetaState,
} from "../meta/mod.ts";
import type { ConfChange, ConfState, Entry, Snapshot } from "../raft/mod.ts";
import type { RaftApplier } from "./raft_node.ts";

/** Applies committed commands to the metadata. */
export class MetaApplier implements RaftApplier {
  state = new MetaState();
  index = 0;
  readonly #listeners = new Set<(event: MetaEvent) => void>();
  readonly #waiters = new Map<string, (result: ApplyResult) => void>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Calls `listener` after each applied command and each restore. */
  watch(listener: (event: MetaEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves with the result of the command carrying `requestId` when it is applied here. */
  awaitResult(requestId: string): { result: Promise<ApplyResult>; cancel: () => void } {
    let cancel = () => {};
    const result = new Promise<ApplyResult>((resolve) => {
      this.#waiters.set(requestId, resolve);
      cancel = () => this.#waiters.delete(requestId);
    });
    return { result, cancel };
  }

  #emit(event: MetaEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#logger.error("metadata watcher failed", { error: describeError(error) });
      }
    }
  }

  applyEntry(entry: Entry): void {
    this.index = entry.index;
    let command: Command;
    try {
      command = decodeCommand(entry.data);
    } catch (error) {
      this.#logger.error("undecodable command skipped", {
        index: entry.index,
        error: describeError(error),
      });
      return;
    }
    const result = applyCommand(this.state, command);
    this.#emit({ kind: "applied", index: entry.index, command, result });
    if (command.requestId === undefined) return;
    const waiter = this.#waiters.get(command.requestId);
    this.#waiters.delete(command.requestId);
    waiter?.(result);
  }

  applyConfChange(entry: Entry, change: ConfChange, confState: ConfState): void {
    this.index = entry.index;
    this.#logger.info("membership changed", {
      change: change.type,
      node: change.nodeId,
      voters: confState.voters.join(","),
      learners: confState.learners.join(","),
    });
  }

  restore(snapshot: Snapshot): void {
    this.state = snapshot.data.length === 0 ? new MetaState() : decodeSnapshot(snapshot.data);
    this.index = snapshot.metadata.index;
    this.#emit({ kind: "restored", index: snapshot.metadata.index });
  }

  snapshotData(): Uint8Array {
    return encodeSnapshot(this.state);
  }
}
