/**
 * Snapshots: restoring a follower, ignoring stale snapshots, sending one to a
 * lagging follower when entries are compacted, the snapshot progress state and
 * its success/failure/abort reporting, learners receiving snapshots, and a
 * slow node catching up through the network. Modelled on etcd-io/raft's
 * raft_snap_test.go and the snapshot tests of raft_test.go.
 */

import assert from "node:assert/strict";
import {
  makeLeader,
  msg,
  newTestRaft,
  readMessages,
  readOneMessage,
  storageWith,
} from "./_test_util.ts";
import { RawNode } from "./raw_node.ts";
import { Rng } from "../base/rng.ts";
import { MemoryStorage, type Storage, StorageError } from "./storage.ts";
import { Network } from "./testing/network.ts";
import { MessageType, NO_NODE, type Snapshot } from "./types.ts";

function snapshotAt(
  index: number,
  term: number,
  voters = ["1", "2"],
  learners: string[] = [],
): Snapshot {
  return { metadata: { index, term, confState: { voters, learners } }, data: new Uint8Array([7]) };
}

/** A leader of a two-node group whose log is compacted up to a snapshot at 11 (term 11). */
function leaderWithCompactedLog() {
  const storage = new MemoryStorage();
  storage.applySnapshot(snapshotAt(11, 11));
  storage.setHardState({ term: 11, vote: NO_NODE, commit: 11 });
  const r = newTestRaft("1", { storage });
  makeLeader(r);
  readMessages(r);
  return r;
}

Deno.test("a follower restores a snapshot: log, commit and membership", () => {
  const r = newTestRaft("1", { voters: ["1", "2"] });
  const snapshot = snapshotAt(11, 11, ["1", "2", "3"]);
  assert.equal(r.restore(snapshot), true);
  assert.equal(r.log.lastIndex(), 11);
  assert.equal(r.log.term(11), 11);
  assert.equal(r.log.committed, 11);
  assert.deepEqual(r.tracker.confState(), { voters: ["1", "2", "3"], learners: [] });
  assert.equal(r.restore(snapshot), false, "the same snapshot twice is stale");
});

Deno.test("a follower restores a snapshot that makes it a learner", () => {
  const r = newTestRaft("3", { voters: ["1", "2", "3"] });
  assert.equal(r.promotable(), true);
  assert.equal(r.restore(snapshotAt(11, 11, ["1", "2"], ["3"])), true);
  assert.equal(r.isLearner, true);
  assert.equal(r.promotable(), false);
});

Deno.test("a snapshot that does not include this node is ignored", () => {
  const r = newTestRaft("1", { voters: ["1", "2"] });
  assert.equal(r.restore(snapshotAt(11, 11, ["2", "3"])), false);
  assert.equal(r.log.lastIndex(), 0);
});

Deno.test("a snapshot the log already contains only fast-forwards the commit index", () => {
  const storage = storageWith({ voters: ["1", "2"], terms: [1, 1, 1] });
  const r = newTestRaft("1", { storage });
  r.log.commitTo(1);
  assert.equal(r.restore(snapshotAt(2, 1)), false);
  assert.equal(r.log.committed, 2);
  assert.equal(r.log.lastIndex(), 3, "the log is kept");
});

Deno.test("a follower ignores a stale snapshot and answers with its commit index", () => {
  const storage = storageWith({ voters: ["1", "2"], terms: [1, 1, 1, 1, 1] });
  const r = newTestRaft("1", { storage });
  r.becomeFollower(1, "2");
  r.log.commitTo(5);
  r.step(msg(MessageType.Snap, "2", "1", { term: 1, snapshot: snapshotAt(3, 1) }));
  const response = readOneMessage(r);
  assert.deepEqual([response.type, response.index, response.reject], [
    MessageType.AppResp,
    5,
    false,
  ]);
  assert.equal(r.log.firstIndex(), 1, "nothing restored");
});

Deno.test("a follower restores from a Snap message and answers with its new last index", () => {
  const r = newTestRaft("1", { voters: ["1", "2"] });
  r.step(msg(MessageType.Snap, "2", "1", { term: 2, snapshot: snapshotAt(11, 2) }));
  assert.equal(r.lead, "2");
  assert.equal(r.log.lastIndex(), 11);
  assert.equal(r.log.hasPendingSnapshot(), true);
  assert.equal(r.promotable(), false, "no campaign while the snapshot is not installed");
  const response = readOneMessage(r);
  assert.deepEqual([response.type, response.index], [MessageType.AppResp, 11]);
});

Deno.test("a leader sends a snapshot when the follower needs compacted entries", () => {
  const r = leaderWithCompactedLog();
  const progress = r.tracker.progress.get("2")!;
  progress.becomeReplicate();
  progress.next = r.log.firstIndex() - 1; // needs entry 11, which is compacted
  progress.recentActive = true;
  r.propose([{ index: 0, term: 0, type: "normal", data: new Uint8Array([1]) }]);
  const [snap] = readMessages(r);
  assert.equal(snap?.type, MessageType.Snap);
  assert.equal(snap?.snapshot?.metadata.index, 11);
  assert.equal(progress.state, "snapshot");
  assert.equal(progress.pendingSnapshot, 11);
});

Deno.test("a leader does not send a snapshot to a follower that is not recently active", () => {
  const r = leaderWithCompactedLog();
  const progress = r.tracker.progress.get("2")!;
  progress.next = r.log.firstIndex() - 1;
  progress.recentActive = false;
  r.propose([{ index: 0, term: 0, type: "normal", data: new Uint8Array([1]) }]);
  assert.deepEqual(readMessages(r), []);
  assert.equal(progress.state, "probe");
});

Deno.test("a leader retries later when storage has no snapshot ready", () => {
  const storage = new MemoryStorage();
  storage.applySnapshot(snapshotAt(11, 11));
  storage.setHardState({ term: 11, vote: NO_NODE, commit: 11 });
  const unavailable: Storage = {
    initialState: () => storage.initialState(),
    entries: (lo, hi, max) => storage.entries(lo, hi, max),
    term: (index) => storage.term(index),
    firstIndex: () => storage.firstIndex(),
    lastIndex: () => storage.lastIndex(),
    snapshot: () => {
      throw new StorageError("snapshotTemporarilyUnavailable", "being made");
    },
  };
  const r = newTestRaft("1", { storage: unavailable as MemoryStorage });
  makeLeader(r);
  readMessages(r);
  const progress = r.tracker.progress.get("2")!;
  progress.next = 11;
  progress.recentActive = true;
  r.propose([{ index: 0, term: 0, type: "normal", data: new Uint8Array([1]) }]);
  assert.deepEqual(readMessages(r), []);
  assert.equal(progress.state, "probe");
});

Deno.test("sending a snapshot sets the pending snapshot and pauses replication", () => {
  const r = leaderWithCompactedLog();
  const progress = r.tracker.progress.get("2")!;
  progress.next = r.log.firstIndex();
  // A rejection pointing below the first index makes the leader fall back to a snapshot.
  r.step(
    msg(MessageType.AppResp, "2", "1", { term: r.term, index: progress.next - 1, reject: true }),
  );
  assert.equal(progress.pendingSnapshot, 11);
  readMessages(r);
  r.propose([{ index: 0, term: 0, type: "normal", data: new Uint8Array([1]) }]);
  r.propose([{ index: 0, term: 0, type: "normal", data: new Uint8Array([2]) }]);
  assert.deepEqual(readMessages(r), [], "nothing else while the snapshot is pending");
});

Deno.test("a failed snapshot send makes the leader probe again from the match", () => {
  const r = leaderWithCompactedLog();
  const progress = r.tracker.progress.get("2")!;
  progress.next = 1;
  progress.becomeSnapshot(11);
  r.step(msg(MessageType.SnapStatus, "2", "1", { reject: true }));
  assert.deepEqual([progress.state, progress.pendingSnapshot, progress.next], ["probe", 0, 1]);
  assert.equal(progress.msgAppFlowPaused, true, "waits for a heartbeat answer before probing");
});

Deno.test("a successful snapshot send makes the leader probe after the snapshot", () => {
  const r = leaderWithCompactedLog();
  const progress = r.tracker.progress.get("2")!;
  progress.next = 1;
  progress.becomeSnapshot(11);
  r.step(msg(MessageType.SnapStatus, "2", "1", { reject: false }));
  assert.deepEqual([progress.state, progress.pendingSnapshot, progress.next], ["probe", 0, 12]);
  assert.equal(progress.msgAppFlowPaused, true);
});

Deno.test("an acknowledgement past the pending snapshot aborts it and resumes replication", () => {
  const r = leaderWithCompactedLog();
  const progress = r.tracker.progress.get("2")!;
  progress.next = 1;
  progress.becomeSnapshot(11);
  r.step(msg(MessageType.AppResp, "2", "1", { term: r.term, index: 11 }));
  assert.equal(progress.pendingSnapshot, 0);
  assert.equal(progress.state, "replicate");
  assert.equal(progress.next, 13, "the leader's empty entry 12 went out at once");
  assert.equal(progress.inflights.count, 1);
});

Deno.test("a slow node catches up through a snapshot and then takes part in commits", () => {
  const network = new Network({ seed: 1, peers: ["1", "2", "3"] });
  network.campaign("1");
  network.isolate("3");
  for (let i = 0; i < 20; i++) network.propose("1", `entry ${i}`);
  // The leader compacts everything it applied; 3 can no longer be fed from the log.
  network.peer("1").snapshotAndCompact();
  network.recover();
  network.tick("1"); // heartbeat: 3 answers, the leader notices it lags, sends the snapshot
  assert.equal(network.peer("3").snapshotsInstalled, 1);
  assert.equal(network.status("3").commit, network.status("1").commit);
  network.node("1").reportSnapshot("3", true);
  network.tick("1");
  network.propose("1", "after");
  assert.deepEqual(network.peer("3").appliedData(), ["after"], "applies new entries normally");
  assert.equal(network.status("3").applied, network.status("1").applied);
  assert.equal(network.status("1").progress.get("3")?.state, "replicate");
});

Deno.test("a learner receives a snapshot and stays a learner", () => {
  const network = new Network({ seed: 2, peers: ["1", "2", "3"], learners: ["3"] });
  network.campaign("1");
  network.isolate("3");
  for (let i = 0; i < 5; i++) network.propose("1", `entry ${i}`);
  network.peer("1").snapshotAndCompact();
  network.recover();
  network.tick("1");
  assert.equal(network.peer("3").snapshotsInstalled, 1);
  assert.deepEqual(network.status("3").confState, { voters: ["1", "2"], learners: ["3"] });
  assert.equal(network.status("3").commit, network.status("1").commit);
});

Deno.test("RawNode hands out an incoming snapshot once, to persist and apply, and counts it applied", () => {
  const storage = new MemoryStorage({ confState: { voters: ["1", "2"], learners: [] } });
  const node = new RawNode({
    id: "1",
    storage,
    applied: 0,
    maxSizePerMsg: 1 << 20,
    maxInflightMsgs: 16,
    checkQuorum: false,
    preVote: false,
    rng: new Rng(1),
  });
  node.step(msg(MessageType.Snap, "2", "1", { term: 3, snapshot: snapshotAt(20, 3) }));
  const ready = node.ready();
  assert.equal(ready.snapshot?.metadata.index, 20);
  assert.equal(ready.mustSync, true);
  assert.equal(ready.committedEntries.length, 0);
  assert.deepEqual(ready.messages.map((m) => [m.type, m.index]), [[MessageType.AppResp, 20]]);
  storage.applySnapshot(ready.snapshot!);
  storage.setHardState(ready.hardState!);
  node.advance();
  assert.equal(node.status().applied, 20);
  assert.equal(node.hasReady(), false);
});
