/** Tests of the Raft-backed MetaStore's read barrier and proposals, against a fake Raft node. */

import assert from "node:assert/strict";
import { silentLogger } from "../base/log.ts";
import { type Command, encodeCommand } from "../meta/mod.ts";
import { MetaApplier } from "./meta_applier.ts";
import { RaftMetaStore } from "./raft_meta_store.ts";
import type { RaftNode } from "./raft_node.ts";

function fakeNode() {
  const calls: number[] = [];
  let applied = 0;
  const node = {
    get applied() {
      return applied;
    },
    readIndex(_timeoutMs: number) {
      calls.push(applied);
      applied++;
      return Promise.resolve(applied);
    },
    waitApplied(_index: number) {
      return Promise.resolve();
    },
  };
  return { node: node as unknown as RaftNode, calls };
}

Deno.test("RaftMetaStore.sync() shares one read-index round among callers of the same instant", async () => {
  const { node, calls } = fakeNode();
  const store = new RaftMetaStore({
    nodeId: "a",
    node,
    applier: new MetaApplier(silentLogger),
    logger: silentLogger,
    retryMs: 100,
    runId: "r",
  });
  await Promise.all(Array.from({ length: 16 }, () => store.sync()));
  assert.equal(calls.length, 1, "16 concurrent reads, one round");
  await store.sync();
  assert.equal(calls.length, 2, "a later read starts its own round");
});

/** Counts the timers started and not yet fired or cleared while `action` runs. */
async function liveTimersAfter(action: () => Promise<void>): Promise<number> {
  type TimerId = ReturnType<typeof setTimeout>;
  const live = new Set<TimerId>();
  const { setTimeout: realSet, clearTimeout: realClear } = globalThis;
  const countingSet = (callback: () => void, ms?: number): TimerId => {
    const id = realSet(() => {
      live.delete(id);
      callback();
    }, ms);
    live.add(id);
    return id;
  };
  const countingClear = (id?: TimerId) => {
    if (id !== undefined) live.delete(id);
    realClear(id);
  };
  globalThis.setTimeout = countingSet as unknown as typeof setTimeout;
  globalThis.clearTimeout = countingClear as unknown as typeof clearTimeout;
  try {
    await action();
  } finally {
    globalThis.setTimeout = realSet;
    globalThis.clearTimeout = realClear;
  }
  for (const id of live) realClear(id);
  return live.size;
}

Deno.test("a committed proposal leaves no timer behind", async () => {
  const applier = new MetaApplier(silentLogger);
  const addNode = (id: string): Command => ({
    type: "node.add",
    id,
    address: "127.0.0.1:1",
    zone: "z",
    role: "voter",
  });
  let index = 0;
  const commit = (data: Uint8Array) =>
    applier.applyEntry({ term: 1, index: ++index, type: "normal", data });
  commit(encodeCommand(addNode("a")));
  const node = {
    propose(data: Uint8Array) {
      queueMicrotask(() => commit(data));
      return { kind: "appended", index: index + 1, term: 1 };
    },
  } as unknown as RaftNode;
  const store = new RaftMetaStore({
    nodeId: "a",
    node,
    applier,
    logger: silentLogger,
    retryMs: 60_000,
    runId: "r",
  });
  const left = await liveTimersAfter(async () => {
    for (const id of ["b", "c", "d"]) await store.propose(addNode(id));
  });
  assert.equal(left, 0, "timers left running after the proposals were applied");
  assert.deepEqual([...store.state().nodes.keys()], ["a", "b", "c", "d"]);
});
