/** Tests of the write verdict: when to acknowledge, what to mark, when to fail. */

import assert from "node:assert/strict";
import { UkaiError } from "../base/errors.ts";
import { judgeWrite } from "./write_outcome.ts";

const down = new UkaiError("UNREACHABLE", "down");
const ok = null;

Deno.test("judgeWrite() acknowledges a write every copy took, with nothing to mark", () => {
  const verdict = judgeWrite([{
    block: 3,
    answers: [{ node: "a", error: ok }, { node: "b", error: ok }],
  }]);
  assert.equal(verdict.kind, "ack");
  assert.equal(verdict.marks.size, 0);
});

Deno.test("judgeWrite() marks the copies that missed a write before acknowledging it", () => {
  const verdict = judgeWrite([
    { block: 3, answers: [{ node: "a", error: ok }, { node: "b", error: down }] },
    { block: 4, answers: [{ node: "a", error: down }, { node: "b", error: ok }] },
  ]);
  assert.equal(verdict.kind, "ack");
  assert.deepEqual(verdict.marks, new Map([["b", new Set([3])], ["a", new Set([4])]]));
});

Deno.test("judgeWrite() fails with EIO when no copy took a segment, and still marks the rest", () => {
  const verdict = judgeWrite([
    { block: 3, answers: [{ node: "a", error: ok }, { node: "b", error: down }] },
    { block: 4, answers: [{ node: "a", error: down }, { node: "b", error: down }] },
  ]);
  assert.equal(verdict.kind, "fail");
  if (verdict.kind === "fail") {
    assert.equal(verdict.code, "NO_IN_SYNC_LOCATION");
    assert.equal(new UkaiError(verdict.code, "").errno, 5);
  }
  assert.deepEqual(verdict.marks, new Map([["b", new Set([3])]]));
});

Deno.test("judgeWrite() fails without marks when a copy says the epoch is stale", () => {
  const verdict = judgeWrite([
    {
      block: 0,
      answers: [{ node: "a", error: ok }, { node: "b", error: new UkaiError("STALE_EPOCH", "x") }],
    },
  ]);
  assert.equal(verdict.kind, "fail");
  if (verdict.kind === "fail") assert.equal(verdict.code, "STALE_EPOCH");
  assert.equal(verdict.marks.size, 0);
});
