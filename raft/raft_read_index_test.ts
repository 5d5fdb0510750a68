/**
 * ReadIndex (the safe option): the leader confirms it still leads with a
 * heartbeat round carrying the request's sequence before answering; a new
 * leader answers only once it has committed in its term; followers and
 * learners forward reads. Modelled on TestReadOnlyOptionSafe,
 * TestReadOnlyForNewLeader and TestReadOnlyWithLearner of etcd-io/raft.
 */

import assert from "node:assert/strict";
import { makeLeader, msg, newTestRaft, readMessages, storageWith } from "./_test_util.ts";
import { bcastAppend } from "./raft_leader.ts";
import { READ_INDEX_PENDING_MAX } from "./read_only.ts";
import { Network } from "./testing/network.ts";
import { MessageType } from "./types.ts";

const decoder = new TextDecoder();

function readContexts(network: Network, id: string): [number, string][] {
  return network.peer(id).readStates.map((rs) => [rs.index, decoder.decode(rs.context)]);
}

Deno.test("reads at the leader and at followers return the commit index after confirmation", () => {
  const network = new Network({ seed: 1, peers: ["1", "2", "3"] });
  network.campaign("1");
  const cases: [string, number, string][] = [["1", 10, "ctx1"], ["2", 10, "ctx2"], [
    "3",
    10,
    "ctx3",
  ], [
    "1",
    10,
    "ctx4",
  ]];
  for (const [id, proposals, context] of cases) {
    for (let i = 0; i < proposals; i++) network.propose("1", "x");
    const result = network.readIndex(id, context);
    assert.equal(result.kind, id === "1" ? "pending" : "forwarded");
    const commit = network.status("1").commit;
    const states = readContexts(network, id);
    assert.deepEqual(states[states.length - 1], [commit, context], `read at ${id}`);
  }
});

Deno.test("a read is not answered while the leader cannot reach a quorum", () => {
  const network = new Network({ seed: 2, peers: ["1", "2", "3"] });
  network.campaign("1");
  network.isolate("1");
  assert.equal(network.readIndex("1", "stale?").kind, "pending");
  network.tick("1", 5);
  assert.deepEqual(network.peer("1").readStates, [], "an isolated leader cannot confirm");
  network.campaign("2");
  network.propose("2", "newer");
  network.recover();
  network.tick("2");
  assert.deepEqual(
    network.peer("1").readStates,
    [],
    "a deposed leader never answers its old reads",
  );
  assert.equal(network.status("1").state, "follower");
});

Deno.test("a new leader answers reads only after it has committed in its term", () => {
  const network = new Network({ seed: 3, peers: ["1", "2", "3"] });
  network.campaign("1");
  network.propose("1", "a");
  // Elect 2 but keep its empty entry from committing.
  network.ignore(MessageType.AppResp);
  network.campaign("2");
  assert.equal(network.status("2").state, "leader");
  assert.equal(network.readIndex("2", "ctx").kind, "pending");
  network.tick("2");
  assert.deepEqual(network.peer("2").readStates, [], "not before its first commit in term 2");
  network.recover();
  network.tick("2");
  const commit = network.status("2").commit;
  assert.equal(commit, 3, "the empty entry of term 2 is committed");
  assert.deepEqual(readContexts(network, "2"), [[commit, "ctx"]]);
});

Deno.test("a follower's read is forwarded and answered with a ReadIndexResp", () => {
  const network = new Network({ seed: 4, peers: ["1", "2", "3"] });
  network.campaign("1");
  network.propose("1", "a");
  network.node("2").readIndex(new TextEncoder().encode("remote"));
  const [forwarded] = network.takeMessages((m) => m.type === MessageType.ReadIndex);
  assert.deepEqual([forwarded?.from, forwarded?.to, forwarded?.term], ["2", "1", 0]);
  network.send(forwarded!);
  assert.deepEqual(readContexts(network, "2"), [[2, "remote"]]);
  assert.deepEqual(network.peer("1").readStates, [], "the leader answers, it does not record it");
});

Deno.test("a read without a known leader is dropped", () => {
  const network = new Network({ seed: 5, peers: ["1", "2", "3"] });
  const result = network.readIndex("2", "x");
  assert.equal(result.kind === "dropped" && result.reason, "noLeader");
});

Deno.test("a single-node leader answers a read at once", () => {
  const network = new Network({ seed: 6, peers: ["1"] });
  network.campaign("1");
  network.propose("1", "a");
  network.readIndex("1", "solo");
  assert.deepEqual(readContexts(network, "1"), [[2, "solo"]]);
});

Deno.test("learner acknowledgements do not confirm reads, learners' reads are forwarded", () => {
  const network = new Network({ seed: 7, peers: ["1", "2", "3"], learners: ["3"] });
  network.campaign("1");
  network.isolate("2");
  network.readIndex("1", "needs 2");
  assert.deepEqual(network.peer("1").readStates, [], "leader + learner is no quorum");
  network.recover();
  network.tick("1");
  assert.deepEqual(readContexts(network, "1"), [[1, "needs 2"]]);
  network.readIndex("3", "from learner");
  assert.deepEqual(readContexts(network, "3"), [[1, "from learner"]]);
});

Deno.test("requests with the same context are each answered, in order", () => {
  const network = new Network({ seed: 8, peers: ["1", "2", "3"] });
  network.campaign("1");
  network.isolate("3");
  network.node("1").readIndex(new TextEncoder().encode("dup"));
  network.node("1").readIndex(new TextEncoder().encode("dup"));
  network.stabilize();
  assert.deepEqual(readContexts(network, "1"), [[1, "dup"], [1, "dup"]]);
});

Deno.test("confirmed reads leave the leader's queue; the queue is bounded", () => {
  const r = newTestRaft("1", { storage: storageWith({ voters: ["1", "2"] }) });
  makeLeader(r);
  bcastAppend(r);
  for (const m of readMessages(r)) {
    r.step(
      msg(MessageType.AppResp, m.to, "1", { term: r.term, index: m.index + m.entries.length }),
    );
  }
  readMessages(r);
  assert.equal(r.readIndex(new Uint8Array([1])).kind, "pending");
  assert.equal(r.readOnly.pendingCount, 1);
  const [heartbeat] = readMessages(r);
  r.step(msg(MessageType.HeartbeatResp, "2", "1", { term: r.term, context: heartbeat!.context! }));
  assert.equal(r.readOnly.pendingCount, 0);
  assert.equal(r.readStates.length, 1);
  for (let i = 0; i < READ_INDEX_PENDING_MAX; i++) r.readIndex(new Uint8Array([2]));
  const refused = r.readIndex(new Uint8Array([3]));
  assert.equal(refused.kind === "dropped" && refused.reason, "readQueueFull");
});
