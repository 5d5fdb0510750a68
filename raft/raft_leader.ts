/**
 * What a leader does: accept proposals, replicate with per-follower flow
 * control (probe / replicate / snapshot), advance the commit index, confirm
 * ReadIndex requests with a heartbeat round, check its quorum, and hand over
 * leadership on request.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { decodeConfChange, RaftCodecError } from "./codec.ts";
import { confChangeInvalid } from "./confchange.ts";
import type { Progress } from "./progress.ts";
import {
  dropped,
  PENDING_READS_BEFORE_COMMIT_MAX,
  type ProposeResult,
  type Raft,
  type ReadIndexResult,
} from "./raft.ts";
import type { ReadRequest } from "./read_only.ts";
import { isStorageError } from "./storage.ts";
import {
  type Entry,
  type Message,
  MessageType,
  newMessage,
  NO_NODE,
  type NodeId,
  payloadSizeBytes,
  type Snapshot,
} from "./types.ts";

/** The leader's message handler (after the common term checks). */
export function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.Beat:
      bcastHeartbeat(r, r.readOnly.heartbeatContext());
      return;
    case MessageType.CheckQuorum:
      checkQuorum(r);
      return;
    case MessageType.Prop:
      proposeAsLeader(r, m.entries); // forwarded: the proposer learns the outcome by other means
      return;
    case MessageType.ReadIndex:
      readIndexAsLeader(r, { from: m.from, context: m.context ?? new Uint8Array(), index: 0 });
      return;
  }
  const progress = r.tracker.progress.get(m.from);
  if (progress === undefined) return;
  switch (m.type) {
    case MessageType.AppResp:
      handleAppendResponse(r, m, progress);
      return;
    case MessageType.HeartbeatResp:
      handleHeartbeatResponse(r, m, progress);
      return;
    case MessageType.SnapStatus:
      handleSnapshotStatus(progress, m.reject);
      return;
    case MessageType.Unreachable:
      // Optimistic streaming to an unreachable peer is wasted: go back to probing.
      if (progress.state === "replicate") progress.becomeProbe();
      return;
    case MessageType.TransferLeader:
      handleTransferLeader(r, m.from, progress);
      return;
  }
}

/** Appends a proposal to the leader's log and replicates it, or says why not. */
export function proposeAsLeader(r: Raft, entries: Entry[]): ProposeResult {
  assert(entries.length > 0, "empty proposal");
  if (!r.tracker.progress.has(r.id)) {
    return dropped("notInConfig", `leader ${r.id} is no longer a member`);
  }
  if (r.leadTransferee !== NO_NODE) {
    return dropped("transferInProgress", `leadership is moving to ${r.leadTransferee}`);
  }
  const confChangeAt = entries.findIndex((entry) => entry.type === "confChange");
  if (confChangeAt !== -1) {
    const refusal = confChangeRefusal(r, entries);
    if (refusal !== undefined) return refusal;
  }
  const firstIndex = r.log.lastIndex() + 1;
  if (!r.appendEntries(entries)) {
    return dropped("uncommittedSizeExceeded", "too many uncommitted bytes; retry later");
  }
  if (confChangeAt !== -1) r.pendingConfIndex = firstIndex + confChangeAt;
  bcastAppend(r);
  return { kind: "appended", index: r.log.lastIndex(), term: r.term };
}

/** Why a proposal holding a conf change must wait or is wrong; undefined when it may go. */
function confChangeRefusal(r: Raft, entries: Entry[]): ProposeResult | undefined {
  const changes = entries.filter((entry) => entry.type === "confChange");
  if (changes.length > 1) return dropped("confChangePending", "one membership change at a time");
  if (!r.committedEntryInCurrentTerm()) {
    return dropped("leaderNotCommittedInTerm", "the new leader has not committed in its term yet");
  }
  if (r.pendingConfIndex > r.log.applied) {
    return dropped(
      "confChangePending",
      `membership change at index ${r.pendingConfIndex} not applied yet (applied ${r.log.applied})`,
    );
  }
  try {
    const problem = confChangeInvalid(r.tracker, decodeConfChange(changes[0]!.data));
    return problem === null ? undefined : dropped("invalidConfChange", problem);
  } catch (error) {
    if (error instanceof RaftCodecError) return dropped("invalidConfChange", error.message);
    throw error;
  }
}

/** Sends `to` the next entries (or an empty probe), or a snapshot when they are compacted. */
export function sendAppend(r: Raft, to: NodeId): void {
  maybeSendAppend(r, to, true);
}

/**
 * Sends `to` an append if its progress allows; with `sendIfEmpty` false only
 * when there are entries to send. Returns true when something was sent.
 */
export function maybeSendAppend(r: Raft, to: NodeId, sendIfEmpty: boolean): boolean {
  const progress = r.tracker.progress.get(to);
  assert(progress !== undefined, `no progress for ${to}`);
  if (progress.isPaused()) return false;
  const prevIndex = progress.next - 1;
  assert(prevIndex <= r.log.lastIndex(), `progress of ${to} is beyond the leader's log`);
  const prevTerm = r.log.term(prevIndex);
  if (prevTerm === undefined) return maybeSendSnapshot(r, to, progress);
  let entries: Entry[] = [];
  if (progress.state !== "replicate" || !progress.inflights.full()) {
    const available = r.log.entriesFrom(progress.next, r.config.maxSizePerMsg);
    if (available === undefined) return maybeSendSnapshot(r, to, progress);
    entries = available;
  }
  if (entries.length === 0 && !sendIfEmpty) return false;
  const commit = r.log.committed;
  r.send(
    newMessage({ type: MessageType.App, to, index: prevIndex, logTerm: prevTerm, entries, commit }),
  );
  progress.sentEntries(entries.length, payloadSizeBytes(entries));
  progress.sentCommitIndex(commit);
  return true;
}

/** The follower needs compacted entries: send the snapshot if it is reachable and ready. */
function maybeSendSnapshot(r: Raft, to: NodeId, progress: Progress): boolean {
  if (!progress.recentActive) return false;
  let snapshot: Snapshot;
  try {
    snapshot = r.log.snapshot();
  } catch (error) {
    if (isStorageError(error, "snapshotTemporarilyUnavailable")) return false;
    throw error;
  }
  assert(snapshot.metadata.index > 0, "a compacted log needs a non-empty snapshot");
  progress.becomeSnapshot(snapshot.metadata.index);
  r.send(newMessage({ type: MessageType.Snap, to, snapshot }));
  return true;
}

function sendHeartbeat(r: Raft, to: NodeId, context: Uint8Array | undefined): void {
  const progress = r.tracker.progress.get(to)!;
  // Never tell a follower to commit beyond what it is known to have.
  const commit = Math.min(progress.match, r.log.committed);
  const heartbeat = newMessage({ type: MessageType.Heartbeat, to, commit });
  if (context !== undefined) heartbeat.context = context;
  r.send(heartbeat);
  progress.sentCommitIndex(commit);
}

/** Sends every other member what it is missing. */
export function bcastAppend(r: Raft): void {
  r.tracker.visit((id) => {
    if (id !== r.id) sendAppend(r, id);
  });
}

function bcastHeartbeat(r: Raft, context: Uint8Array | undefined): void {
  r.tracker.visit((id) => {
    if (id !== r.id) sendHeartbeat(r, id, context);
  });
}

function sendTimeoutNow(r: Raft, to: NodeId): void {
  r.send(newMessage({ type: MessageType.TimeoutNow, to }));
}

/** Steps down unless a quorum was heard from since the last check; starts a new round. */
function checkQuorum(r: Raft): void {
  if (!r.tracker.quorumActive(r.id)) {
    r.becomeFollower(r.term, NO_NODE);
    return;
  }
  r.tracker.visit((id, progress) => {
    if (id !== r.id) progress.recentActive = false;
  });
}

function handleAppendResponse(r: Raft, m: Message, progress: Progress): void {
  progress.recentActive = true;
  if (m.reject) {
    // Fast backtracking: jump to where our log has a term no newer than the
    // follower's hint, skipping a whole term per round trip.
    const nextProbe = m.logTerm > 0
      ? r.log.findConflictByTerm(m.rejectHint, m.logTerm).index
      : m.rejectHint;
    if (progress.maybeDecrTo(m.index, nextProbe)) {
      if (progress.state === "replicate") progress.becomeProbe();
      sendAppend(r, m.from);
    }
    return;
  }
  const updated = progress.maybeUpdate(m.index);
  if (!updated && !(progress.match === m.index && progress.state === "probe")) return;
  if (progress.state === "probe") {
    progress.becomeReplicate();
  } else if (progress.state === "snapshot" && progress.match + 1 >= r.log.firstIndex()) {
    progress.becomeProbe();
    progress.becomeReplicate();
  } else if (progress.state === "replicate") {
    progress.inflights.freeLE(m.index);
  }
  if (r.maybeCommit()) {
    releasePendingReads(r);
    bcastAppend(r);
  } else if (progress.canBumpCommit(r.log.committed)) {
    sendAppend(r, m.from);
  }
  // Fill the window (stops when paused or nothing is left to send).
  while (maybeSendAppend(r, m.from, false));
  if (m.from === r.leadTransferee && progress.match === r.log.lastIndex()) {
    sendTimeoutNow(r, m.from);
  }
}

function handleHeartbeatResponse(r: Raft, m: Message, progress: Progress): void {
  progress.recentActive = true;
  progress.msgAppFlowPaused = false;
  if (progress.match < r.log.lastIndex() || progress.state === "probe") sendAppend(r, m.from);
  if (m.context === undefined || m.context.length === 0) return;
  r.readOnly.recvAck(m.from, m.context);
  for (const request of r.readOnly.maybeAdvance(r.tracker.voters)) respondToRead(r, request);
}

function handleSnapshotStatus(progress: Progress, failed: boolean): void {
  if (progress.state !== "snapshot") return;
  // On failure, forget the snapshot so that probing restarts from the match.
  if (failed) progress.pendingSnapshot = 0;
  progress.becomeProbe();
  // Wait for a heartbeat response before probing again.
  progress.msgAppFlowPaused = true;
}

function handleTransferLeader(r: Raft, transferee: NodeId, progress: Progress): void {
  if (progress.isLearner) return;
  if (r.leadTransferee !== NO_NODE) {
    if (r.leadTransferee === transferee) return; // already under way
    r.abortLeaderTransfer();
  }
  if (transferee === r.id) return; // already the leader
  // The transfer must finish within one election timeout (see tickHeartbeat).
  r.electionElapsed = 0;
  r.leadTransferee = transferee;
  if (progress.match === r.log.lastIndex()) sendTimeoutNow(r, transferee);
  else sendAppend(r, transferee);
}

/**
 * Starts a linearizable read (the safe option): answered at once in a
 * one-voter group; held until this leader has committed in its term;
 * otherwise confirmed by a heartbeat round.
 */
export function readIndexAsLeader(r: Raft, request: ReadRequest): ReadIndexResult {
  if (r.tracker.isSingleton() && r.tracker.voters.has(r.id)) {
    respondToRead(r, { ...request, index: r.log.committed });
    return { kind: "pending" };
  }
  if (!r.committedEntryInCurrentTerm()) {
    // Our commit index may lag the previous leader's until our empty entry commits.
    if (r.pendingReadsBeforeCommit.length >= PENDING_READS_BEFORE_COMMIT_MAX) {
      return dropped("readQueueFull", "too many reads waiting for the first commit");
    }
    r.pendingReadsBeforeCommit.push(request);
    return { kind: "pending" };
  }
  return confirmReads(r, [request]);
}

/** Queues `requests` at the current commit index and sends one heartbeat round for them. */
function confirmReads(r: Raft, requests: ReadRequest[]): ReadIndexResult {
  let result: ReadIndexResult = { kind: "pending" };
  for (const request of requests) {
    if (!r.readOnly.add({ ...request, index: r.log.committed })) {
      result = dropped("readQueueFull", "too many reads waiting for confirmation");
    }
  }
  const context = r.readOnly.heartbeatContext();
  if (context === undefined) return result;
  r.readOnly.recvAck(r.id, context);
  bcastHeartbeat(r, context);
  return result;
}

function releasePendingReads(r: Raft): void {
  if (r.pendingReadsBeforeCommit.length === 0) return;
  assert(r.committedEntryInCurrentTerm(), "reads released before the first commit in term");
  const requests = r.pendingReadsBeforeCommit;
  r.pendingReadsBeforeCommit = [];
  confirmReads(r, requests);
}

function respondToRead(r: Raft, request: ReadRequest): void {
  if (request.from === r.id) {
    r.readStates.push({ index: request.index, context: request.context });
    return;
  }
  const response = newMessage({
    type: MessageType.ReadIndexResp,
    to: request.from,
    index: request.index,
  });
  response.context = request.context;
  r.send(response);
}
