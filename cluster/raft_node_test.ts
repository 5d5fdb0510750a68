/**
 * Tests of the Raft node driver against a persistence whose saves are held
 * open: votes wait for the durable term and vote, the leader's appends leave
 * while it saves them, nothing is applied before it is durable, and what is
 * durable is applied without waiting for the save of newer entries.
 */

import assert from "node:assert/strict";
import { silentLogger } from "../base/log.ts";
import { Rng } from "../base/rng.ts";
import type { Transport } from "../net/mod.ts";
import {
  type ConfState,
  decodeMessage,
  encodeMessage,
  MemoryStorage,
  MessageType,
  newMessage,
  type Ready,
} from "../raft/mod.ts";
import { COMMIT_NOTICE_HOLD_MS } from "./commit_notices.ts";
import { ClusterMessage, type RaftApplier, RaftNode, type RaftPersistence } from "./raft_node.ts";

class HeldPersistence implements RaftPersistence {
  readonly storage = MemoryStorage.bootstrap({ voters: ["a", "b", "c"], learners: [] });
  readonly pending: { ready: Ready; release: () => void }[] = [];

  save(ready: Ready): Promise<void> {
    return new Promise((resolve) => {
      this.pending.push({
        ready,
        release: () => {
          if (ready.snapshot) this.storage.applySnapshot(ready.snapshot);
          if (ready.hardState) this.storage.setHardState(ready.hardState);
          this.storage.append(ready.entries);
          resolve();
        },
      });
    });
  }

  compact(_index: number, _confState: ConfState, _data: Uint8Array): Promise<void> {
    return Promise.resolve();
  }
}

/** Handlers the node registered for one-way messages, by type (to deliver messages through). */
const receivers = new Map<number, (from: string, body: Uint8Array) => void>();

function recordingTransport(sent: { to: string; type: number; body: Uint8Array }[]): Transport {
  return {
    nodeId: "a",
    handle: () => {},
    onMessage: (type, handler) => {
      receivers.set(type, (from, body) => handler(from, body));
    },
    send: (to, type, body) => {
      sent.push({ to: to as string, type, body: body as Uint8Array });
    },
    request: () => Promise.resolve(new Uint8Array()),
    connect: () => Promise.resolve("x"),
    ping: () => Promise.resolve(0),
    releaseBody: () => {},
    takeBody: (size) => new Uint8Array(size),
    disconnect: () => {},
    peers: () => [],
    close: () => Promise.resolve(),
  };
}

const applier: RaftApplier = {
  applyEntry: () => {},
  applyConfChange: () => {},
  restore: () => {},
  snapshotData: () => new Uint8Array(),
};

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

function startNode(
  sent: { to: string; type: number; body: Uint8Array }[],
  stateMachine: RaftApplier = applier,
) {
  const persistence = new HeldPersistence();
  const node = new RaftNode({
    id: "a",
    persistence,
    transport: recordingTransport(sent),
    applier: stateMachine,
    logger: silentLogger,
    rng: new Rng(1),
    timings: { tickMs: 10, electionTicks: 10, heartbeatTicks: 1, snapshotEntries: 100 },
  });
  node.start({ timer: false });
  return { node, persistence };
}

/** Runs node a's pre-vote round and returns the held save of its term and vote. */
async function campaign(
  node: RaftNode,
  persistence: HeldPersistence,
  sent: { to: string; type: number; body: Uint8Array }[],
) {
  node.raw.campaign();
  node.tick();
  await settle();
  // The pre-vote round changes no durable state; grant it so the real vote starts.
  for (const save of persistence.pending.splice(0)) save.release();
  await settle();
  const preVote = sent.find((message) => decodeMessage(message.body).type === MessageType.PreVote);
  assert.ok(preVote !== undefined, "pre-votes went out");
  const term = decodeMessage(preVote.body).term;
  for (const from of ["b", "c"]) {
    node.raw.step(newMessage({ type: MessageType.PreVoteResp, from, to: "a", term }));
  }
  sent.length = 0;
  node.tick();
  await settle();
  const held = persistence.pending.find((save) => save.ready.hardState?.vote === "a");
  assert.ok(held !== undefined, "the candidate's term and vote are being saved");
  return { held, term: held.ready.hardState!.term };
}

/** Node a, elected with b's vote: the leader, its saves held, b replicating. */
async function electedLeader(
  sent: { to: string; type: number; body: Uint8Array }[],
  stateMachine: RaftApplier = applier,
) {
  const { node, persistence } = startNode(sent, stateMachine);
  const { held, term } = await campaign(node, persistence, sent);
  held.release();
  await settle();
  node.raw.step(newMessage({ type: MessageType.VoteResp, from: "b", to: "a", term }));
  node.tick();
  await settle();
  return { node, persistence, term };
}

/** Releases the node's saves, round after round, until it has nothing more to save. */
async function releaseSaves(persistence: HeldPersistence): Promise<void> {
  await settle();
  for (let round = 0; round < 5 && persistence.pending.length > 0; round++) {
    for (const save of persistence.pending.splice(0)) save.release();
    await settle();
  }
}

/** Proposes `text` on the leader; returns its index. */
function proposeText(node: RaftNode, text: string): number {
  const proposed = node.propose(new TextEncoder().encode(text));
  assert.equal(proposed.kind, "appended");
  return proposed.kind === "appended" ? proposed.index : 0;
}

/** b acknowledges the log up to `index`. */
async function acknowledgeFromB(node: RaftNode, term: number, index: number): Promise<void> {
  node.raw.step(newMessage({ type: MessageType.AppResp, from: "b", to: "a", term, index }));
  node.tick();
  await settle();
}

Deno.test("RaftNode sends vote requests only after the new term and vote are durable", async () => {
  const sent: { to: string; type: number; body: Uint8Array }[] = [];
  const { node, persistence } = startNode(sent);
  const { held } = await campaign(node, persistence, sent);
  const votesInReady = held.ready.messages.filter((m) => m.type === MessageType.Vote);
  assert.ok(votesInReady.length > 0, "the Ready carries vote requests");
  assert.equal(sent.length, 0, "nothing was sent while the vote was not durable");
  held.release();
  await settle();
  assert.equal(sent.length, votesInReady.length, "the vote requests go out once durable");
  assert.ok(sent.every((message) => message.type === ClusterMessage.raft));
  for (const save of persistence.pending.splice(0)) save.release();
  await node.stop();
});

Deno.test("RaftNode's leader sends its appends while it saves them, and applies only once they are durable", async () => {
  const sent: { to: string; type: number; body: Uint8Array }[] = [];
  const { node, persistence } = startNode(sent);
  const { held, term } = await campaign(node, persistence, sent);
  held.release();
  await settle();
  sent.length = 0;
  node.raw.step(newMessage({ type: MessageType.VoteResp, from: "b", to: "a", term }));
  node.tick();
  await settle();
  const saving = persistence.pending.find((save) => save.ready.entries.length > 0);
  assert.ok(saving !== undefined, "the leader's first entry is being saved");
  const index = saving.ready.entries[0]!.index;
  const appends = sent.map((message) => decodeMessage(message.body))
    .filter((message) => message.type === MessageType.App);
  assert.deepEqual(appends.map((message) => message.to).sort(), ["b", "c"]);
  assert.ok(appends.every((message) => message.entries.some((entry) => entry.index === index)));
  // b acknowledges at once: a quorum with the leader's own (unsaved) copy, but nothing may apply yet.
  node.raw.step(newMessage({ type: MessageType.AppResp, from: "b", to: "a", term, index }));
  node.tick();
  await settle();
  assert.ok(node.applied < index, "nothing applied before the leader's own save finished");
  for (let round = 0; round < 5 && node.applied < index; round++) {
    for (const save of persistence.pending.splice(0)) save.release();
    await settle();
  }
  assert.ok(node.applied >= index, "applied once durable");
  for (const save of persistence.pending.splice(0)) save.release();
  await node.stop();
});

Deno.test("RaftNode applies a durable committed entry while it saves newer ones", async () => {
  const sent: { to: string; type: number; body: Uint8Array }[] = [];
  const applied: string[] = [];
  const { node, persistence, term } = await electedLeader(sent, {
    ...applier,
    applyEntry: (entry) => applied.push(new TextDecoder().decode(entry.data)),
  });
  const index = proposeText(node, "x");
  await releaseSaves(persistence);
  assert.deepEqual(applied, [], "x is durable here but not yet acknowledged by a quorum");
  // b acknowledges x, and y is proposed: one Ready commits x and brings y to save.
  node.raw.step(newMessage({ type: MessageType.AppResp, from: "b", to: "a", term, index }));
  node.propose(new TextEncoder().encode("y"));
  await settle();
  const saving = persistence.pending.find((save) => save.ready.entries.length > 0);
  assert.ok(saving !== undefined, "y is being saved");
  assert.equal(saving.ready.committedEntries.at(-1)?.index, index, "the Ready commits x");
  assert.deepEqual(applied, ["x"], "x applied while y's save is held open");
  assert.equal(node.applied, index);
  await releaseSaves(persistence);
  assert.deepEqual(applied, ["x"], "y waits for b's acknowledgement");
  await node.stop();
});

Deno.test("RaftNode answers the proposers of a commit before it sends the new commit index", async () => {
  const sent: { to: string; type: number; body: Uint8Array }[] = [];
  const commitsSentWhenAnswered: number[] = [];
  const commitIndexes = () =>
    sent.map((message) => decodeMessage(message.body))
      .filter((message) => message.type === MessageType.App && message.entries.length === 0)
      .map((message) => message.commit);
  const { node, persistence, term } = await electedLeader(sent, {
    ...applier,
    // A proposer's answer runs as a microtask after its entry is applied.
    applyEntry: () => queueMicrotask(() => commitsSentWhenAnswered.push(...commitIndexes())),
  });
  const index = proposeText(node, "x");
  await releaseSaves(persistence);
  sent.length = 0;
  await acknowledgeFromB(node, term, index);
  assert.equal(node.applied, index, "x is committed and applied");
  assert.ok(
    commitsSentWhenAnswered.every((commit) => commit < index),
    `no commit index ${index} had left when x's proposer was answered`,
  );
  await new Promise((resolve) => setTimeout(resolve, COMMIT_NOTICE_HOLD_MS + 5));
  const told = sent.map((message) => decodeMessage(message.body))
    .filter((message) => message.commit >= index)
    .map((message) => message.to);
  assert.ok(told.includes("b"), "then b (replicating; c never answered) learns it");
  for (const save of persistence.pending.splice(0)) save.release();
  await node.stop();
});

Deno.test("RaftNode sends no commit notice when the next append, carrying the commit index, follows within the hold", async () => {
  const sent: { to: string; type: number; body: Uint8Array }[] = [];
  const { node, persistence, term } = await electedLeader(sent);
  const index = proposeText(node, "x");
  await releaseSaves(persistence);
  sent.length = 0;
  await acknowledgeFromB(node, term, index);
  assert.equal(node.applied, index, "x is committed");
  proposeText(node, "y");
  await releaseSaves(persistence);
  await new Promise((resolve) => setTimeout(resolve, COMMIT_NOTICE_HOLD_MS + 5));
  const toB = sent.map((message) => decodeMessage(message.body))
    .filter((message) => message.to === "b" && message.type === MessageType.App);
  assert.deepEqual(
    toB.map((message) => [message.type, message.entries.length, message.commit]),
    [[MessageType.App, 1, index]],
    "b gets y's append with x's commit index, and no separate notice",
  );
  for (const save of persistence.pending.splice(0)) save.release();
  await node.stop();
});

Deno.test("RaftNode sends at once the commit notice a follower waits for to apply the proposal it forwarded", async () => {
  const sent: { to: string; type: number; body: Uint8Array }[] = [];
  const { node, persistence, term } = await electedLeader(sent);
  const forwarded = newMessage({
    type: MessageType.Prop,
    from: "b",
    to: "a",
    entries: [{ index: 0, term: 0, type: "normal", data: new TextEncoder().encode("from b") }],
  });
  receivers.get(ClusterMessage.raft)?.("b", encodeMessage(forwarded));
  await releaseSaves(persistence);
  const index = node.raw.status().progress.get("a")!.match;
  sent.length = 0;
  await acknowledgeFromB(node, term, index);
  assert.equal(node.applied, index, "b's proposal is committed");
  const notices = sent.map((message) => decodeMessage(message.body))
    .filter((message) => message.type === MessageType.App && message.to === "b");
  assert.deepEqual(
    notices.map((message) => [message.entries.length, message.commit]),
    [[0, index]],
    "b learns the commit at once, without the hold",
  );
  for (const save of persistence.pending.splice(0)) save.release();
  await node.stop();
});
