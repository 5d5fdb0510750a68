/**
 * What followers and (pre-)candidates do: accept the leader's entries,
 * heartbeats and snapshots (answering with a fast-backtracking hint on a
 * mismatch), forward proposals and reads to the leader, and count votes.
 *
 * @module
 */

import { type Raft } from "./raft.ts";
import { bcastAppend } from "./raft_leader.ts";
import { type Message, MessageType, newMessage, NO_NODE } from "./types.ts";

/** The follower's message handler (after the common term checks). */
export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.Prop:
    case MessageType.ReadIndex:
    case MessageType.TransferLeader:
      // Forward to the leader, keeping the original sender (it gets the answer).
      if (r.lead !== NO_NODE) r.send({ ...m, to: r.lead, term: 0 });
      return;
    case MessageType.App:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleAppendEntries(r, m);
      return;
    case MessageType.Heartbeat:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleHeartbeat(r, m);
      return;
    case MessageType.Snap:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleSnapshot(r, m);
      return;
    case MessageType.TimeoutNow:
      r.hup("transfer");
      return;
    case MessageType.ReadIndexResp:
      r.readStates.push({ index: m.index, context: m.context ?? new Uint8Array() });
      return;
  }
}

/** The handler of pre-candidates and candidates (after the common term checks). */
export function stepCandidate(r: Raft, m: Message): void {
  const ownResponseType = r.state === "preCandidate"
    ? MessageType.PreVoteResp
    : MessageType.VoteResp;
  switch (m.type) {
    case MessageType.App:
      r.becomeFollower(m.term, m.from); // a leader of our term exists
      handleAppendEntries(r, m);
      return;
    case MessageType.Heartbeat:
      r.becomeFollower(m.term, m.from);
      handleHeartbeat(r, m);
      return;
    case MessageType.Snap:
      r.becomeFollower(m.term, m.from);
      handleSnapshot(r, m);
      return;
    case ownResponseType:
      countVote(r, m);
      return;
  }
  // Proposals, reads and transfers are dropped: there is no leader to forward to.
}

function countVote(r: Raft, m: Message): void {
  const result = r.poll(m.from, !m.reject);
  if (result === "won") {
    if (r.state === "preCandidate") {
      r.campaign("election");
    } else {
      r.becomeLeader();
      bcastAppend(r);
    }
  } else if (result === "lost") {
    // A rejection carrying a newer term already made us a follower in step().
    r.becomeFollower(r.term, NO_NODE);
  }
}

/** section 5.3: append after a matching (index, logTerm), or reject with a backtracking hint. */
export function handleAppendEntries(r: Raft, m: Message): void {
  if (m.index < r.log.committed) {
    // Everything up to our commit index matches the leader's log already.
    r.send(newMessage({ type: MessageType.AppResp, to: m.from, index: r.log.committed }));
    return;
  }
  const lastNewIndex = r.log.maybeAppend({ index: m.index, term: m.logTerm }, m.commit, m.entries);
  if (lastNewIndex !== undefined) {
    r.send(newMessage({ type: MessageType.AppResp, to: m.from, index: lastNewIndex }));
    return;
  }
  // Hint: our last index at or before m.index whose term is <= m.logTerm. The
  // leader then skips every index where our logs cannot possibly agree.
  const hint = r.log.findConflictByTerm(Math.min(m.index, r.log.lastIndex()), m.logTerm);
  r.send(newMessage({
    type: MessageType.AppResp,
    to: m.from,
    index: m.index,
    reject: true,
    rejectHint: hint.index,
    logTerm: hint.term,
  }));
}

function handleHeartbeat(r: Raft, m: Message): void {
  r.log.commitTo(m.commit);
  const response = newMessage({ type: MessageType.HeartbeatResp, to: m.from });
  if (m.context !== undefined) response.context = m.context;
  r.send(response);
}

function handleSnapshot(r: Raft, m: Message): void {
  const snapshot = m.snapshot;
  if (snapshot === undefined) return;
  const index = r.restore(snapshot) ? r.log.lastIndex() : r.log.committed;
  r.send(newMessage({ type: MessageType.AppResp, to: m.from, index }));
}
