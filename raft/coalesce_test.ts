/**
 * Tests of Ready message coalescing: continuing appends to one follower join,
 * accepting acknowledgements keep the highest index, and nothing joins across
 * a gap, a term, a rejection, another message to the same recipient or the
 * size limit. Also checks, end to end, that a leader's Ready after many
 * proposals carries one append per follower.
 */

import assert from "node:assert/strict";
import { Rng } from "../base/rng.ts";
import { entry, msg } from "./_test_util.ts";
import { coalesceMessages } from "./coalesce.ts";
import { RawNode } from "./raw_node.ts";
import { MemoryStorage } from "./storage.ts";
import { MessageType } from "./types.ts";

const app = (to: string, index: number, logTerm: number, indexes: number[], commit: number) =>
  msg(MessageType.App, "1", to, {
    term: 2,
    index,
    logTerm,
    entries: indexes.map((i) => entry(i, 2, "xy")),
    commit,
  });

Deno.test("continuing appends to a follower join, carrying the later commit index", () => {
  const joined = coalesceMessages(
    [app("2", 4, 1, [5], 3), app("3", 4, 1, [5], 3), app("2", 5, 2, [6, 7], 5)],
    1024,
  );
  assert.deepEqual(joined.map((m) => [m.to, m.index, m.entries.map((e) => e.index), m.commit]), [
    ["2", 4, [5, 6, 7], 5],
    ["3", 4, [5], 3],
  ]);
});

Deno.test("appends do not join across a gap, a term, a size limit or another message", () => {
  const gap = [app("2", 4, 1, [5], 3), app("2", 6, 2, [7], 3)];
  assert.equal(coalesceMessages(gap, 1024).length, 2);
  const otherTerm = [app("2", 4, 1, [5], 3), { ...app("2", 5, 2, [6], 3), term: 3 }];
  assert.equal(coalesceMessages(otherTerm, 1024).length, 2);
  const tooBig = [app("2", 4, 1, [5], 3), app("2", 5, 2, [6], 3)];
  assert.equal(coalesceMessages(tooBig, 3).length, 2, "two 2-byte entries exceed 3 bytes");
  const between = [
    app("2", 4, 1, [5], 3),
    msg(MessageType.Heartbeat, "1", "2", { term: 2, commit: 3 }),
    app("2", 5, 2, [6], 3),
  ];
  assert.deepEqual(coalesceMessages(between, 1024).map((m) => m.type), [
    MessageType.App,
    MessageType.Heartbeat,
    MessageType.App,
  ]);
  const empty = [app("2", 5, 2, [], 3), app("2", 5, 2, [6], 4)];
  assert.equal(coalesceMessages(empty, 1024).length, 2, "an empty append (a probe) stays alone");
});

Deno.test("accepting acknowledgements keep the highest index; rejections stay", () => {
  const ack = (index: number, reject = false) =>
    msg(MessageType.AppResp, "2", "1", { term: 2, index, reject });
  assert.deepEqual(coalesceMessages([ack(5), ack(7), ack(6)], 1024).map((m) => m.index), [7]);
  assert.deepEqual(
    coalesceMessages([ack(5), ack(4, true), ack(7)], 1024).map((m) => [m.index, m.reject]),
    [[5, false], [4, true], [7, false]],
  );
});

Deno.test("a leader's Ready after many proposals carries one append per follower", () => {
  const storage = new MemoryStorage({ confState: { voters: ["1", "2", "3"], learners: [] } });
  const node = new RawNode({
    id: "1",
    storage,
    applied: 0,
    maxSizePerMsg: 1 << 20,
    maxInflightMsgs: 64,
    checkQuorum: false,
    preVote: false,
    rng: new Rng(3),
  });
  const persist = () => {
    const ready = node.ready();
    if (ready.hardState !== undefined) storage.setHardState(ready.hardState);
    storage.append(ready.entries);
    node.advance();
    return ready;
  };
  node.campaign();
  persist();
  node.step(msg(MessageType.VoteResp, "2", "1", { term: 1 }));
  persist();
  node.step(msg(MessageType.AppResp, "2", "1", { term: 1, index: 1 }));
  node.step(msg(MessageType.AppResp, "3", "1", { term: 1, index: 1 }));
  persist();
  for (let i = 0; i < 10; i++) node.propose(new TextEncoder().encode(`p${i}`));
  const ready = persist();
  assert.deepEqual(ready.entries.map((e) => e.index), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const appends = ready.messages.filter((m) => m.type === MessageType.App);
  assert.deepEqual(appends.map((m) => m.to).sort(), ["2", "3"]);
  for (const append of appends) {
    assert.deepEqual(append.entries.map((e) => e.index), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  }
  // One acknowledgement of the last index releases all ten in-flight appends.
  node.step(msg(MessageType.AppResp, "2", "1", { term: 1, index: 11 }));
  assert.equal(node.status().progress.get("3")?.inflightCount, 10, "counted as sent by the core");
  assert.equal(node.status().progress.get("2")?.match, 11);
  assert.equal(node.status().progress.get("2")?.inflightCount, 0);
  assert.equal(node.status().commit, 11);
});
