/**
 * Nothing is sent ahead of the durable state: a message may only promise what
 * its sender would still know after a crash. Checked at the moment a message
 * leaves a node, against the replay of that node's fsynced WAL prefix:
 *
 * - every message with a term: the durable term is at least that term
 *   (pre-votes excepted: they change nothing and promise nothing);
 * - `Vote`: in that term, the durable vote is the candidate itself;
 * - `VoteResp` granting: in that term, the durable vote is the candidate;
 * - `App`: in that term, every entry sent, and the entry it follows, is in
 *   the durable log (or covered by the durable snapshot) — or lies past the
 *   durable log and is of the message's term: the leader's own new entries,
 *   which it may send while it writes them (raft's `sendableBeforePersist`);
 *   and the commit index it carries is within the durable log, so that the
 *   leader counted itself only for entries it has on disk;
 * - `Heartbeat`: the commit index it carries is within the durable log;
 * - `AppResp` accepting index i: in that term, the durable log reaches i;
 * - `Snap`: the snapshot is durable.
 *
 * A message of a term the sender has durably left promises nothing the
 * sender can still break (it can never act in that term again), so only the
 * term check applies to it.
 *
 * @module
 */

import { type Message, MessageType } from "../../raft/mod.ts";
import type { LogState } from "../wal.ts";

/**
 * Why `message` runs ahead of `durable`, or null when it does not.
 *
 * @example
 * ```ts
 * import { newMessage } from "../../raft/mod.ts";
 * import { LogState } from "../wal.ts";
 * import { messageAheadOfDurable } from "./durability.ts";
 * const vote = newMessage({ type: "Vote", from: "a", to: "b", term: 2 });
 * if (messageAheadOfDurable(vote, new LogState()) === null) throw new Error("not caught");
 * ```
 */
export function messageAheadOfDurable(message: Message, durable: LogState): string | null {
  if (message.type === MessageType.PreVote || message.type === MessageType.PreVoteResp) {
    return null;
  }
  const { term, vote } = durable.hardState;
  if (message.term > term) return `${message.type} of term ${message.term}, durable term ${term}`;
  if (message.term < term) return null;
  switch (message.type) {
    case MessageType.Vote:
      return vote === message.from ? null : `Vote while the durable vote is "${vote}"`;
    case MessageType.VoteResp:
      if (message.reject || vote === message.to) return null;
      return `vote for ${message.to} while the durable vote is "${vote}"`;
    case MessageType.App:
      return commitAhead(message, durable) ?? appendAhead(message, durable);
    case MessageType.Heartbeat:
      return commitAhead(message, durable);
    case MessageType.AppResp:
      if (message.reject || message.index <= durable.lastIndex()) return null;
      return `AppResp acknowledges ${message.index}, durable log ends at ${durable.lastIndex()}`;
    case MessageType.Snap: {
      const index = message.snapshot?.metadata.index ?? 0;
      if (index <= durable.snapshotIndex()) return null;
      return `Snap at ${index}, durable snapshot at ${durable.snapshotIndex()}`;
    }
  }
  return null;
}

function commitAhead(message: Message, durable: LogState): string | null {
  if (message.commit <= durable.lastIndex()) return null;
  return `${message.type} carries commit ${message.commit}, durable log ends at ${durable.lastIndex()}`;
}

function appendAhead(message: Message, durable: LogState): string | null {
  const snapshotIndex = durable.snapshotIndex();
  const durableEnd = durable.lastIndex();
  const promised = (index: number, term: number) =>
    index <= snapshotIndex ||
    (index <= durableEnd ? durable.term(index) === term : term === message.term);
  if (!promised(message.index, message.logTerm)) {
    return `App after ${message.index}/${message.logTerm}, which is not durable`;
  }
  for (const entry of message.entries) {
    if (!promised(entry.index, entry.term)) {
      return `App carries ${entry.index}/${entry.term}, which is not durable`;
    }
  }
  return null;
}
