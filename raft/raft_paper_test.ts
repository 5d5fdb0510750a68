/**
 * Behaviour tests tied to sections of the Raft paper ("In Search of an
 * Understandable Consensus Algorithm", extended version), modelled on
 * etcd-io/raft's raft_paper_test.go. White-box: they drive the core directly.
 */

import assert from "node:assert/strict";
import { Rng } from "../base/rng.ts";
import {
  entry,
  logTerms,
  makeLeader,
  msg,
  newTestRaft,
  persistAndApply,
  readMessages,
  storageWith,
} from "./_test_util.ts";
import type { Raft } from "./raft.ts";
import { bcastAppend } from "./raft_leader.ts";
import { Network } from "./testing/network.ts";
import { type Message, MessageType, NO_NODE } from "./types.ts";

const THREE = ["1", "2", "3"];

function becomeRole(r: Raft, role: "follower" | "candidate" | "leader"): void {
  if (role === "follower") r.becomeFollower(1, "2");
  else if (role === "candidate") r.becomeCandidate();
  else makeLeader(r);
}

for (const role of ["follower", "candidate", "leader"] as const) {
  Deno.test(`a ${role} updates its term from a message with a higher term (section 5.1)`, () => {
    const r = newTestRaft("1", { voters: THREE });
    becomeRole(r, role);
    r.step(msg(MessageType.App, "2", "1", { term: 2 }));
    assert.equal(r.term, 2);
    assert.equal(r.state, "follower");
    assert.equal(r.lead, "2", "an append from the new term names its sender leader");
  });
}

Deno.test("a node ignores a message with a stale term (section 5.1)", () => {
  const r = newTestRaft("1", {
    voters: THREE,
    storage: storageWith({ voters: THREE, terms: [1, 2] }),
  });
  r.becomeFollower(2, NO_NODE);
  r.step(msg(MessageType.App, "2", "1", { term: 1, index: 2, logTerm: 2, entries: [entry(3, 1)] }));
  assert.deepEqual(logTerms(r), [1, 2], "nothing appended");
  assert.equal(r.lead, NO_NODE, "a stale sender is not taken as leader");
  assert.deepEqual(readMessages(r), [], "no answer without check-quorum or pre-vote");
});

Deno.test("a node starts as a follower with term 0 (section 5.2)", () => {
  const r = newTestRaft("1", { voters: THREE });
  assert.equal(r.state, "follower");
  assert.equal(r.term, 0);
  assert.equal(r.vote, NO_NODE);
});

Deno.test("a leader broadcasts heartbeats every heartbeat interval (section 5.2)", () => {
  const r = newTestRaft("1", { voters: THREE, heartbeatTicks: 1 });
  makeLeader(r);
  r.propose([entry(0, 0)]);
  readMessages(r);
  r.tick();
  const heartbeats = readMessages(r);
  assert.deepEqual(
    heartbeats.map((m) => [m.type, m.to, m.term, m.commit]),
    [[MessageType.Heartbeat, "2", 1, 0], [MessageType.Heartbeat, "3", 1, 0]],
  );
});

for (const role of ["follower", "candidate"] as const) {
  Deno.test(`a ${role} starts a new election when its election timeout elapses (section 5.2)`, () => {
    const r = newTestRaft("1", { voters: THREE, electionTicks: 10 });
    if (role === "candidate") r.becomeCandidate();
    else r.becomeFollower(1, "2");
    const termBefore = r.term;
    for (let i = 0; i < 2 * 10; i++) r.tick();
    readMessages(r);
    assert.equal(r.term, termBefore + 1);
    assert.equal(r.state, "candidate");
    assert.equal(r.vote, "1", "votes for itself");
    assert.equal(r.tracker.votes.get("1"), true);
  });
}

Deno.test("a candidate sends vote requests to all others with its last log id (section 5.4.1)", () => {
  const r = newTestRaft("1", {
    voters: THREE,
    storage: storageWith({ voters: THREE, terms: [1, 2] }),
  });
  for (let i = 0; i < 20; i++) r.tick();
  const votes = readMessages(r);
  assert.deepEqual(
    votes.map((m) => [m.type, m.to, m.term, m.index, m.logTerm]),
    [[MessageType.Vote, "2", 3, 2, 2], [MessageType.Vote, "3", 3, 2, 2]],
  );
});

Deno.test("a candidate wins, loses or waits depending on the votes of one round (section 5.2)", async (t) => {
  const cases: { size: number; votes: Record<string, boolean>; state: string }[] = [
    { size: 1, votes: {}, state: "leader" },
    { size: 3, votes: { "2": true, "3": true }, state: "leader" },
    { size: 3, votes: { "2": true }, state: "leader" },
    { size: 5, votes: { "2": true, "3": true, "4": true, "5": true }, state: "leader" },
    { size: 5, votes: { "2": true, "3": true, "4": true }, state: "leader" },
    { size: 5, votes: { "2": true, "3": true }, state: "leader" },
    { size: 3, votes: { "2": false, "3": false }, state: "follower" },
    { size: 5, votes: { "2": false, "3": false, "4": false, "5": false }, state: "follower" },
    { size: 5, votes: { "2": true, "3": false, "4": false, "5": false }, state: "follower" },
    { size: 3, votes: {}, state: "candidate" },
    { size: 5, votes: { "2": true }, state: "candidate" },
    { size: 5, votes: { "2": false, "3": false }, state: "candidate" },
    { size: 5, votes: {}, state: "candidate" },
  ];
  for (const c of cases) {
    await t.step(`${c.size} nodes, votes ${JSON.stringify(c.votes)} -> ${c.state}`, () => {
      const ids = Array.from({ length: c.size }, (_, i) => String(i + 1));
      const r = newTestRaft("1", { voters: ids });
      r.step(msg(MessageType.Hup, "1", "1"));
      for (const [id, granted] of Object.entries(c.votes)) {
        r.step(msg(MessageType.VoteResp, id, "1", { term: r.term, reject: !granted }));
      }
      assert.equal(r.state, c.state);
      assert.equal(r.term, 1);
    });
  }
});

Deno.test("a follower votes at most once per term, first come first served (section 5.2)", async (t) => {
  const cases = [
    { vote: NO_NODE, from: "2", reject: false },
    { vote: NO_NODE, from: "3", reject: false },
    { vote: "2", from: "2", reject: false },
    { vote: "3", from: "3", reject: false },
    { vote: "2", from: "3", reject: true },
    { vote: "3", from: "2", reject: true },
  ];
  for (const c of cases) {
    await t.step(`voted "${c.vote}", asked by ${c.from}`, () => {
      const r = newTestRaft("1", { voters: THREE });
      r.loadState({ term: 1, vote: c.vote, commit: 0 });
      r.step(msg(MessageType.Vote, c.from, "1", { term: 1 }));
      const [response] = readMessages(r);
      assert.deepEqual(
        [response?.type, response?.to, response?.term, response?.reject],
        [MessageType.VoteResp, c.from, 1, c.reject],
      );
    });
  }
});

Deno.test("a candidate falls back to follower when a leader of its term appears (section 5.2)", () => {
  for (const term of [1, 2]) {
    const r = newTestRaft("1", { voters: THREE });
    r.step(msg(MessageType.Hup, "1", "1"));
    assert.equal(r.state, "candidate");
    r.step(msg(MessageType.App, "2", "1", { term }));
    assert.equal(r.state, "follower");
    assert.equal(r.term, term);
    assert.equal(r.lead, "2");
  }
});

for (const role of ["follower", "candidate"] as const) {
  Deno.test(`a ${role}'s election timeout is randomised over [et, 2et) (section 5.2)`, () => {
    const electionTicks = 10;
    const seen = new Set<number>();
    for (let seed = 0; seed < 200; seed++) {
      const r = newTestRaft("1", { voters: THREE, electionTicks, seed });
      if (role === "candidate") r.becomeCandidate();
      else r.becomeFollower(r.term + 1, "2");
      let ticks = 0;
      const termBefore = r.term;
      while (r.term === termBefore) {
        r.tick();
        ticks++;
      }
      seen.add(ticks);
    }
    for (let timeout = electionTicks; timeout < 2 * electionTicks; timeout++) {
      assert.ok(seen.has(timeout), `timeout ${timeout} never drawn`);
    }
    assert.equal(seen.size, electionTicks, "no timeout outside [et, 2et)");
  });
}

for (const role of ["follower", "candidate"] as const) {
  Deno.test(`${role}s rarely time out at the same tick (section 5.2)`, () => {
    const electionTicks = 10;
    const size = 5;
    const rounds = 1000;
    const rng = new Rng(7);
    let conflicts = 0;
    for (let round = 0; round < rounds; round++) {
      const nodes = Array.from({ length: size }, (_, i) =>
        newTestRaft(String(i + 1), {
          voters: ["1", "2", "3", "4", "5"],
          electionTicks,
          seed: rng.uint32(),
        }));
      for (const r of nodes) {
        if (role === "candidate") r.becomeCandidate();
        else r.becomeFollower(r.term + 1, NO_NODE);
      }
      let timedOut = 0;
      while (timedOut === 0) {
        for (const r of nodes) {
          r.tick();
          if (readMessages(r).length > 0) timedOut++;
        }
      }
      if (timedOut > 1) conflicts++;
    }
    assert.ok(conflicts / rounds <= 0.3, `conflict rate ${conflicts / rounds}`);
  });
}

Deno.test("a leader appends a proposal and sends it to every follower (section 5.3)", () => {
  const r = newTestRaft("1", { voters: THREE });
  makeLeader(r);
  commitNoopEntry(r);
  r.propose([entry(0, 0, "some data")]);
  assert.equal(r.log.lastIndex(), 2);
  assert.equal(r.log.committed, 1);
  const sent = readMessages(r);
  assert.deepEqual(
    sent.map((
      m,
    ) => [m.type, m.to, m.index, m.logTerm, m.commit, m.entries.map((e) => [e.index, e.term])]),
    [
      [MessageType.App, "2", 1, 1, 1, [[2, 1]]],
      [MessageType.App, "3", 1, 1, 1, [[2, 1]]],
    ],
  );
});

Deno.test("a leader commits an entry once a majority stored it and tells followers (section 5.3)", () => {
  const r = newTestRaft("1", { voters: THREE });
  makeLeader(r);
  commitNoopEntry(r);
  r.propose([entry(0, 0, "some data")]);
  for (const m of readMessages(r)) r.step(acceptAppend(m));
  assert.equal(r.log.committed, 2);
  const applied = persistAndApply(r);
  assert.deepEqual(applied.map((e) => e.index), [2]);
  const sent = readMessages(r);
  assert.deepEqual(sent.map((m) => [m.to, m.type, m.commit]), [["2", MessageType.App, 2], [
    "3",
    MessageType.App,
    2,
  ]]);
});

Deno.test("a leader commits only when a majority acknowledges (section 5.3)", async (t) => {
  const cases: { size: number; acceptors: string[]; commits: boolean }[] = [
    { size: 1, acceptors: [], commits: true },
    { size: 3, acceptors: [], commits: false },
    { size: 3, acceptors: ["2"], commits: true },
    { size: 3, acceptors: ["2", "3"], commits: true },
    { size: 5, acceptors: [], commits: false },
    { size: 5, acceptors: ["2"], commits: false },
    { size: 5, acceptors: ["2", "3"], commits: true },
    { size: 5, acceptors: ["2", "3", "4", "5"], commits: true },
  ];
  for (const c of cases) {
    await t.step(`${c.size} nodes, acknowledged by ${c.acceptors.join(",") || "nobody"}`, () => {
      const ids = Array.from({ length: c.size }, (_, i) => String(i + 1));
      const r = newTestRaft("1", { voters: ids });
      makeLeader(r);
      commitNoopEntry(r);
      r.propose([entry(0, 0, "some data")]);
      for (const m of readMessages(r)) {
        if (c.acceptors.includes(m.to)) r.step(acceptAppend(m));
      }
      assert.equal(r.log.committed > 1, c.commits);
    });
  }
});

Deno.test("a leader commits preceding entries of earlier terms with its own (section 5.3)", async (t) => {
  const cases = [[], [2], [1, 1], [1, 2], [1, 2, 3]] as number[][];
  for (const terms of cases) {
    await t.step(`earlier log terms ${JSON.stringify(terms)}`, () => {
      const storage = storageWith({
        voters: THREE,
        terms,
        hardState: { term: 2, vote: NO_NODE, commit: 0 },
      });
      const r = newTestRaft("1", { voters: THREE, storage });
      r.term = 2;
      r.becomeCandidate();
      r.becomeLeader();
      r.propose([entry(0, 0, "some data")]);
      for (const m of readMessages(r)) r.step(acceptAppend(m));
      const lastIndex = terms.length + 2;
      assert.equal(r.log.committed, lastIndex);
      const applied = persistAndApply(r);
      assert.deepEqual(applied.map((e) => e.term), [...terms, 3, 3]);
    });
  }
});

Deno.test("a follower commits what the leader's commit index covers (section 5.3)", async (t) => {
  const cases = [
    { entries: [entry(1, 1, "a")], commit: 1 },
    { entries: [entry(1, 1, "a"), entry(2, 1, "b")], commit: 2 },
    { entries: [entry(1, 1, "a"), entry(2, 1, "b")], commit: 1 },
  ];
  for (const c of cases) {
    await t.step(`${c.entries.length} entries, leader commit ${c.commit}`, () => {
      const r = newTestRaft("1", { voters: THREE });
      r.becomeFollower(1, "2");
      r.step(msg(MessageType.App, "2", "1", { term: 1, entries: c.entries, commit: c.commit }));
      assert.equal(r.log.committed, c.commit);
      const applied = persistAndApply(r);
      assert.deepEqual(applied, c.entries.slice(0, c.commit));
    });
  }
});

Deno.test("a follower accepts an append only where its log matches (index, logTerm) (section 5.3)", async (t) => {
  // Log [1:1, 2:2], commit 1. Columns: prev term, prev index, answer index, reject, hint, hint term.
  const cases = [
    [0, 0, 1, false, 0, 0], // matches committed entries
    [1, 1, 1, false, 0, 0],
    [2, 2, 2, false, 0, 0], // matches an uncommitted entry
    [1, 2, 2, true, 1, 1], // mismatch at an existing entry
    [3, 3, 3, true, 2, 2], // no entry there at all
  ] as const;
  for (const [logTerm, index, answer, reject, hint, hintTerm] of cases) {
    await t.step(`append after (${index}, ${logTerm})`, () => {
      const storage = storageWith({
        voters: THREE,
        terms: [1, 2],
        hardState: { term: 0, vote: NO_NODE, commit: 1 },
      });
      const r = newTestRaft("1", { storage });
      r.becomeFollower(2, "2");
      r.step(msg(MessageType.App, "2", "1", { term: 2, logTerm, index }));
      const [response] = readMessages(r);
      assert.deepEqual(
        [
          response?.type,
          response?.index,
          response?.reject,
          response?.rejectHint,
          response?.logTerm,
        ],
        [MessageType.AppResp, answer, reject, hint, hintTerm],
      );
    });
  }
});

Deno.test("a follower deletes conflicting entries and appends new ones (section 5.3)", async (t) => {
  // Log [1:1, 2:2]. Columns: prev index, prev term, entries' terms, resulting log, unstable terms.
  const cases: [number, number, number[], number[], number[]][] = [
    [2, 2, [3], [1, 2, 3], [3]],
    [1, 1, [3, 4], [1, 3, 4], [3, 4]],
    [0, 0, [1], [1, 2], []],
    [0, 0, [3], [3], [3]],
  ];
  for (const [index, logTerm, terms, wantLog, wantUnstable] of cases) {
    await t.step(`append ${JSON.stringify(terms)} after (${index}, ${logTerm})`, () => {
      const r = newTestRaft("1", { storage: storageWith({ voters: THREE, terms: [1, 2] }) });
      r.becomeFollower(2, "2");
      const entries = terms.map((term, i) => entry(index + 1 + i, term));
      r.step(msg(MessageType.App, "2", "1", { term: 4, logTerm, index, entries }));
      assert.deepEqual(logTerms(r), wantLog);
      assert.deepEqual(r.log.unstable.entries.map((e) => e.term), wantUnstable);
    });
  }
});

Deno.test("a leader brings every Figure 7 follower log in line with its own (section 5.3)", async (t) => {
  const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const term = 8;
  const followers: number[][] = [
    [1, 1, 1, 4, 4, 5, 5, 6, 6], // (a) missing one entry
    [1, 1, 1, 4], // (b) missing many
    [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // (c) one extra uncommitted entry
    [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // (d) extra entries of a later term
    [1, 1, 1, 4, 4, 4, 4], // (e) extra entries of an old term
    [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // (f) a divergent history
  ];
  for (const [i, followerTerms] of followers.entries()) {
    await t.step(`follower (${"abcdef"[i]})`, () => {
      const leaderStorage = storageWith({
        voters: THREE,
        terms: leaderTerms,
        hardState: { term, vote: NO_NODE, commit: leaderTerms.length },
      });
      const followerStorage = storageWith({
        voters: THREE,
        terms: followerTerms,
        hardState: { term: term - 1, vote: NO_NODE, commit: 0 },
      });
      // The follower's log may be more up to date; a third (silent) node's vote elects the leader.
      const network = new Network({
        seed: i,
        peers: [{ id: "1", storage: leaderStorage }, { id: "2", storage: followerStorage }, {
          id: "3",
          down: true,
        }],
      });
      network.campaign("1");
      network.send(msg(MessageType.VoteResp, "3", "1", { term: term + 1 }));
      assert.equal(network.status("1").state, "leader");
      network.propose("1", "x");
      const leaderLog = network.peer("1").storedEntries();
      assert.deepEqual(network.peer("2").storedEntries(), leaderLog);
      assert.deepEqual(leaderLog.map((e) => e.term), [...leaderTerms, term + 1, term + 1]);
    });
  }
});

Deno.test("a voter grants only candidates whose log is at least as up to date (section 5.4.1)", async (t) => {
  // Voter log terms; candidate's (last index, last term); rejected?
  const cases: [number[], number, number, boolean][] = [
    [[1], 1, 1, false], // same log
    [[1], 2, 1, false], // longer candidate log, same term
    [[1, 1], 1, 1, true], // shorter candidate log
    [[1], 1, 2, false], // candidate's last term is newer
    [[1], 2, 2, false],
    [[1, 1], 1, 2, false],
    [[2], 1, 1, true], // voter's last term is newer
    [[2], 2, 1, true],
    [[2, 1], 1, 1, true],
  ];
  for (const [terms, index, logTerm, rejected] of cases) {
    await t.step(`voter ${JSON.stringify(terms)}, candidate (${index}, ${logTerm})`, () => {
      const r = newTestRaft("1", { storage: storageWith({ voters: ["1", "2"], terms }) });
      r.step(msg(MessageType.Vote, "2", "1", { term: 3, index, logTerm }));
      const [response] = readMessages(r);
      assert.equal(response?.type, MessageType.VoteResp);
      assert.equal(response?.reject, rejected);
    });
  }
});

Deno.test("a leader only commits log from current term by counting replicas (section 5.4.2)", async (t) => {
  // Log [1:1, 2:2], leader in term 3. Acknowledging index i commits only from index 3 on.
  for (const [acked, committed] of [[1, 0], [2, 0], [3, 3]] as const) {
    await t.step(`a majority has index ${acked}`, () => {
      const storage = storageWith({ voters: ["1", "2"], terms: [1, 2] });
      const r = newTestRaft("1", { storage });
      r.loadState({ term: 2, vote: NO_NODE, commit: 0 });
      makeLeader(r); // term 3, appends the empty entry at index 3
      r.step(msg(MessageType.AppResp, "2", "1", { term: r.term, index: acked }));
      assert.equal(r.log.committed, committed);
    });
  }
});

/** Commits the leader's empty entry by having every follower acknowledge it. */
function commitNoopEntry(r: Raft): void {
  assert.equal(r.state, "leader");
  bcastAppend(r);
  for (const m of readMessages(r)) r.step(acceptAppend(m));
  persistAndApply(r);
  readMessages(r);
}

/** The follower's positive answer to an append. */
function acceptAppend(m: Message): Message {
  assert.equal(m.type, MessageType.App);
  return msg(MessageType.AppResp, m.to, m.from, {
    term: m.term,
    index: m.index + m.entries.length,
  });
}
