/**
 * Tests of the Raft node driver against a persistence whose saves are held
 * open: no message leaves before the state it depends on is durable.
 */

import assert from "node:assert/strict";
import { silentLogger } from "../base/log.ts";
import { Rng } from "../base/rng.ts";
import type { Transport } from "../net/mod.ts";
import {
  type ConfState,
  decodeMessage,
  MemoryStorage,
  MessageType,
  newMessage,
  type Ready,
} from "../raft/mod.ts";
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

function recordingTransport(sent: { to: string; type: number; body: Uint8Array }[]): Transport {
  return {
    nodeId: "a",
    handle: () => {},
    onMessage: () => {},
    send: (to, type, body) => {
      sent.push({ to: to as string, type, body: body as Uint8Array });
    },
    request: () => Promise.resolve(new Uint8Array()),
    connect: () => Promise.resolve("x"),
    ping: () => Promise.resolve(0),
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

Deno.test("RaftNode sends vote requests only after the new term and vote are durable", async () => {
  const persistence = new HeldPersistence();
  const sent: { to: string; type: number; body: Uint8Array }[] = [];
  const node = new RaftNode({
    id: "a",
    persistence,
    transport: recordingTransport(sent),
    applier,
    logger: silentLogger,
    rng: new Rng(1),
    timings: { tickMs: 10, electionTicks: 10, heartbeatTicks: 1, snapshotEntries: 100 },
  });
  node.start({ timer: false });
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
