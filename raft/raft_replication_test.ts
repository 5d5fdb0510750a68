/**
 * Log replication and repair: appends, heartbeats, the leader's handling of
 * append responses, fast backtracking with reject hints (as etcd's
 * TestFastLogRejection), probe/replicate progress, and replication under
 * reordering and loss. Modelled on etcd-io/raft's raft_test.go.
 */

import assert from "node:assert/strict";
import { Rng } from "../base/rng.ts";
import {
  entriesWithTerms,
  entry,
  makeLeader,
  msg,
  newTestRaft,
  readMessages,
  readOneMessage,
  storageWith,
} from "./_test_util.ts";
import { bcastAppend, sendAppend } from "./raft_leader.ts";
import { MemoryStorage } from "./storage.ts";
import { Network } from "./testing/network.ts";
import { type Message, MessageType, NO_NODE } from "./types.ts";

Deno.test("proposals are replicated to and applied by every node, across a leader change", () => {
  const network = new Network({ seed: 1, peers: ["1", "2", "3"] });
  network.campaign("1");
  network.propose("1", "a");
  network.campaign("2");
  network.propose("2", "b");
  network.propose("1", "c"); // forwarded by 1, now a follower
  for (const id of ["1", "2", "3"]) {
    assert.deepEqual(network.peer(id).appliedData(), ["a", "b", "c"], id);
    assert.equal(network.status(id).commit, 5);
  }
});

Deno.test("a follower handles appends: mismatch, match, truncate and commit (section 5.3)", async (t) => {
  // Log [1:1, 2:2]. Columns: prev term, prev index, commit, entries, last index, commit, reject.
  const cases: [number, number, number, [number, number][], number, number, boolean][] = [
    [3, 2, 3, [], 2, 0, true], // previous entry mismatch
    [3, 3, 3, [], 2, 0, true], // previous entry missing
    [1, 1, 1, [], 2, 1, false],
    [0, 0, 1, [[1, 2]], 1, 1, false], // conflicting entry replaced
    [2, 2, 3, [[3, 2], [4, 2]], 4, 3, false],
    [2, 2, 4, [[3, 2]], 3, 3, false],
    [1, 1, 4, [[2, 2]], 2, 2, false],
    [1, 1, 3, [], 2, 1, false], // commit only up to the last entry the message covers
    [1, 1, 3, [[2, 2]], 2, 2, false],
    [2, 2, 3, [], 2, 2, false],
    [2, 2, 4, [], 2, 2, false],
  ];
  for (const [logTerm, index, commit, entries, lastIndex, committed, reject] of cases) {
    await t.step(
      `append ${JSON.stringify(entries)} after (${index}, ${logTerm}), commit ${commit}`,
      () => {
        const r = newTestRaft("1", { storage: storageWith({ voters: ["1"], terms: [1, 2] }) });
        r.becomeFollower(2, NO_NODE);
        const sent = entries.map(([i, term]) => entry(i, term));
        r.step(msg(MessageType.App, "2", "1", { term: 2, logTerm, index, commit, entries: sent }));
        assert.equal(r.log.lastIndex(), lastIndex);
        assert.equal(r.log.committed, committed);
        assert.equal(readOneMessage(r).reject, reject);
      },
    );
  }
});

Deno.test("a follower commits from a heartbeat but never lowers its commit index", () => {
  for (const [leaderCommit, expected] of [[3, 3], [1, 2]] as const) {
    const r = newTestRaft("1", { storage: storageWith({ voters: ["1", "2"], terms: [1, 2, 3] }) });
    r.becomeFollower(3, "2");
    r.log.commitTo(2);
    r.step(msg(MessageType.Heartbeat, "2", "1", { term: 3, commit: leaderCommit }));
    assert.equal(r.log.committed, expected);
    assert.equal(readOneMessage(r).type, MessageType.HeartbeatResp);
  }
});

Deno.test("a heartbeat response makes the leader resend what the follower misses", () => {
  const r = newTestRaft("1", { storage: storageWith({ voters: ["1", "2"], terms: [1, 2, 3] }) });
  r.loadState({ term: 3, vote: NO_NODE, commit: 3 });
  makeLeader(r);
  bcastAppend(r);
  readMessages(r);
  r.step(msg(MessageType.HeartbeatResp, "2", "1", { term: r.term }));
  const [append] = readMessages(r);
  assert.equal(append?.type, MessageType.App);
  r.step(msg(MessageType.HeartbeatResp, "2", "1", { term: r.term }));
  assert.deepEqual(readMessages(r).map((m) => m.type), [MessageType.App], "each answer re-sends");
  r.step(
    msg(MessageType.AppResp, "2", "1", {
      term: r.term,
      index: append!.index + append!.entries.length,
    }),
  );
  readMessages(r);
  r.step(msg(MessageType.HeartbeatResp, "2", "1", { term: r.term }));
  assert.deepEqual(readMessages(r), [], "an up-to-date follower gets nothing more");
});

Deno.test("the leader updates progress and commit from append responses", async (t) => {
  // Leader log [1:1, 2:1] in term 1 plus its empty entry 3. Follower 2 starts at match 0, next 3.
  // Columns: index, reject, match, next, messages sent, their index, commit.
  const cases: [number, boolean, number, number, number, number, number][] = [
    [3, true, 0, 3, 0, 0, 0], // stale rejection: ignored
    [2, true, 0, 2, 1, 1, 0], // rejection: back off and probe again
    [2, false, 2, 4, 2, 2, 2], // acceptance: commit and tell everybody
    [0, false, 0, 4, 1, 0, 0], // a probe matching at 0 turns into replication of everything
  ];
  for (const [index, reject, match, next, count, sentIndex, commit] of cases) {
    await t.step(`response index ${index}, reject ${reject}`, () => {
      const r = newTestRaft("1", {
        storage: storageWith({ voters: ["1", "2", "3"], terms: [1, 1] }),
      });
      r.term = 0;
      makeLeader(r);
      readMessages(r);
      r.step(
        msg(MessageType.AppResp, "2", "1", { term: r.term, index, reject, rejectHint: index }),
      );
      const progress = r.tracker.progress.get("2")!;
      assert.deepEqual([progress.match, progress.next], [match, next]);
      const sent = readMessages(r);
      assert.equal(sent.length, count);
      for (const m of sent) {
        assert.equal(m.index, m.to === "2" ? sentIndex : m.index);
        assert.equal(m.commit, commit);
      }
    });
  }
});

Deno.test("fast log rejection finds the divergence point in one round trip", async (t) => {
  // leader log, follower log, follower compaction, hint term, hint index, next append term and index
  const cases: [number[], number[], number, number, number, number, number][] = [
    [[1, 2, 2, 4, 4, 4, 4], [1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3], 0, 3, 7, 2, 3],
    [[1, 2, 2, 3, 4, 4, 4, 5], [1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3], 0, 3, 8, 3, 4],
    [[1, 1, 1, 1], [1, 2, 2, 4], 0, 1, 1, 1, 1],
    [[1, 1, 1, 1, 1, 1], [1, 2, 2, 4], 0, 1, 1, 1, 1],
    [[1, 1, 1, 1], [1, 2, 2, 4, 4, 4], 0, 1, 1, 1, 1],
    [[1, 1, 1, 4, 5], [1, 1, 1, 4], 0, 4, 4, 4, 4],
    [[2, 5, 5, 5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], 0, 4, 6, 2, 1],
    [[2, 2, 2, 2, 2], [2, 4, 4, 4, 4, 4, 4, 4], 0, 2, 1, 2, 1],
    // A stale append arrives at a follower that compacted beyond it: hint term 0.
    [[1, 1, 3], [1, 1, 3, 3, 3], 5, 0, 3, 1, 2],
  ];
  for (
    const [leaderTerms, followerTerms, compact, hintTerm, hintIndex, nextTerm, nextIndex] of cases
  ) {
    await t.step(`leader ${leaderTerms} follower ${followerTerms}`, () => {
      const last = leaderTerms.length;
      const lastTerm = leaderTerms[last - 1]!;
      const voters = ["1", "2", "3"];
      const leaderStorage = storageWith({
        voters,
        terms: leaderTerms,
        hardState: { term: lastTerm - 1, vote: NO_NODE, commit: last },
      });
      const leader = newTestRaft("1", { storage: leaderStorage });
      leader.becomeCandidate();
      leader.becomeLeader();
      const followerStorage = storageWith({
        voters,
        terms: followerTerms,
        hardState: { term: lastTerm, vote: "1", commit: 0 },
      });
      const follower = newTestRaft("2", { storage: followerStorage });
      if (compact !== 0) followerStorage.compact(compact);
      follower.step(msg(MessageType.Heartbeat, "1", "2", { term: leader.term }));
      leader.step(readOneMessage(follower));
      const append = readOneMessage(leader);
      assert.equal(append.type, MessageType.App);
      follower.step(append);
      const rejection = readOneMessage(follower);
      assert.equal(rejection.reject, true);
      assert.deepEqual([rejection.logTerm, rejection.rejectHint], [hintTerm, hintIndex]);
      leader.step(rejection);
      const retry = readOneMessage(leader);
      assert.deepEqual([retry.logTerm, retry.index], [nextTerm, nextIndex]);
    });
  }
});

Deno.test("a delayed rejection does not move a replicating follower behind its match", () => {
  const leader = newTestRaft("1", { voters: ["1", "2"] });
  makeLeader(leader);
  readMessages(leader);
  leader.tracker.progress.get("2")!.becomeReplicate();
  const follower = newTestRaft("2", { voters: ["1", "2"] });
  leader.appendEntries([entry(0, 0, "somedata")]);
  sendAppend(leader, "2");
  const first = readOneMessage(leader);
  leader.appendEntries([entry(0, 0, "somedata")]);
  sendAppend(leader, "2");
  const second = readOneMessage(leader);
  // The second append overtakes the first: rejected, nothing at index 2 yet.
  follower.step(second);
  const rejection = readOneMessage(follower);
  assert.deepEqual([rejection.reject, rejection.rejectHint, rejection.index], [true, 0, 2]);
  follower.step(first);
  const accepted = readOneMessage(follower);
  assert.deepEqual([accepted.reject, accepted.index], [false, 2]);
  leader.step(accepted);
  readMessages(leader);
  assert.equal(leader.tracker.progress.get("2")!.match, 2);
  leader.step(msg(MessageType.Unreachable, "2", "1"));
  assert.equal(leader.tracker.progress.get("2")!.state, "probe");
  leader.step(rejection);
  const resend = readOneMessage(leader);
  assert.equal(resend.index, 2, "probing resumes from the match, not from the stale hint");
});

Deno.test("a leader probes a follower one append at a time until it answers", () => {
  const r = newTestRaft("1", { voters: ["1", "2"] });
  makeLeader(r);
  readMessages(r);
  const progress = r.tracker.progress.get("2")!;
  assert.equal(progress.state, "probe");
  for (let i = 0; i < 3; i++) r.propose([entry(0, 0, "x")]);
  const appends = readMessages(r).filter((m) => m.type === MessageType.App);
  assert.equal(appends.length, 1, "one probe in flight");
  assert.ok(progress.msgAppFlowPaused);
  r.tick(); // heartbeat only
  assert.deepEqual(readMessages(r).map((m) => m.type), [MessageType.Heartbeat]);
  r.step(msg(MessageType.HeartbeatResp, "2", "1", { term: r.term }));
  assert.deepEqual(
    readMessages(r).map((m) => m.type),
    [MessageType.App],
    "the answer unpauses probing",
  );
});

Deno.test("a leader streams appends to a replicating follower without waiting", () => {
  const r = newTestRaft("1", { voters: ["1", "2"] });
  makeLeader(r);
  readMessages(r);
  r.tracker.progress.get("2")!.becomeReplicate();
  for (let i = 0; i < 10; i++) r.propose([entry(0, 0, "x")]);
  const appends = readMessages(r).filter((m) => m.type === MessageType.App);
  assert.equal(appends.length, 10);
  assert.equal(r.tracker.progress.get("2")!.next, 12);
});

Deno.test("a leader sends nothing to a follower receiving a snapshot", () => {
  const r = newTestRaft("1", { voters: ["1", "2"] });
  makeLeader(r);
  readMessages(r);
  r.tracker.progress.get("2")!.becomeSnapshot(10);
  for (let i = 0; i < 10; i++) r.propose([entry(0, 0, "x")]);
  assert.deepEqual(readMessages(r), []);
});

Deno.test("an unreachable report moves a replicating follower back to probing", () => {
  const r = newTestRaft("1", { voters: ["1", "2"] });
  makeLeader(r);
  readMessages(r);
  const progress = r.tracker.progress.get("2")!;
  progress.maybeUpdate(1);
  progress.becomeReplicate();
  r.propose([entry(0, 0, "x")]);
  r.propose([entry(0, 0, "x")]);
  assert.equal(progress.next, 4);
  r.step(msg(MessageType.Unreachable, "2", "1"));
  assert.equal(progress.state, "probe");
  assert.equal(progress.next, progress.match + 1);
});

Deno.test("a leader moves next past entries it sends while replicating or on acceptance", () => {
  const previous = entriesWithTerms([1, 1, 1]);
  for (const state of ["replicate", "probe"] as const) {
    const storage = new MemoryStorage({ confState: { voters: ["1", "2"], learners: [] } });
    storage.append(previous);
    storage.setHardState({ term: 1, vote: NO_NODE, commit: 0 });
    const r = newTestRaft("1", { storage });
    makeLeader(r);
    readMessages(r);
    const progress = r.tracker.progress.get("2")!;
    progress.maybeUpdate(2);
    if (state === "replicate") progress.becomeReplicate();
    else progress.becomeProbe();
    progress.next = 3;
    r.propose([entry(0, 0, "somedata")]);
    const expectedNext = state === "replicate" ? 6 : 3;
    assert.equal(progress.next, expectedNext, state);
  }
});

Deno.test("replication converges under seeded message loss, reordering and partitions", () => {
  const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
  for (const seed of seeds) {
    const rng = new Rng(seed);
    const ids = ["1", "2", "3", "4", "5"];
    const network = new Network({
      rng: rng.fork(),
      peers: ids,
      config: { checkQuorum: true, preVote: true },
    });
    network.reorder(0.5);
    for (const from of ids) {
      for (const to of ids) if (from !== to) network.drop(from, to, 0.2);
    }
    let proposed = 0;
    for (let round = 0; round < 300; round++) {
      const id = rng.pick(ids);
      if (rng.chance(0.3)) {
        const leader = network.leaders()[0] ?? id;
        if (network.propose(leader, `v${proposed}`).kind !== "dropped") proposed++;
      }
      if (rng.chance(0.02)) network.isolate(rng.pick(ids));
      if (rng.chance(0.05)) {
        network.recover();
        network.reorder(0.5);
      }
      network.tickAll(1);
    }
    network.recover();
    network.tickAll(60);
    const leader = network.leaders();
    assert.equal(leader.length, 1, `seed ${seed}: one leader after healing`);
    network.propose(leader[0]!, "final");
    const logs = ids.map((id) =>
      network.peer(id).storedEntries().map((e) => `${e.term}:${e.index}`)
    );
    for (const log of logs) assert.deepEqual(log, logs[0], `seed ${seed}: logs converge`);
    const applied = ids.map((id) => network.peer(id).appliedData());
    for (const data of applied) {
      assert.deepEqual(data, applied[0], `seed ${seed}: same state machine`);
    }
    assert.ok(applied[0]!.includes("final"));
  }
});

Deno.test("an append for an index below the follower's commit is answered with its commit index", () => {
  const r = newTestRaft("1", { storage: storageWith({ voters: ["1", "2"], terms: [1, 1, 1] }) });
  r.becomeFollower(1, "2");
  r.log.commitTo(3);
  r.step(msg(MessageType.App, "2", "1", { term: 1, index: 1, logTerm: 1, entries: [entry(2, 1)] }));
  const response: Message = readOneMessage(r);
  assert.deepEqual([response.reject, response.index], [false, 3]);
});
