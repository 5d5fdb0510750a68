/**
 * Tests of RawNode and the Ready contract: what each Ready carries and when
 * it must be synced, the ready/advance pairing, gateway refusals in step(),
 * restart from storage, status, and the vote testing knob.
 */

import assert from "node:assert/strict";
import { Rng } from "../base/rng.ts";
import { entry, msg, storageWith } from "./_test_util.ts";
import type { TestingKnobs } from "./config.ts";
import { decodeConfChange, encodeConfChange } from "./codec.ts";
import { committedBeforePersist, RawNode, type Ready, sendableBeforePersist } from "./raw_node.ts";
import { MemoryStorage } from "./storage.ts";
import { MessageType, NO_NODE } from "./types.ts";

function newNode(
  id: string,
  storage: MemoryStorage,
  options: { applied?: number; testingKnobs?: TestingKnobs } = {},
): RawNode {
  return new RawNode({
    id,
    storage,
    applied: options.applied ?? 0,
    maxSizePerMsg: 1 << 20,
    maxInflightMsgs: 64,
    checkQuorum: false,
    preVote: false,
    rng: new Rng(5),
    ...(options.testingKnobs === undefined ? {} : { testingKnobs: options.testingKnobs }),
  });
}

/**
 * Node 1 of voters 1-3, elected by node 2's vote, with its empty entry
 * acknowledged by `ackedBy` and every Ready handled.
 */
function electedLeader(ackedBy: readonly string[]): { node: RawNode; storage: MemoryStorage } {
  const storage = new MemoryStorage({ confState: { voters: ["1", "2", "3"], learners: [] } });
  const node = newNode("1", storage);
  node.campaign();
  handleReady(node, storage);
  node.step(msg(MessageType.VoteResp, "2", "1", { term: 1 }));
  handleReady(node, storage);
  for (const follower of ackedBy) {
    node.step(msg(MessageType.AppResp, follower, "1", { term: 1, index: 1 }));
  }
  handleReady(node, storage);
  return { node, storage };
}

/** Follows the Ready procedure once: persist, (collect messages), apply, advance. */
function handleReady(node: RawNode, storage: MemoryStorage): Ready {
  const ready = node.ready();
  persistAndAdvance(node, storage, ready);
  return ready;
}

/** The rest of the Ready procedure for a Ready already taken: persist, apply, advance. */
function persistAndAdvance(node: RawNode, storage: MemoryStorage, ready: Ready): void {
  if (ready.snapshot !== undefined) storage.applySnapshot(ready.snapshot);
  if (ready.hardState !== undefined) storage.setHardState(ready.hardState);
  storage.append(ready.entries);
  for (const e of ready.committedEntries) {
    if (e.type === "confChange") node.applyConfChange(decodeConfChange(e.data));
  }
  node.advance();
}

Deno.test("a single node's first Readies carry role, vote, entries and commits in order", () => {
  const storage = new MemoryStorage({ confState: { voters: ["1"], learners: [] } });
  const node = newNode("1", storage);
  assert.equal(node.hasReady(), false, "nothing to do before anything happens");
  node.campaign();
  const first = handleReady(node, storage);
  assert.deepEqual(first.softState, { lead: "1", state: "leader" });
  assert.deepEqual(first.hardState, { term: 1, vote: "1", commit: 1 });
  assert.deepEqual(first.entries.map((e) => [e.index, e.term]), [[1, 1]]);
  assert.deepEqual(
    first.committedEntries.map((e) => e.index),
    [1],
    "committed, to apply after persisting",
  );
  assert.equal(first.mustSync, true);
  assert.equal(node.hasReady(), false);
  assert.deepEqual(node.propose(new TextEncoder().encode("x")), {
    kind: "appended",
    index: 2,
    term: 1,
  });
  const second = handleReady(node, storage);
  assert.equal(second.softState, undefined, "unchanged soft state is not repeated");
  assert.deepEqual(second.hardState, { term: 1, vote: "1", commit: 2 });
  assert.deepEqual(second.committedEntries.map((e) => e.index), [2]);
  assert.equal(node.status().applied, 2);
});

Deno.test("a Ready whose only durable change is the commit index need not be synced", () => {
  const storage = new MemoryStorage({ confState: { voters: ["1", "2"], learners: [] } });
  const node = newNode("1", storage);
  node.step(msg(MessageType.App, "2", "1", { term: 1, entries: [entry(1, 1)] }));
  assert.equal(handleReady(node, storage).mustSync, true, "new entries and a new term");
  node.step(msg(MessageType.Heartbeat, "2", "1", { term: 1, commit: 1 }));
  const ready = handleReady(node, storage);
  assert.deepEqual(ready.hardState, { term: 1, vote: NO_NODE, commit: 1 });
  assert.equal(ready.mustSync, false);
  assert.deepEqual(ready.messages.map((m) => m.type), [MessageType.HeartbeatResp]);
});

Deno.test("a vote is in the same Ready as the hard state recording it (persist, then send)", () => {
  const storage = new MemoryStorage({ confState: { voters: ["1", "2", "3"], learners: [] } });
  const node = newNode("1", storage);
  node.step(msg(MessageType.Vote, "2", "1", { term: 5 }));
  const ready = node.ready();
  assert.deepEqual(ready.hardState, { term: 5, vote: "2", commit: 0 });
  assert.equal(ready.mustSync, true);
  assert.deepEqual(ready.messages.map((m) => [m.type, m.to, m.reject]), [[
    MessageType.VoteResp,
    "2",
    false,
  ]]);
  node.advance();
});

Deno.test("a leader's appends may leave before their Ready is durable; votes and acknowledgements wait", () => {
  const storage = new MemoryStorage({ confState: { voters: ["1", "2", "3"], learners: [] } });
  const node = newNode("1", storage);
  node.campaign();
  const campaign = handleReady(node, storage);
  assert.deepEqual(campaign.messages.map((m) => m.type), [MessageType.Vote, MessageType.Vote]);
  assert.ok(campaign.messages.every((m) => !sendableBeforePersist(m, campaign)));
  node.step(msg(MessageType.VoteResp, "2", "1", { term: 1 }));
  const leading = node.ready();
  assert.deepEqual(leading.entries.map((e) => e.index), [1], "the leader's empty entry");
  assert.deepEqual(leading.messages.map((m) => m.type), [MessageType.App, MessageType.App]);
  assert.ok(leading.messages.every((m) => sendableBeforePersist(m, leading)));
  persistAndAdvance(node, storage, leading);

  const followerStorage = new MemoryStorage({
    confState: { voters: ["1", "2", "3"], learners: [] },
  });
  const follower = newNode("2", followerStorage);
  follower.step(msg(MessageType.App, "1", "2", { term: 1, entries: [entry(1, 1)] }));
  const appended = follower.ready();
  assert.deepEqual(appended.messages.map((m) => m.type), [MessageType.AppResp]);
  assert.equal(sendableBeforePersist(appended.messages[0]!, appended), false);
  persistAndAdvance(follower, followerStorage, appended);
});

Deno.test("with one voter, an append that tells a learner of a commit in the same Ready waits", () => {
  const storage = new MemoryStorage({ confState: { voters: ["1"], learners: ["2"] } });
  const node = newNode("1", storage);
  node.campaign();
  handleReady(node, storage);
  node.step(msg(MessageType.AppResp, "2", "1", { term: 1, index: 1 }));
  handleReady(node, storage);
  node.propose(new TextEncoder().encode("x"));
  const ready = node.ready();
  assert.deepEqual(ready.entries.map((e) => e.index), [2]);
  assert.deepEqual(ready.committedEntries.map((e) => e.index), [2], "one voter commits on append");
  const toLearner = ready.messages.find((m) => m.type === MessageType.App && m.to === "2");
  assert.ok(toLearner !== undefined && toLearner.commit === 2);
  assert.equal(sendableBeforePersist(toLearner, ready), false);
  assert.deepEqual(
    committedBeforePersist(ready),
    [],
    "nor is the entry applied before it is durable",
  );
  persistAndAdvance(node, storage, ready);
});

Deno.test("committed entries already durable may be applied while newer ones are persisted", () => {
  const { node, storage } = electedLeader(["2"]);
  node.propose(new TextEncoder().encode("x"));
  handleReady(node, storage);
  // Entry 2 is durable here; its acknowledgement and a new proposal share the next Ready.
  node.step(msg(MessageType.AppResp, "2", "1", { term: 1, index: 2 }));
  node.propose(new TextEncoder().encode("y"));
  const ready = node.ready();
  assert.deepEqual(ready.entries.map((e) => e.index), [3]);
  assert.deepEqual(ready.committedEntries.map((e) => e.index), [2]);
  assert.deepEqual(committedBeforePersist(ready).map((e) => e.index), [2]);
  persistAndAdvance(node, storage, ready);

  const followerStorage = new MemoryStorage({
    confState: { voters: ["1", "2", "3"], learners: [] },
  });
  const follower = newNode("2", followerStorage);
  follower.step(
    msg(MessageType.App, "1", "2", { term: 1, entries: [entry(1, 1), entry(2, 1)], commit: 2 }),
  );
  const learned = follower.ready();
  assert.deepEqual(learned.committedEntries.map((e) => e.index), [1, 2]);
  assert.deepEqual(committedBeforePersist(learned), [], "learnt in this Ready: persist first");
  persistAndAdvance(follower, followerStorage, learned);
});

Deno.test("a leader's Ready after many proposals carries one append per follower", () => {
  const { node, storage } = electedLeader(["2", "3"]);
  for (let i = 0; i < 10; i++) node.propose(new TextEncoder().encode(`p${i}`));
  const ready = handleReady(node, storage);
  const indexes = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  assert.deepEqual(ready.entries.map((e) => e.index), indexes);
  const appends = ready.messages.filter((m) => m.type === MessageType.App);
  assert.deepEqual(appends.map((m) => m.to).sort(), ["2", "3"]);
  for (const append of appends) assert.deepEqual(append.entries.map((e) => e.index), indexes);
  // One acknowledgement of the last index releases all ten in-flight appends.
  node.step(msg(MessageType.AppResp, "2", "1", { term: 1, index: 11 }));
  assert.equal(node.status().progress.get("3")?.inflightCount, 10, "counted as sent by the core");
  assert.equal(node.status().progress.get("2")?.match, 11);
  assert.equal(node.status().progress.get("2")?.inflightCount, 0);
  assert.equal(node.status().commit, 11);
});

Deno.test("the early-applied prefix stops at a membership change and is empty with a snapshot", () => {
  const change = {
    index: 3,
    term: 1,
    type: "confChange" as const,
    data: encodeConfChange({ type: "addNode", nodeId: "4", context: new Uint8Array() }),
  };
  const ready: Ready = {
    entries: [entry(6, 1)],
    committedEntries: [entry(2, 1), change, entry(4, 1), entry(5, 1)],
    messages: [],
    readStates: [],
    mustSync: true,
  };
  assert.deepEqual(committedBeforePersist(ready).map((e) => e.index), [2]);
  const snapshot = {
    data: new Uint8Array(),
    metadata: { index: 1, term: 1, confState: { voters: ["1"], learners: [] } },
  };
  assert.deepEqual(committedBeforePersist({ ...ready, snapshot }), []);
});

Deno.test("ready() must be paired with advance(); work done in between goes into the next Ready", () => {
  const storage = new MemoryStorage({ confState: { voters: ["1", "2"], learners: [] } });
  const node = newNode("1", storage);
  assert.throws(() => node.advance(), /without an outstanding/);
  node.step(msg(MessageType.App, "2", "1", { term: 1, entries: [entry(1, 1)] }));
  const first = node.ready();
  assert.throws(() => node.ready(), /before advance/);
  assert.equal(node.hasReady(), false, "nothing new until advance()");
  // A message arrives while the application is persisting.
  node.step(
    msg(MessageType.App, "2", "1", {
      term: 1,
      index: 1,
      logTerm: 1,
      entries: [entry(2, 1)],
      commit: 1,
    }),
  );
  storage.setHardState(first.hardState!);
  storage.append(first.entries);
  node.advance();
  assert.equal(node.hasReady(), true);
  const second = node.ready();
  assert.deepEqual(second.entries.map((e) => e.index), [2]);
  assert.deepEqual(second.committedEntries.map((e) => e.index), [1]);
  assert.deepEqual(second.messages.map((m) => m.index), [2]);
  node.advance();
});

Deno.test("step() refuses local, malformed, misaddressed and unknown-peer messages", () => {
  const storage = new MemoryStorage({ confState: { voters: ["1", "2"], learners: [] } });
  const node = newNode("1", storage);
  const cases = [
    [msg(MessageType.Hup, "2", "1"), "localMessage"],
    [msg(MessageType.Beat, "2", "1"), "localMessage"],
    [
      msg(MessageType.App, "2", "1", { term: 1, index: 0, entries: [entry(5, 1)] }),
      "invalidMessage",
    ],
    [msg(MessageType.Heartbeat, "2", "9", { term: 1 }), "wrongRecipient"],
    [msg(MessageType.AppResp, "7", "1", { term: 1 }), "unknownPeer"],
  ] as const;
  for (const [message, reason] of cases) {
    const result = node.step(message);
    assert.equal(result.kind === "rejected" && result.reason, reason, message.type);
  }
  assert.equal(node.status().term, 0, "nothing was stepped");
  assert.deepEqual(node.step(msg(MessageType.Heartbeat, "2", "1", { term: 1 })), {
    kind: "stepped",
  });
});

Deno.test("a restarted node resumes from storage and re-delivers only unapplied entries", () => {
  const storage = storageWith({
    voters: ["1", "2"],
    terms: [1, 1, 1, 1],
    hardState: { term: 1, vote: "2", commit: 3 },
  });
  const node = newNode("1", storage, { applied: 1 });
  const status = node.status();
  assert.deepEqual([status.term, status.vote, status.commit, status.applied], [1, "2", 3, 1]);
  const ready = node.ready();
  assert.equal(ready.hardState, undefined, "nothing new to persist");
  assert.equal(ready.mustSync, false);
  assert.deepEqual(ready.committedEntries.map((e) => e.index), [2, 3]);
  node.advance();
  assert.equal(node.status().applied, 3);
});

Deno.test("status() reports progress only on the leader", () => {
  const storage = new MemoryStorage({ confState: { voters: ["1"], learners: ["2"] } });
  const node = newNode("1", storage);
  assert.equal(node.status().progress.size, 0);
  node.campaign();
  handleReady(node, storage);
  const status = node.status();
  assert.equal(status.state, "leader");
  assert.deepEqual([...status.progress.keys()], ["1", "2"]);
  assert.equal(status.progress.get("2")?.isLearner, true);
  assert.equal(status.progress.get("1")?.match, 1);
  assert.deepEqual(status.confState, { voters: ["1"], learners: ["2"] });
});

Deno.test("applyConfChange() returns the new membership and the leader replicates to new members", () => {
  const storage = new MemoryStorage({ confState: { voters: ["1"], learners: [] } });
  const node = newNode("1", storage);
  node.campaign();
  handleReady(node, storage);
  const result = node.proposeConfChange({
    type: "addNode",
    nodeId: "2",
    context: new Uint8Array([1]),
  });
  assert.equal(result.kind, "appended");
  const ready = handleReady(node, storage);
  assert.equal(ready.committedEntries[0]?.type, "confChange");
  assert.deepEqual(node.status().confState, { voters: ["1", "2"], learners: [] });
  const next = node.ready();
  assert.deepEqual(next.messages.map((m) => [m.type, m.to]), [[MessageType.App, "2"]]);
  node.advance();
});

Deno.test("read states arrive in a Ready", () => {
  const storage = new MemoryStorage({ confState: { voters: ["1"], learners: [] } });
  const node = newNode("1", storage);
  node.campaign();
  handleReady(node, storage);
  node.readIndex(new Uint8Array([42]));
  const ready = handleReady(node, storage);
  assert.deepEqual(ready.readStates, [{ index: 1, context: new Uint8Array([42]) }]);
});

Deno.test("the skipLogTermVoteCheck knob grants a vote to a candidate with an older last term (planted bug)", () => {
  for (const skip of [false, true]) {
    const storage = storageWith({ voters: ["1", "2"], terms: [1, 3] });
    const node = newNode("1", storage, { testingKnobs: { skipLogTermVoteCheck: skip } });
    // The candidate's log is longer but ends in an older term: it is NOT up to date.
    node.step(msg(MessageType.Vote, "2", "1", { term: 4, index: 5, logTerm: 2 }));
    const [response] = node.ready().messages;
    assert.equal(response?.reject, !skip);
    node.advance();
  }
});

Deno.test("proposeConfChange() refuses an empty or oversized node id before encoding it", () => {
  const storage = new MemoryStorage({ confState: { voters: ["1"], learners: [] } });
  const node = newNode("1", storage);
  node.campaign();
  handleReady(node, storage);
  for (const nodeId of ["", "x".repeat(256)]) {
    const result = node.proposeConfChange({ type: "addNode", nodeId, context: new Uint8Array() });
    assert.equal(result.kind === "dropped" && result.reason, "invalidConfChange");
  }
});
