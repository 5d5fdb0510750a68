/**
 * Election behaviour through the in-memory network: one-round elections with
 * down nodes, cycles, dueling (pre-)candidates, stale messages, check-quorum
 * leases, disruptive followers with and without pre-vote, and split votes.
 * Modelled on the election tests of etcd-io/raft's raft_test.go.
 */

import assert from "node:assert/strict";
import { makeLeader, msg, newTestRaft, readMessages, storageWith } from "./_test_util.ts";
import type { Raft } from "./raft.ts";
import { Network, type PeerSpec } from "./testing/network.ts";
import { MessageType, NO_NODE, type RaftStateType } from "./types.ts";

const FIVE = ["1", "2", "3", "4", "5"];

/** A peer whose log has entries of `terms` (indexes 1..) and whose term is the last of them. */
function withLog(id: string, voters: string[], terms: number[]): PeerSpec {
  return { id, storage: storageWith({ voters, terms }) };
}

for (const preVote of [false, true]) {
  const mode = preVote ? "with pre-vote" : "without pre-vote";

  Deno.test(`a candidate wins only with a quorum of live voters (${mode})`, async (t) => {
    const lostState: RaftStateType = preVote ? "preCandidate" : "candidate";
    const lostTerm = preVote ? 0 : 1;
    const cases: {
      name: string;
      peers: (string | PeerSpec)[];
      state: RaftStateType;
      term: number;
    }[] = [
      { name: "3 live of 3", peers: ["1", "2", "3"], state: "leader", term: 1 },
      { name: "2 live of 3", peers: ["1", "2", { id: "3", down: true }], state: "leader", term: 1 },
      {
        name: "1 live of 3",
        peers: ["1", { id: "2", down: true }, { id: "3", down: true }],
        state: lostState,
        term: lostTerm,
      },
      {
        name: "2 live of 4",
        peers: ["1", { id: "2", down: true }, { id: "3", down: true }, "4"],
        state: lostState,
        term: lostTerm,
      },
      {
        name: "3 live of 5",
        peers: ["1", { id: "2", down: true }, { id: "3", down: true }, "4", "5"],
        state: "leader",
        term: 1,
      },
      {
        // Logs further along in the same term: explicit rejections, not silence.
        name: "voters with longer logs refuse",
        peers: [
          "1",
          withLog("2", FIVE, [1]),
          withLog("3", FIVE, [1]),
          withLog("4", FIVE, [1, 1]),
          "5",
        ],
        state: "follower",
        term: 1,
      },
    ];
    for (const c of cases) {
      await t.step(c.name, () => {
        const network = new Network({ seed: 1, peers: c.peers, config: { preVote } });
        network.campaign("1");
        assert.equal(network.status("1").state, c.state);
        assert.equal(network.status("1").term, c.term);
      });
    }
  });

  Deno.test(`every node can become leader in turn (${mode})`, () => {
    const network = new Network({ seed: 2, peers: ["1", "2", "3"], config: { preVote } });
    for (const campaigner of ["1", "2", "3"]) {
      network.campaign(campaigner);
      for (const id of ["1", "2", "3"]) {
        const status = network.status(id);
        assert.equal(
          status.state,
          id === campaigner ? "leader" : "follower",
          `${id} after ${campaigner}`,
        );
        assert.equal(status.lead, campaigner);
      }
    }
  });

  Deno.test(`a new leader overwrites uncommitted entries of earlier terms (${mode})`, () => {
    // 1 won term 1 and replicated to 2; 3 won term 2 alone; 4 and 5 voted for 3 in term 2.
    const voted = (id: string): PeerSpec => ({
      id,
      storage: storageWith({ voters: FIVE, hardState: { term: 2, vote: "3", commit: 0 } }),
    });
    const network = new Network({
      seed: 3,
      peers: [
        withLog("1", FIVE, [1]),
        withLog("2", FIVE, [1]),
        withLog("3", FIVE, [2]),
        voted("4"),
        voted("5"),
      ],
      config: { preVote },
    });
    network.campaign("1");
    assert.equal(
      network.status("1").state,
      "follower",
      "1's first attempt fails: 3's log is newer",
    );
    assert.equal(network.status("1").term, 2);
    network.campaign("1");
    assert.equal(network.status("1").state, "leader");
    assert.equal(network.status("1").term, 3);
    for (const id of FIVE) {
      assert.deepEqual(network.peer(id).storedEntries().map((e) => e.term), [1, 3], `log of ${id}`);
    }
  });
}

for (const voteType of [MessageType.Vote, MessageType.PreVote]) {
  Deno.test(`a ${voteType} request of a higher term is granted from any state`, async (t) => {
    for (const state of ["follower", "preCandidate", "candidate", "leader"] as const) {
      await t.step(state, () => {
        const r = newTestRaft("1", { voters: ["1", "2", "3"] });
        r.term = 1;
        if (state === "follower") r.becomeFollower(r.term, "3");
        else if (state === "preCandidate") r.becomePreCandidate();
        else if (state === "candidate") r.becomeCandidate();
        else makeLeader(r);
        const termBefore = r.term;
        const voteBefore = r.vote;
        readMessages(r);
        const newTerm = termBefore + 1;
        r.step(msg(voteType, "2", "1", { term: newTerm, index: 42, logTerm: newTerm }));
        const [response] = readMessages(r);
        assert.equal(response?.reject, false);
        assert.equal(response?.term, newTerm);
        if (voteType === MessageType.Vote) {
          assert.equal(r.state, "follower");
          assert.equal(r.term, newTerm);
          assert.equal(r.vote, "2");
        } else {
          // A pre-vote changes nothing: no term, no vote, no role change.
          assert.equal(r.state, state);
          assert.equal(r.term, termBefore);
          assert.equal(r.vote, voteBefore);
        }
      });
    }
  });
}

Deno.test("dueling candidates: the stale one disrupts the term but cannot win", () => {
  const network = new Network({ seed: 4, peers: ["1", "2", "3"] });
  network.cut("1", "3");
  network.campaign("1");
  network.campaign("3");
  assert.equal(network.status("1").state, "leader");
  assert.equal(network.status("3").state, "candidate", "2 already voted for 1 in term 1");
  network.recover();
  // 3 campaigns in term 2 with a shorter log: everybody moves to term 2, nobody votes for it.
  network.campaign("3");
  for (const id of ["1", "2", "3"]) {
    assert.equal(network.status(id).state, "follower", id);
    assert.equal(network.status(id).term, 2, id);
  }
  assert.deepEqual(network.peer("1").storedEntries().map((e) => e.term), [1]);
  assert.deepEqual(network.peer("2").storedEntries().map((e) => e.term), [1]);
  assert.deepEqual(network.peer("3").storedEntries(), []);
  assert.equal(network.status("1").commit, 1);
});

Deno.test("dueling pre-candidates: the stale one cannot disturb the leader", () => {
  const network = new Network({ seed: 5, peers: ["1", "2", "3"], config: { preVote: true } });
  network.cut("1", "3");
  network.campaign("1");
  network.campaign("3");
  assert.equal(network.status("1").state, "leader");
  assert.equal(network.status("3").state, "follower", "rejected by 2 with a newer term");
  network.recover();
  network.campaign("3");
  const expected = [["1", "leader", 1, 1], ["2", "follower", 1, 1], ["3", "follower", 1, 0]];
  for (const [id, state, term, lastIndex] of expected) {
    const status = network.status(id as string);
    assert.deepEqual([status.state, status.term], [state, term], id as string);
    assert.equal(network.peer(id as string).storage.lastIndex(), lastIndex);
  }
});

Deno.test("a candidate concedes to a leader of its term and catches up", () => {
  const network = new Network({ seed: 6, peers: ["1", "2", "3"] });
  network.isolate("1");
  network.campaign("1");
  network.campaign("3");
  network.recover();
  // 1 is still a candidate in term 1; 3 leads term 1. A heartbeat makes 1 concede.
  network.tick("3");
  network.propose("3", "force follower");
  network.tick("3");
  assert.equal(network.status("1").state, "follower");
  assert.equal(network.status("1").term, 1);
  const leaderLog = network.peer("3").storedEntries();
  for (const id of ["1", "2"]) assert.deepEqual(network.peer(id).storedEntries(), leaderLog);
  assert.deepEqual(network.peer("1").appliedData(), ["force follower"]);
});

for (const preVote of [false, true]) {
  Deno.test(`a single node becomes leader at once when it campaigns (pre-vote ${preVote})`, () => {
    const network = new Network({ seed: 7, peers: ["1"], config: { preVote } });
    network.campaign("1");
    assert.equal(network.status("1").state, "leader");
    assert.equal(network.status("1").term, 1);
  });
}

Deno.test("a leader ignores appends from an old leader and keeps committing", () => {
  const network = new Network({ seed: 8, peers: ["1", "2", "3"] });
  network.campaign("1");
  network.campaign("2");
  network.campaign("1"); // 1 leads term 3
  // An old leader of term 2 tries to append: ignored.
  network.send(msg(MessageType.App, "2", "1", {
    term: 2,
    index: 2,
    logTerm: 2,
    entries: [{ index: 3, term: 2, type: "normal", data: new Uint8Array([1]) }],
  }));
  network.propose("1", "somedata");
  for (const id of ["1", "2", "3"]) {
    const log = network.peer(id).storedEntries();
    assert.deepEqual(log.map((e) => e.term), [1, 2, 3, 3], id);
    assert.equal(new TextDecoder().decode(log[3]!.data), "somedata");
    assert.equal(network.status(id).commit, 4);
  }
});

Deno.test("a follower's election timer fires only after the randomised timeout", () => {
  const r = newTestRaft("1", { voters: ["1", "2", "3"], electionTicks: 10, seed: 3 });
  const timeout = r.randomizedElectionTimeout;
  assert.ok(timeout >= 10 && timeout < 20);
  for (let i = 0; i < timeout - 1; i++) r.tick();
  assert.equal(r.state, "follower");
  r.tick();
  assert.equal(r.state, "candidate");
});

Deno.test("a leader steps down when it loses its quorum (check quorum)", () => {
  const network = new Network({ seed: 9, peers: ["1", "2", "3"], config: { checkQuorum: true } });
  network.campaign("1");
  assert.equal(network.status("1").state, "leader");
  // Heard from everyone: it stays leader through several timeouts.
  network.tickAll(30);
  assert.deepEqual(network.leaders(), ["1"]);
  network.isolate("1");
  network.tick("1", 21); // two check-quorum rounds: the first clears recentActive, the second fails
  assert.equal(network.status("1").state, "follower");
  assert.equal(network.status("1").term, 1, "stepping down does not change the term");
});

Deno.test("with check quorum a follower ignores candidates while it hears from its leader", () => {
  const network = new Network({ seed: 10, peers: ["1", "2", "3"], config: { checkQuorum: true } });
  network.campaign("1");
  // 3 is cut from the leader but not from 2; 2 still heard from 1 recently.
  network.cut("1", "3");
  network.campaign("3");
  assert.equal(network.status("3").state, "candidate");
  assert.equal(network.status("2").term, 1, "2 ignored the vote request (leader lease)");
  assert.deepEqual(network.leaders(), ["1"]);
  // Once 2's lease has expired, 3 can supersede 1.
  network.isolate("1");
  network.tick("2", 20);
  network.recover();
  network.cut("1", "3");
  network.campaign("3");
  assert.equal(network.status("3").state, "leader");
});

Deno.test("with check quorum elections still succeed after leases expire", () => {
  const network = new Network({ seed: 11, peers: ["1", "2", "3"], config: { checkQuorum: true } });
  network.campaign("1");
  assert.equal(network.status("1").state, "leader");
  network.isolate("1");
  // 2 and 3 still honour 1's lease for an election timeout, then elect one of them.
  for (let round = 0; round < 100 && !network.leaders().some((id) => id !== "1"); round++) {
    network.tick("2");
    network.tick("3");
  }
  const leaders = network.leaders().filter((id) => id !== "1");
  assert.equal(leaders.length, 1, "2 or 3 took over");
  assert.ok(network.status(leaders[0]!).term >= 2);
});

Deno.test("check quorum frees a candidate stuck in a newer term", () => {
  const network = new Network({ seed: 12, peers: ["1", "2", "3"], config: { checkQuorum: true } });
  network.campaign("1");
  network.isolate("1");
  network.campaign("3");
  network.campaign("3");
  assert.equal(network.status("3").state, "candidate");
  assert.equal(network.status("3").term, 3);
  network.recover();
  // The leader's heartbeat reaches 3, whose answer carries the newer term: the leader steps down.
  network.tick("1");
  assert.equal(network.status("1").state, "follower");
  assert.equal(network.status("1").term, 3);
  // Now a real election can complete.
  network.campaign("3");
  assert.equal(network.status("3").state, "leader");
});

Deno.test("a node that is not a voter in its own view never campaigns, even with check quorum", () => {
  const network = new Network({
    seed: 13,
    peers: ["1", { id: "2", storage: storageWith({ voters: ["1"] }) }],
    config: { checkQuorum: true },
  });
  network.campaign("1");
  network.tickAll(50);
  assert.equal(network.status("1").state, "leader");
  assert.equal(network.status("2").state, "follower");
  assert.equal(network.status("2").lead, "1");
});

for (const preVote of [false, true]) {
  Deno.test(`a disruptive follower ${preVote ? "cannot" : "can"} depose the leader (pre-vote ${preVote})`, () => {
    const network = new Network({
      seed: 14,
      peers: ["1", "2", "3"],
      config: { checkQuorum: true, preVote },
    });
    network.campaign("1");
    network.propose("1", "x");
    // 3 misses heartbeats long enough to time out, then campaigns while the others are fine.
    network.isolate("3");
    network.tick("3", 20);
    network.recover();
    const status3 = network.status("3");
    if (preVote) {
      assert.equal(status3.state, "preCandidate");
      assert.equal(status3.term, 1, "pre-vote never bumps the term");
      network.tick("1"); // heartbeat: 3 rejoins as follower
      assert.equal(network.status("3").state, "follower");
      assert.deepEqual(network.leaders(), ["1"]);
      assert.equal(network.status("1").term, 1);
    } else {
      assert.equal(status3.state, "candidate");
      assert.equal(status3.term, 2);
      // The leader's next heartbeat gets a reply with term 2: it steps down.
      network.tick("1");
      assert.equal(network.status("1").state, "follower");
      assert.equal(network.status("1").term, 2);
    }
  });
}

Deno.test("pre-vote lets a node with a smaller term complete an election", () => {
  const inTerm1 = (id: string): PeerSpec => ({
    id,
    storage: storageWith({
      voters: ["1", "2", "3"],
      hardState: { term: 1, vote: NO_NODE, commit: 0 },
    }),
  });
  const network = new Network({
    seed: 15,
    peers: ["1", "2", "3"].map(inTerm1),
    config: { preVote: true },
  });
  network.cut("1", "3");
  network.cut("2", "3");
  network.campaign("1");
  assert.equal(network.status("1").state, "leader");
  network.campaign("3");
  assert.equal(network.status("3").state, "preCandidate", "3 cannot reach anybody");
  network.campaign("2"); // 2 takes over in term 3
  assert.deepEqual(["1", "2", "3"].map((id) => network.status(id).term), [3, 3, 1]);
  assert.equal(network.status("2").state, "leader");
  // 2 dies; 3 comes back with its smaller term. Either 1 or 3 must be able to win.
  network.recover();
  network.isolate("2");
  network.campaign("3");
  network.campaign("1");
  assert.ok(
    network.status("1").state === "leader" || network.status("3").state === "leader",
    "no leader after 2 died",
  );
});

Deno.test("pre-vote with a split vote still elects a leader afterwards", () => {
  const network = new Network({ seed: 16, peers: ["1", "2", "3"], config: { preVote: true } });
  network.campaign("1");
  network.isolate("1");
  // 2 and 3 campaign at the same time; each votes for itself first.
  network.node("2").campaign();
  network.node("3").campaign();
  network.stabilize();
  const terms = ["2", "3"].map((id) => network.status(id).term);
  assert.deepEqual(terms, [2, 2], "the pre-votes succeed, the real votes split");
  assert.deepEqual(["2", "3"].map((id) => network.status(id).state), ["candidate", "candidate"]);
  network.campaign("2");
  assert.equal(network.status("2").state, "leader");
  assert.equal(network.status("3").state, "follower");
});

Deno.test("a leader that heard a higher term from any message steps down to follower", () => {
  for (const type of [MessageType.Vote, MessageType.App]) {
    const r = newTestRaft("1", { voters: ["1", "2", "3"] });
    makeLeader(r);
    r.step(msg(type, "2", "1", { term: 3, index: 0, logTerm: 0 }));
    assert.equal(r.state, "follower");
    assert.equal(r.term, 3);
    assert.equal(r.lead, type === MessageType.App ? "2" : NO_NODE);
  }
});

Deno.test("a candidate resets its term on a heartbeat or append from a newer leader", () => {
  for (const type of [MessageType.Heartbeat, MessageType.App]) {
    const network = new Network({ seed: 17, peers: ["1", "2", "3"] });
    network.campaign("1");
    network.isolate("3");
    network.campaign("2");
    network.campaign("1");
    assert.equal(network.status("1").term, 3);
    network.recover();
    network.node("3").campaign();
    network.takeMessages();
    assert.equal(network.status("3").state, "candidate");
    assert.equal(network.status("3").term, 2);
    network.send(msg(type, "1", "3", { term: 3 }));
    assert.equal(network.status("3").state, "follower");
    assert.equal(network.status("3").term, 3);
    assert.equal(network.status("3").lead, "1");
  }
});

Deno.test("a candidate counts its own vote and the votes of voters only", () => {
  const r: Raft = newTestRaft("1", { voters: ["1", "2", "3"], learners: ["4"] });
  r.step(msg(MessageType.Hup, "1", "1"));
  assert.deepEqual(readMessages(r).map((m) => m.to), ["2", "3"], "learners get no vote request");
  r.step(msg(MessageType.VoteResp, "4", "1", { term: 1 }));
  assert.equal(r.state, "candidate", "a learner's vote does not count");
  r.step(msg(MessageType.VoteResp, "2", "1", { term: 1 }));
  assert.equal(r.state, "leader");
});
