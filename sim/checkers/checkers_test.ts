import { assert } from "../../base/assert.ts";
import { type Entry, type Message, MessageType, newMessage } from "../../raft/mod.ts";
import { LogState } from "../wal.ts";
import { CommittedLog } from "./committed_log.ts";
import { messageAheadOfDurable } from "./durability.ts";
import { ElectionSafetyChecker } from "./election_safety.ts";
import { LeaderAppendOnlyChecker } from "./leader_append_only.ts";
import { LeaderCompletenessChecker } from "./leader_completeness.ts";
import { LogMatchingChecker } from "./log_matching.ts";
import { StateMachineSafetyChecker } from "./state_machine_safety.ts";
import { firstViolation } from "./violation.ts";

function entry(index: number, term: number, text = ""): Entry {
  return { index, term, type: "normal", data: new TextEncoder().encode(text) };
}

/** A durable log: term 3, vote for n1, entries 1..4 of terms 1,1,2,3. */
function durable(): LogState {
  const state = new LogState();
  state.apply({
    hardState: { term: 3, vote: "n1", commit: 2 },
    entries: [entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 3)],
  });
  return state;
}

const sends: { name: string; message: Message; ahead: boolean }[] = [
  {
    name: "a vote request in the durable term for the durable self-vote",
    message: newMessage({ type: MessageType.Vote, from: "n1", to: "n2", term: 3 }),
    ahead: false,
  },
  {
    name: "a vote request for a term not yet durable",
    message: newMessage({ type: MessageType.Vote, from: "n1", to: "n2", term: 4 }),
    ahead: true,
  },
  {
    name: "a vote request while the durable vote is someone else's",
    message: newMessage({ type: MessageType.Vote, from: "n2", to: "n3", term: 3 }),
    ahead: true,
  },
  {
    name: "a vote grant matching the durable vote",
    message: newMessage({ type: MessageType.VoteResp, from: "n2", to: "n1", term: 3 }),
    ahead: false,
  },
  {
    name: "a vote grant not matching the durable vote",
    message: newMessage({ type: MessageType.VoteResp, from: "n2", to: "n3", term: 3 }),
    ahead: true,
  },
  {
    name: "a vote refusal promises nothing",
    message: newMessage({
      type: MessageType.VoteResp,
      from: "n2",
      to: "n3",
      term: 3,
      reject: true,
    }),
    ahead: false,
  },
  {
    name: "a pre-vote for a future term promises nothing",
    message: newMessage({ type: MessageType.PreVote, from: "n1", to: "n2", term: 9 }),
    ahead: false,
  },
  {
    name: "an append of durable entries",
    message: newMessage({
      type: MessageType.App,
      from: "n1",
      to: "n2",
      term: 3,
      index: 2,
      logTerm: 1,
      entries: [entry(3, 2), entry(4, 3)],
    }),
    ahead: false,
  },
  {
    name: "a leader's append of its own new entries, sent while it writes them",
    message: newMessage({
      type: MessageType.App,
      from: "n1",
      to: "n2",
      term: 3,
      index: 5,
      logTerm: 3,
      entries: [entry(6, 3)],
      commit: 4,
    }),
    ahead: false,
  },
  {
    name: "an append carrying an entry of an earlier term not yet durable",
    message: newMessage({
      type: MessageType.App,
      from: "n1",
      to: "n2",
      term: 3,
      index: 4,
      logTerm: 3,
      entries: [entry(5, 2)],
    }),
    ahead: true,
  },
  {
    name: "an append whose commit index runs past the durable log",
    message: newMessage({
      type: MessageType.App,
      from: "n1",
      to: "n2",
      term: 3,
      index: 4,
      logTerm: 3,
      entries: [entry(5, 3)],
      commit: 5,
    }),
    ahead: true,
  },
  {
    name: "a heartbeat whose commit index runs past the durable log",
    message: newMessage({ type: MessageType.Heartbeat, from: "n1", to: "n2", term: 3, commit: 5 }),
    ahead: true,
  },
  {
    name: "an append after an entry whose durable term differs",
    message: newMessage({
      type: MessageType.App,
      from: "n1",
      to: "n2",
      term: 3,
      index: 3,
      logTerm: 3,
    }),
    ahead: true,
  },
  {
    name: "an append of an older term the sender durably left",
    message: newMessage({
      type: MessageType.App,
      from: "n1",
      to: "n2",
      term: 2,
      index: 4,
      logTerm: 2,
      entries: [entry(5, 2)],
    }),
    ahead: false,
  },
  {
    name: "an acknowledgement up to the durable end",
    message: newMessage({ type: MessageType.AppResp, from: "n2", to: "n1", term: 3, index: 4 }),
    ahead: false,
  },
  {
    name: "an acknowledgement past the durable end",
    message: newMessage({ type: MessageType.AppResp, from: "n2", to: "n1", term: 3, index: 5 }),
    ahead: true,
  },
  {
    name: "a heartbeat of the durable term",
    message: newMessage({ type: MessageType.Heartbeat, from: "n1", to: "n2", term: 3, commit: 2 }),
    ahead: false,
  },
];

Deno.test("durability: which messages run ahead of the durable state", async (t) => {
  for (const c of sends) {
    await t.step(c.name, () => {
      const problem = messageAheadOfDurable(c.message, durable());
      assert((problem !== null) === c.ahead, `expected ahead=${c.ahead}, got ${problem}`);
    });
  }
});

Deno.test("election safety: one leader per term, across time", () => {
  const checker = new ElectionSafetyChecker();
  assert(checker.observe("a", "leader", 1) === null, "first leader");
  assert(checker.observe("a", "leader", 1) === null, "same leader again");
  assert(checker.observe("b", "follower", 1) === null, "followers do not count");
  assert(checker.observe("b", "leader", 2) === null, "a new term may have a new leader");
  assert(checker.observe("c", "leader", 1) !== null, "a second leader of term 1, later");
});

Deno.test("leader append-only: appends pass; overwrites, foreign terms and snapshots fail", () => {
  const base = { node: "a", incarnation: 1, state: "leader", term: 4, installsSnapshot: false };
  const fresh = () => {
    const checker = new LeaderAppendOnlyChecker();
    checker.onPersist({ ...base, lastIndexBefore: 9, entries: [entry(10, 4)] });
    return checker;
  };
  assert(
    fresh().onPersist({ ...base, lastIndexBefore: 10, entries: [entry(11, 4)] }) === null,
    "ok",
  );
  assert(
    fresh().onPersist({ ...base, lastIndexBefore: 10, entries: [entry(10, 4)] }) !== null,
    "over",
  );
  assert(
    fresh().onPersist({ ...base, lastIndexBefore: 10, entries: [entry(11, 3)] }) !== null,
    "term",
  );
  assert(
    fresh().onPersist({ ...base, lastIndexBefore: 10, entries: [], installsSnapshot: true }) !==
      null,
    "snapshot",
  );
  const restarted = fresh();
  assert(
    restarted.onPersist({ ...base, incarnation: 2, lastIndexBefore: 5, entries: [entry(6, 4)] }) ===
      null,
    "a restarted node is a new leader incarnation",
  );
});

Deno.test("log matching: same (index, term) needs the same content and predecessor term", () => {
  const checker = new LogMatchingChecker();
  assert(checker.onWrite("a", [entry(1, 1, "x"), entry(2, 2, "y")], 0) === null, "first write");
  assert(checker.onWrite("b", [entry(2, 2, "y")], 1) === null, "a matching copy");
  assert(checker.onWrite("c", [entry(2, 2, "z")], 1) !== null, "different content");
  assert(checker.onWrite("d", [entry(2, 2, "y")], 2) !== null, "different predecessor term");
  assert(checker.onWrite("e", [entry(2, 3, "z")], 1) === null, "another term at the same index");
});

Deno.test("leader completeness: a leader of a later term must hold every committed entry", () => {
  const committed = new CommittedLog();
  committed.record("a", entry(1, 1, "x"), 1);
  committed.record("a", entry(2, 2, "y"), 2);
  const checker = new LeaderCompletenessChecker(committed);
  const log = (terms: number[]) => ({
    firstIndex: () => 1,
    lastIndex: () => terms.length,
    term: (index: number) => terms[index - 1],
  });
  assert(checker.onLeaderWrite("b", 3, log([1, 2, 3])) === null, "complete");
  assert(checker.onLeaderWrite("c", 4, log([1, 3])) !== null, "entry 2 replaced");
  assert(checker.onLeaderWrite("d", 5, log([1])) !== null, "entry 2 missing");
  assert(checker.onLeaderWrite("e", 2, log([1])) === null, "not a later term than the commit");
  committed.record("f", entry(3, 3, "z"), 3);
  const problem = checker.onCommitted(3, [{ node: "g", term: 4, log: log([1, 2, 2]) }]);
  assert(problem !== null, "a current leader lacking a newly committed entry");
});

Deno.test("committed log: a different entry committed at the same index is a conflict", () => {
  const committed = new CommittedLog();
  assert(committed.record("a", entry(5, 2, "x"), 4).tightened, "new");
  assert(!committed.record("b", entry(5, 2, "x"), 6).tightened, "same entry, looser bound");
  assert(committed.record("c", entry(5, 2, "x"), 3).tightened, "same entry, tighter bound");
  assert(committed.record("d", entry(5, 3, "x"), 4).conflict !== null, "another term");
});

Deno.test("state machine safety: entries and states by index must agree", () => {
  const checker = new StateMachineSafetyChecker();
  assert(checker.onApply("a", 1, 10, 100) === null, "first");
  assert(checker.onApply("b", 1, 10, 100) === null, "same");
  assert(checker.onApply("c", 1, 10, 101) !== null, "state differs");
  assert(checker.onSnapshotRestore("d", 1, 100) === null, "snapshot state matches");
  assert(checker.onSnapshotRestore("e", 1, 102) !== null, "snapshot state differs");
});

Deno.test("firstViolation names the most fundamental checker", () => {
  const found = firstViolation([
    { checker: "stateMachineSafety", message: "b", timeMs: 1 },
    { checker: "electionSafety", message: "a", timeMs: 1 },
    { checker: "durability", message: "c", timeMs: 1 },
  ]);
  assert(found?.checker === "electionSafety", "election safety first");
  assert(firstViolation([]) === undefined, "none");
});
