/**
 * Single-server membership changes and learners: adding and removing voters
 * and learners, promotion, the one-change-at-a-time and commit-in-term rules,
 * learners that neither vote nor campaign, removing the leader, and a node
 * joining a bootstrapped group through a snapshot. Modelled on etcd-io/raft's
 * raft_test.go membership and learner tests.
 */

import assert from "node:assert/strict";
import { encodeConfChange } from "./codec.ts";
import {
  entry,
  makeLeader,
  msg,
  newTestRaft,
  persistAndApply,
  readMessages,
} from "./_test_util.ts";
import type { ProposeResult } from "./raft.ts";
import { bcastAppend } from "./raft_leader.ts";
import { MemoryStorage } from "./storage.ts";
import { Network } from "./testing/network.ts";
import { type ConfChange, type Entry, MessageType } from "./types.ts";

function change(type: ConfChange["type"], nodeId: string): ConfChange {
  return { type, nodeId, context: new Uint8Array() };
}

function confChangeEntry(cc: ConfChange): Entry {
  return { index: 0, term: 0, type: "confChange", data: encodeConfChange(cc) };
}

function droppedReason(result: ProposeResult): string | undefined {
  return result.kind === "dropped" ? result.reason : undefined;
}

Deno.test("adding a node makes it a voter with a fresh progress", () => {
  const r = newTestRaft("1");
  assert.deepEqual(r.applyConfChange(change("addNode", "2")), { voters: ["1", "2"], learners: [] });
  assert.equal(r.tracker.progress.get("2")?.isLearner, false);
});

Deno.test("adding a learner makes it replicate without voting", () => {
  const r = newTestRaft("1");
  assert.deepEqual(r.applyConfChange(change("addLearner", "2")), {
    voters: ["1"],
    learners: ["2"],
  });
  assert.equal(r.tracker.progress.get("2")?.isLearner, true);
});

Deno.test("adding a node that is a learner promotes it", () => {
  const r = newTestRaft("1", { voters: ["1"], learners: ["2"] });
  assert.deepEqual(r.applyConfChange(change("addNode", "2")), { voters: ["1", "2"], learners: [] });
  assert.equal(r.tracker.progress.get("2")?.isLearner, false);
});

Deno.test("removing nodes and learners shrinks the membership; removing the last voter is ignored", () => {
  const r = newTestRaft("1", { voters: ["1", "2"], learners: ["3"] });
  assert.deepEqual(r.applyConfChange(change("removeNode", "3")), {
    voters: ["1", "2"],
    learners: [],
  });
  assert.deepEqual(r.applyConfChange(change("removeNode", "2")), { voters: ["1"], learners: [] });
  assert.deepEqual(r.applyConfChange(change("removeNode", "9")), { voters: ["1"], learners: [] });
  assert.deepEqual(r.applyConfChange(change("removeNode", "1")), { voters: ["1"], learners: [] });
});

Deno.test("a leader that adds a node does not step down at the next quorum check", () => {
  const r = newTestRaft("1", { checkQuorum: true });
  makeLeader(r);
  for (let i = 0; i < 9; i++) r.tick();
  r.applyConfChange(change("addNode", "2"));
  assert.equal(r.state, "leader");
  r.tick(); // check quorum: 2 counts as active at first
  assert.equal(r.state, "leader");
  for (let i = 0; i < 10; i++) r.tick(); // 2 never answered
  assert.equal(r.state, "follower");
});

Deno.test("only a voter that is not installing a snapshot is promotable", () => {
  assert.equal(newTestRaft("1", { voters: ["1"] }).promotable(), true);
  assert.equal(newTestRaft("1", { voters: ["1", "2"] }).promotable(), true);
  assert.equal(newTestRaft("1", { voters: ["2", "3"] }).promotable(), false);
  assert.equal(newTestRaft("1", { voters: ["2"], learners: ["1"] }).promotable(), false);
});

Deno.test("a leader records a proposed conf change as pending and refuses a second one", () => {
  const r = newTestRaft("1", { voters: ["1"] });
  makeLeader(r);
  persistAndApply(r); // the empty entry commits and is applied
  const first = r.propose([confChangeEntry(change("addNode", "2"))]);
  assert.equal(first.kind, "appended");
  assert.equal(r.pendingConfIndex, r.log.lastIndex());
  const second = r.propose([confChangeEntry(change("addNode", "3"))]);
  assert.equal(droppedReason(second), "confChangePending");
  persistAndApply(r);
  assert.equal(
    r.propose([confChangeEntry(change("addNode", "3"))]).kind,
    "appended",
    "allowed once applied",
  );
});

Deno.test("a new leader refuses conf changes until it has committed in its term", () => {
  const r = newTestRaft("1", { voters: ["1", "2"] });
  makeLeader(r);
  const early = r.propose([confChangeEntry(change("addNode", "3"))]);
  assert.equal(droppedReason(early), "leaderNotCommittedInTerm");
  bcastAppend(r);
  for (const m of readMessages(r)) {
    r.step(
      msg(MessageType.AppResp, m.to, "1", { term: r.term, index: m.index + m.entries.length }),
    );
  }
  readMessages(r);
  assert.equal(r.committedEntryInCurrentTerm(), true);
  persistAndApply(r);
  assert.equal(r.propose([confChangeEntry(change("addNode", "3"))]).kind, "appended");
});

Deno.test("a conf change that would remove the last voter or is undecodable is refused", () => {
  const r = newTestRaft("1");
  makeLeader(r);
  persistAndApply(r);
  assert.equal(
    droppedReason(r.propose([confChangeEntry(change("removeNode", "1"))])),
    "invalidConfChange",
  );
  const garbage: Entry = { index: 0, term: 0, type: "confChange", data: new Uint8Array([9, 9]) };
  assert.equal(droppedReason(r.propose([garbage])), "invalidConfChange");
});

Deno.test("a node does not campaign while a committed conf change is not applied", () => {
  const network = new Network({ seed: 1, peers: ["1", "2"] });
  network.campaign("1");
  network.proposeConfChange("1", { type: "addLearner", nodeId: "3" });
  // Make 2 commit a conf change without applying it: a white-box check on the core.
  const r = newTestRaft("2", { voters: ["1", "2"] });
  r.becomeFollower(1, "1");
  r.step(msg(MessageType.App, "1", "2", {
    term: 1,
    entries: [{ ...confChangeEntry(change("addLearner", "3")), index: 1, term: 1 }],
    commit: 1,
  }));
  readMessages(r);
  r.step(msg(MessageType.Hup, "2", "2"));
  assert.equal(r.state, "follower", "unapplied conf change blocks the campaign");
  persistAndApply(r);
  r.applyConfChange(change("addLearner", "3"));
  r.step(msg(MessageType.Hup, "2", "2"));
  assert.equal(r.state, "candidate");
  assert.deepEqual(network.status("2").confState, { voters: ["1", "2"], learners: ["3"] });
});

Deno.test("an entry commits with the smaller quorum once a node's removal is applied", () => {
  const r = newTestRaft("1", { voters: ["1", "2"] });
  makeLeader(r);
  bcastAppend(r);
  for (const m of readMessages(r)) {
    r.step(
      msg(MessageType.AppResp, m.to, "1", { term: r.term, index: m.index + m.entries.length }),
    );
  }
  readMessages(r);
  persistAndApply(r);
  r.propose([confChangeEntry(change("removeNode", "2"))]);
  const removalIndex = r.log.lastIndex();
  r.propose([entry(0, 0, "hello")]);
  // 2 acknowledges the removal only.
  r.step(msg(MessageType.AppResp, "2", "1", { term: r.term, index: removalIndex }));
  readMessages(r);
  assert.equal(r.log.committed, removalIndex);
  persistAndApply(r);
  r.applyConfChange(change("removeNode", "2"));
  assert.equal(r.log.committed, removalIndex + 1, "the leader alone is now a quorum");
});

Deno.test("a learner never times out into an election and cannot campaign", () => {
  const network = new Network({ seed: 2, peers: ["1", "2"], learners: ["2"] });
  network.isolate("1");
  network.tick("2", 100);
  assert.equal(network.status("2").state, "follower");
  network.campaign("2");
  assert.equal(network.status("2").state, "follower");
  assert.equal(network.status("2").term, 0);
});

Deno.test("a learner replicates the log but its acknowledgement does not count for commit", () => {
  const network = new Network({ seed: 3, peers: ["1", "2", "3"], learners: ["3"] });
  network.campaign("1");
  network.propose("1", "a");
  assert.deepEqual(network.peer("3").appliedData(), ["a"]);
  network.isolate("2");
  network.propose("1", "b");
  assert.equal(network.peer("3").storage.lastIndex(), 3, "the learner has the entry");
  assert.equal(network.status("1").commit, 2, "leader + learner are not a quorum");
  network.recover();
  network.tick("1");
  assert.equal(network.status("1").commit, 3);
});

Deno.test("a learner answers vote requests but its vote is not counted", () => {
  const r = newTestRaft("2", { voters: ["1"], learners: ["2"] });
  r.step(msg(MessageType.Vote, "1", "2", { term: 2, index: 10, logTerm: 2 }));
  const [response] = readMessages(r);
  // It may have been promoted without knowing yet: refusing could block the group forever.
  assert.deepEqual([response?.type, response?.reject], [MessageType.VoteResp, false]);
});

Deno.test("a promoted learner can campaign and win", () => {
  const network = new Network({ seed: 4, peers: ["1", "2"], learners: ["2"] });
  network.campaign("1");
  network.propose("1", "x");
  assert.equal(network.proposeConfChange("1", { type: "addNode", nodeId: "2" }).kind, "appended");
  assert.deepEqual(network.status("2").confState, { voters: ["1", "2"], learners: [] });
  network.campaign("2");
  assert.equal(network.status("2").state, "leader");
  assert.equal(network.status("2").term, 2);
});

Deno.test("a removed node stops receiving appends and never campaigns", () => {
  const network = new Network({ seed: 5, peers: ["1", "2", "3"] });
  network.campaign("1");
  network.proposeConfChange("1", { type: "removeNode", nodeId: "3" });
  assert.deepEqual(network.status("1").confState, { voters: ["1", "2"], learners: [] });
  network.propose("1", "after removal");
  assert.deepEqual(network.peer("2").appliedData(), ["after removal"]);
  assert.deepEqual(network.peer("3").appliedData(), []);
  network.tick("3", 50);
  assert.equal(network.status("3").state, "follower");
  assert.deepEqual(network.leaders(), ["1"]);
});

Deno.test("removing the leader: it steps down and the rest elect a new leader", () => {
  const network = new Network({ seed: 6, peers: ["1", "2", "3"], config: { checkQuorum: true } });
  network.campaign("1");
  network.propose("1", "before");
  network.proposeConfChange("1", { type: "removeNode", nodeId: "1" });
  assert.equal(network.status("1").state, "follower", "stepped down once the removal applied");
  assert.equal(network.status("1").lead, "");
  for (let round = 0; round < 50 && network.leaders().length === 0; round++) network.tickAll(1);
  const [leader] = network.leaders();
  assert.ok(leader === "2" || leader === "3", `new leader ${leader}`);
  network.propose(leader!, "after");
  for (const id of ["2", "3"]) {
    assert.deepEqual(network.peer(id).appliedData(), ["before", "after"], id);
    assert.deepEqual(network.status(id).confState, { voters: ["2", "3"], learners: [] });
  }
  network.tickAll(50);
  assert.notEqual(network.status("1").state, "leader", "the removed node never leads again");
});

Deno.test("removing the leader without stepping down keeps the group safe but refuses proposals", () => {
  const network = new Network({
    seed: 7,
    peers: ["1", "2", "3"],
    config: { stepDownOnRemoval: false },
  });
  network.campaign("1");
  network.proposeConfChange("1", { type: "removeNode", nodeId: "1" });
  assert.equal(network.status("1").state, "leader");
  assert.equal(droppedReason(network.propose("1", "x")), "notInConfig");
  // The others still elect a leader when they stop hearing from it.
  network.isolate("1");
  for (let round = 0; round < 50 && network.leaders().length < 2; round++) network.tickAll(1);
  const newLeader = network.leaders().find((id) => id !== "1");
  assert.ok(newLeader !== undefined);
  assert.equal(network.propose(newLeader, "y").kind, "appended");
  assert.deepEqual(network.peer("2").appliedData(), ["y"]);
});

Deno.test("a new node joins a bootstrapped group as a learner through a snapshot and is promoted", () => {
  const confState = { voters: ["1", "2", "3"], learners: [] };
  const network = new Network({
    seed: 8,
    peers: ["1", "2", "3"].map((id) => ({ id, storage: MemoryStorage.bootstrap(confState) })),
  });
  network.campaign("1");
  network.propose("1", "a");
  assert.equal(
    network.proposeConfChange("1", { type: "addLearner", nodeId: "4" }).kind,
    "appended",
  );
  // The snapshot a joining node receives must include it.
  network.peer("1").snapshotAndCompact();
  network.addPeer("4");
  network.tick("1");
  const joined = network.peer("4");
  assert.equal(joined.snapshotsInstalled, 1);
  assert.deepEqual(network.status("4").confState, { voters: ["1", "2", "3"], learners: ["4"] });
  network.propose("1", "b");
  assert.deepEqual(joined.appliedData(), ["b"]);
  assert.equal(network.proposeConfChange("1", { type: "addNode", nodeId: "4" }).kind, "appended");
  assert.deepEqual(network.status("4").confState, { voters: ["1", "2", "3", "4"], learners: [] });
  network.isolate("1");
  network.campaign("4");
  assert.equal(network.status("4").state, "leader", "the promoted node can lead");
});

Deno.test("a conf change proposed at a follower is forwarded and applied everywhere", () => {
  const network = new Network({ seed: 9, peers: ["1", "2", "3"] });
  network.campaign("1");
  const result = network.proposeConfChange("2", { type: "addLearner", nodeId: "4" });
  assert.deepEqual(result, { kind: "forwarded", to: "1" });
  for (const id of ["1", "2", "3"]) {
    assert.deepEqual(network.status(id).confState, { voters: ["1", "2", "3"], learners: ["4"] });
  }
});
