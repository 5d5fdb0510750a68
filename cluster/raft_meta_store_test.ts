/** Tests of the Raft-backed MetaStore's read barrier, against a fake Raft node. */

import assert from "node:assert/strict";
import { silentLogger } from "../base/log.ts";
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
