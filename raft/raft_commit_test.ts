/**
 * The commitment rules: a leader commits by counting replicas only through an
 * entry of its own term (paper section 5.4.2, Figure 8), proposals by the
 * leader and by proxy, and the quorum arithmetic. Includes the planted-bug
 * knob `commitByCountingAnyTerm`, shown to lose a committed entry.
 */

import assert from "node:assert/strict";
import { makeLeader, msg, newTestRaft, storageWith } from "./_test_util.ts";
import { Network } from "./testing/network.ts";
import { MessageType, NO_NODE } from "./types.ts";

const FIVE = ["1", "2", "3", "4", "5"];

Deno.test("a single node commits its proposals at once", () => {
  const network = new Network({ seed: 1, peers: ["1"] });
  network.campaign("1");
  network.propose("1", "some data");
  network.propose("1", "some data");
  assert.equal(network.status("1").commit, 3);
  assert.deepEqual(network.peer("1").appliedData(), ["some data", "some data"]);
});

Deno.test("cannot commit without new term entry", () => {
  const network = new Network({ seed: 2, peers: FIVE });
  network.campaign("1");
  for (const id of ["3", "4", "5"]) network.cut("1", id);
  network.propose("1", "some data");
  network.propose("1", "some data");
  assert.equal(network.status("1").commit, 1);
  network.recover();
  // Elect 2 without letting it replicate anything: nothing of term 1 may commit.
  network.ignore(MessageType.App);
  network.campaign("2");
  assert.equal(network.status("2").state, "leader");
  assert.equal(network.status("2").commit, 1);
  network.recover();
  network.tick("2"); // heartbeat, so followers answer and get the log
  network.propose("2", "some data");
  assert.equal(network.status("2").commit, 5);
  for (const id of FIVE) assert.equal(network.peer(id).appliedData().length, 3, id);
});

Deno.test("commit without new term entry: the new leader's empty entry commits the old ones", () => {
  const network = new Network({ seed: 3, peers: FIVE });
  network.campaign("1");
  for (const id of ["3", "4", "5"]) network.cut("1", id);
  network.propose("1", "some data");
  network.propose("1", "some data");
  assert.equal(network.status("1").commit, 1);
  network.recover();
  network.campaign("2");
  assert.equal(
    network.status("1").commit,
    4,
    "entries 2 and 3 committed with 2's empty entry at 4",
  );
  assert.equal(network.peer("5").appliedData().length, 2);
});

Deno.test("leader only commits log from current term, even when older entries are on a quorum", () => {
  const storage = storageWith({ voters: ["1", "2", "3"], terms: [1, 2] });
  const r = newTestRaft("1", { storage });
  r.loadState({ term: 2, vote: NO_NODE, commit: 0 });
  makeLeader(r); // term 3, empty entry at index 3
  r.step(msg(MessageType.AppResp, "2", "1", { term: 3, index: 2 }));
  assert.equal(r.log.committed, 0, "index 2 (term 2) is on a quorum but not committable");
  r.step(msg(MessageType.AppResp, "2", "1", { term: 3, index: 3 }));
  assert.equal(r.log.committed, 3, "the current-term entry commits everything before it");
});

Deno.test("the commitByCountingAnyTerm knob commits an earlier-term entry by counting (planted bug)", () => {
  const storage = storageWith({ voters: ["1", "2", "3"], terms: [1, 2] });
  const r = newTestRaft("1", { storage, testingKnobs: { commitByCountingAnyTerm: true } });
  r.loadState({ term: 2, vote: NO_NODE, commit: 0 });
  makeLeader(r);
  r.step(msg(MessageType.AppResp, "2", "1", { term: 3, index: 2 }));
  assert.equal(r.log.committed, 2);
});

/**
 * Figure 8 of the paper, step by step, with one entry per append so that the
 * dangerous interleaving can be produced. Returns, per index, the distinct
 * entries (term/data) that some node applied there.
 */
function runFigure8(commitByCountingAnyTerm: boolean): Map<number, Set<string>> {
  const network = new Network({
    seed: 8,
    peers: FIVE,
    config: { maxSizePerMsg: 0, testingKnobs: { commitByCountingAnyTerm } },
  });
  network.campaign("1"); // term 1; the empty entry 1 commits everywhere
  // (a) 1 replicates "A" at index 2 to 2 only.
  for (const id of ["3", "4", "5"]) network.cut("1", id);
  network.propose("1", "A");
  // (b) 1 crashes; 5 is elected by 3 and 4 and appends entries nobody else gets.
  network.recover();
  network.isolate("1");
  network.ignore(MessageType.App);
  campaignUntilLeader(network, "5");
  network.propose("5", "B");
  // (c) 5 crashes; 1 comes back and is elected; it replicates index 2 to 3 but
  // the append carrying its own term's entry (index 3) to 3 is lost.
  network.recover();
  network.isolate("5");
  network.ignore(MessageType.App);
  network.peer("1").restart();
  campaignUntilLeader(network, "1");
  network.recover();
  network.isolate("5");
  network.isolate("4");
  network.dropIf((m) =>
    m.type === MessageType.App && m.to === "3" && m.entries.some((e) => e.index >= 3) &&
    network.peer("3").storage.lastIndex() >= 2
  );
  network.tick("1");
  // (d) 1 crashes; 5 comes back and may be elected by 3 and 4 (its last term is newer than theirs).
  network.recover();
  network.isolate("1");
  network.cut("5", "2");
  network.peer("5").restart();
  campaignUntilLeader(network, "5");
  network.recover();
  network.isolate("1");
  network.propose("5", "C");
  const applied = new Map<number, Set<string>>();
  for (const id of FIVE) {
    for (const entry of network.peer(id).applied) {
      const seen = applied.get(entry.index) ?? new Set<string>();
      seen.add(`${entry.term}:${new TextDecoder().decode(entry.data)}`);
      applied.set(entry.index, seen);
    }
  }
  return applied;
}

function campaignUntilLeader(network: Network, id: string): void {
  for (let attempt = 0; attempt < 5 && network.status(id).state !== "leader"; attempt++) {
    network.campaign(id);
  }
  assert.equal(network.status(id).state, "leader", `${id} could not be elected`);
}

Deno.test("Figure 8: no node ever applies a different entry at an index another node applied", () => {
  for (const [index, entries] of runFigure8(false)) {
    assert.equal(entries.size, 1, `index ${index} applied as ${[...entries].join(" and ")}`);
  }
});

Deno.test("Figure 8 with the commitByCountingAnyTerm knob loses a committed entry (planted bug)", () => {
  const divergent = [...runFigure8(true)].filter(([, entries]) => entries.size > 1);
  assert.deepEqual(
    divergent.map(([index]) => index),
    [2],
    "index 2 was applied as A and then overwritten",
  );
});

Deno.test("a follower forwards a proposal to the leader (proposal by proxy)", () => {
  for (const withDownNode of [false, true]) {
    const network = new Network({
      seed: 4,
      peers: withDownNode ? ["1", "2", { id: "3", down: true }] : ["1", "2", "3"],
    });
    network.campaign("1");
    const result = network.propose("2", "somedata");
    assert.deepEqual(result, { kind: "forwarded", to: "1" });
    for (const id of network.peers.keys()) {
      assert.deepEqual(network.peer(id).appliedData(), ["somedata"], id);
      assert.equal(network.status(id).commit, 2);
    }
  }
});

Deno.test("a proposal is appended by a leader and dropped without one", async (t) => {
  await t.step("no leader yet", () => {
    const network = new Network({ seed: 5, peers: ["1", "2", "3"] });
    const result = network.propose("1", "x");
    assert.equal(result.kind, "dropped");
    assert.equal(result.kind === "dropped" && result.reason, "noLeader");
  });
  await t.step("a candidate without quorum", () => {
    const network = new Network({
      seed: 5,
      peers: ["1", { id: "2", down: true }, { id: "3", down: true }],
    });
    network.campaign("1");
    const result = network.propose("1", "x");
    assert.equal(result.kind === "dropped" && result.reason, "noLeader");
  });
  await t.step("a leader with a quorum", () => {
    const network = new Network({ seed: 5, peers: ["1", "2", { id: "3", down: true }] });
    network.campaign("1");
    assert.deepEqual(network.propose("1", "x"), { kind: "appended", index: 2, term: 1 });
    assert.deepEqual(network.peer("2").appliedData(), ["x"]);
  });
});

Deno.test("the commit index is the highest index of the current term on a majority", async (t) => {
  // matches (self first), log terms, leader term, expected commit
  const cases: [number[], number[], number, number][] = [
    [[1], [1], 1, 1],
    [[1], [1], 2, 0],
    [[2], [1, 2], 2, 2],
    [[1], [2], 2, 1],
    [[2, 1, 1], [1, 2], 1, 1],
    [[2, 1, 1], [1, 1], 2, 0],
    [[2, 1, 2], [1, 2], 2, 2],
    [[2, 1, 2], [1, 1], 2, 0],
    [[2, 1, 1, 1], [1, 2], 1, 1],
    [[2, 1, 1, 1], [1, 1], 2, 0],
    [[2, 1, 1, 2], [1, 2], 1, 1],
    [[2, 1, 1, 2], [1, 1], 2, 0],
    [[2, 1, 2, 2], [1, 2], 2, 2],
    [[2, 1, 2, 2], [1, 1], 2, 0],
  ];
  for (const [matches, terms, term, commit] of cases) {
    await t.step(`matches ${matches}, log ${terms}, term ${term} -> ${commit}`, () => {
      const ids = matches.map((_, i) => String(i + 1));
      const storage = storageWith({
        voters: ids,
        terms,
        hardState: { term, vote: NO_NODE, commit: 0 },
      });
      const r = newTestRaft("1", { storage });
      for (const [i, match] of matches.entries()) {
        const progress = r.tracker.progress.get(ids[i]!)!;
        progress.match = match;
        progress.next = match + 1;
      }
      r.maybeCommit();
      assert.equal(r.log.committed, commit);
    });
  }
});

Deno.test("the uncommitted-size limit refuses proposals until entries are applied", () => {
  const network = new Network({
    seed: 6,
    peers: ["1", "2", { id: "3", down: true }],
    config: { maxUncommittedEntriesSize: 10 },
  });
  network.campaign("1");
  network.isolate("2");
  assert.equal(network.propose("1", "12345").kind, "appended");
  assert.equal(network.propose("1", "12345").kind, "appended");
  const refused = network.propose("1", "1");
  assert.equal(refused.kind === "dropped" && refused.reason, "uncommittedSizeExceeded");
  // Empty entries are always accepted (they carry no payload).
  assert.equal(network.propose("1", "").kind, "appended");
  network.recover();
  network.tick("1");
  assert.equal(network.status("1").commit, 4);
  assert.equal(network.propose("1", "12345").kind, "appended", "applied entries free the budget");
});
