/**
 * Helpers for the white-box tests of the Raft core: build a {@link Raft}
 * with a prepared log, read its outgoing messages, and persist/apply its
 * output the way `RawNode` + the application would. Test-only.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { Rng } from "../base/rng.ts";
import { type Config, resolveConfig, type TestingKnobs } from "./config.ts";
import { Raft } from "./raft.ts";
import { MemoryStorage } from "./storage.ts";
import {
  type Entry,
  type HardState,
  type Message,
  type MessageType,
  newMessage,
  NO_LIMIT,
  NO_NODE,
  type NodeId,
} from "./types.ts";

const encoder = new TextEncoder();

/** UTF-8 bytes of `text`. */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** A normal entry. */
export function entry(index: number, term: number, data = ""): Entry {
  return { index, term, type: "normal", data: bytes(data) };
}

/** Entries with indexes 1.. and the given terms. */
export function entriesWithTerms(terms: readonly number[]): Entry[] {
  return terms.map((term, i) => entry(i + 1, term));
}

/** A storage with the given membership, log terms (indexes 1..) and hard state. */
export function storageWith(
  options: { voters: NodeId[]; learners?: NodeId[]; terms?: number[]; hardState?: HardState },
): MemoryStorage {
  const storage = new MemoryStorage({
    confState: { voters: options.voters, learners: options.learners ?? [] },
  });
  storage.append(entriesWithTerms(options.terms ?? []));
  if (options.hardState !== undefined) storage.setHardState(options.hardState);
  else if (options.terms !== undefined && options.terms.length > 0) {
    storage.setHardState({ term: Math.max(...options.terms), vote: NO_NODE, commit: 0 });
  }
  return storage;
}

/** Options of {@link newTestRaft}. */
export interface TestRaftOptions {
  voters?: NodeId[];
  learners?: NodeId[];
  storage?: MemoryStorage;
  electionTicks?: number;
  heartbeatTicks?: number;
  checkQuorum?: boolean;
  preVote?: boolean;
  maxSizePerMsg?: number;
  maxInflightMsgs?: number;
  maxInflightBytes?: number;
  maxUncommittedEntriesSize?: number;
  applied?: number;
  seed?: number;
  stepDownOnRemoval?: boolean;
  testingKnobs?: TestingKnobs;
}

/** A Raft core with an in-memory storage (voters default to just `id`). */
export function newTestRaft(id: NodeId, options: TestRaftOptions = {}): Raft {
  const storage = options.storage ??
    storageWith({ voters: options.voters ?? [id], learners: options.learners ?? [] });
  const config: Config = {
    id,
    storage,
    applied: options.applied ?? 0,
    electionTicks: options.electionTicks ?? 10,
    heartbeatTicks: options.heartbeatTicks ?? 1,
    maxSizePerMsg: options.maxSizePerMsg ?? NO_LIMIT,
    maxInflightMsgs: options.maxInflightMsgs ?? 256,
    checkQuorum: options.checkQuorum ?? false,
    preVote: options.preVote ?? false,
    rng: new Rng(options.seed ?? 1),
  };
  if (options.maxInflightBytes !== undefined) config.maxInflightBytes = options.maxInflightBytes;
  if (options.maxUncommittedEntriesSize !== undefined) {
    config.maxUncommittedEntriesSize = options.maxUncommittedEntriesSize;
  }
  if (options.stepDownOnRemoval !== undefined) config.stepDownOnRemoval = options.stepDownOnRemoval;
  if (options.testingKnobs !== undefined) config.testingKnobs = options.testingKnobs;
  return new Raft(resolveConfig(config));
}

/** Takes the messages `r` wants sent. */
export function readMessages(r: Raft): Message[] {
  const messages = r.msgs;
  r.msgs = [];
  return messages;
}

/** Takes the messages of `r`, asserting there is exactly one, and returns it. */
export function readOneMessage(r: Raft): Message {
  const messages = readMessages(r);
  assert(messages.length === 1, `expected one message, got ${messages.length}`);
  return messages[0]!;
}

/** Shorthand for a message from `from` to `to`. */
export function msg(
  type: MessageType,
  from: NodeId,
  to: NodeId,
  fields: Partial<Message> = {},
): Message {
  return newMessage({ type, from, to, ...fields });
}

/**
 * Does what the application does with a Ready, without RawNode: persists the
 * unstable snapshot and entries into its MemoryStorage, marks them stable, and
 * returns the committed entries (marking them applied).
 */
export function persistAndApply(r: Raft): Entry[] {
  const storage = r.log.storage;
  assert(storage instanceof MemoryStorage, "persistAndApply needs a MemoryStorage");
  const snapshot = r.log.unstable.snapshot;
  if (snapshot !== undefined) {
    storage.applySnapshot(snapshot);
    r.log.stableSnapTo(snapshot.metadata.index);
    r.log.appliedTo(snapshot.metadata.index);
  }
  const unstable = r.log.unstable.entries;
  storage.append(unstable);
  const last = unstable[unstable.length - 1];
  if (last !== undefined) r.log.stableTo(last);
  storage.setHardState(r.hardState());
  const committed = r.log.nextCommittedEntries();
  const lastCommitted = committed[committed.length - 1];
  if (lastCommitted !== undefined) r.log.appliedTo(lastCommitted.index);
  return committed;
}

/** The terms of every entry in `r`'s log, from the first index. */
export function logTerms(r: Raft): number[] {
  return r.log.allEntries().map((e) => e.term);
}

/** Makes `r` a leader at `term` directly (white-box shortcut; no election). */
export function makeLeader(r: Raft, term?: number): void {
  if (term !== undefined) r.term = term - 1;
  r.becomeCandidate();
  r.becomeLeader();
}
