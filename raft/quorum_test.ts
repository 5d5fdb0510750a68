/** Tests of majority quorums, including an oracle check against a naive implementation. */

import assert from "node:assert/strict";
import { Rng } from "../base/rng.ts";
import { majorityCommittedIndex, majorityVoteResult, type VoteResult } from "./quorum.ts";

/** The naive definition: the largest index that more than half of the voters have reached. */
function naiveCommittedIndex(acked: number[]): number {
  let best = 0;
  for (const candidate of acked) {
    const reached = acked.filter((index) => index >= candidate).length;
    if (reached * 2 > acked.length) best = Math.max(best, candidate);
  }
  return best;
}

function naiveVoteResult(votes: (boolean | undefined)[]): VoteResult {
  const quorum = Math.floor(votes.length / 2) + 1;
  const granted = votes.filter((v) => v === true).length;
  const rejected = votes.filter((v) => v === false).length;
  if (votes.length === 0 || granted >= quorum) return "won";
  if (votes.length - rejected >= quorum) return "pending";
  return "lost";
}

Deno.test("majorityCommittedIndex() agrees with the naive definition on random inputs", () => {
  const rng = new Rng(2024);
  for (let round = 0; round < 20_000; round++) {
    const size = rng.between(1, 7);
    const ids = Array.from({ length: size }, (_, i) => `n${i}`);
    const acked = ids.map(() => rng.int(10));
    const map = new Map(ids.map((id, i) => [id, acked[i]!]));
    assert.equal(
      majorityCommittedIndex(ids, (id) => map.get(id)),
      naiveCommittedIndex(acked),
      `${acked}`,
    );
  }
});

Deno.test("majorityVoteResult() agrees with the naive definition on random inputs", () => {
  const rng = new Rng(7);
  for (let round = 0; round < 20_000; round++) {
    const size = rng.between(0, 7);
    const votes = Array.from({ length: size }, () => rng.pick([true, false, undefined]));
    const ids = votes.map((_, i) => `n${i}`);
    assert.equal(
      majorityVoteResult(ids, (id) => votes[ids.indexOf(id)]),
      naiveVoteResult(votes),
      `${votes}`,
    );
  }
});

Deno.test("a missing voter counts as index 0 and an empty voter set commits nothing", () => {
  assert.equal(majorityCommittedIndex(["a", "b", "c"], (id) => (id === "a" ? 5 : undefined)), 0);
  assert.equal(majorityCommittedIndex(["a", "b", "c"], (id) => (id === "c" ? undefined : 5)), 5);
  assert.equal(majorityCommittedIndex([], () => 9), 0);
});

Deno.test("vote outcomes: won with a majority, lost when a majority refused, else pending", () => {
  const votes = (v: Record<string, boolean>) => (id: string) => v[id];
  assert.equal(majorityVoteResult(["a", "b", "c"], votes({ a: true, b: true })), "won");
  assert.equal(majorityVoteResult(["a", "b", "c"], votes({ a: true, b: false })), "pending");
  assert.equal(majorityVoteResult(["a", "b", "c"], votes({ a: true, b: false, c: false })), "lost");
  assert.equal(majorityVoteResult(["a", "b", "c", "d"], votes({ a: true, b: true })), "pending");
  assert.equal(majorityVoteResult(["a", "b", "c", "d"], votes({ c: false, d: false })), "lost");
});
