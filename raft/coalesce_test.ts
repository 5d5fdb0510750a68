/**
 * Tests of Ready message coalescing: continuing appends to one follower join,
 * accepting acknowledgements keep the highest index, and nothing joins across
 * a gap, a term, a rejection, another message to the same recipient or the
 * size limit. (raw_node_test.ts checks a leader's Ready end to end.)
 */

import assert from "node:assert/strict";
import { entry, msg } from "./_test_util.ts";
import { coalesceMessages } from "./coalesce.ts";
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
