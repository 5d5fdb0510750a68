/** Tests of Inflights (the bounded ring) and Progress (probe / replicate / snapshot transitions). */

import assert from "node:assert/strict";
import { Rng } from "../base/rng.ts";
import { Inflights } from "./inflights.ts";
import { Progress } from "./progress.ts";

function progress(match: number, next: number, maxInflightMsgs = 256): Progress {
  return new Progress({
    match,
    next,
    isLearner: false,
    recentActive: false,
    maxInflightMsgs,
    maxInflightBytes: 0,
  });
}

Deno.test("Inflights fills up to its capacity and frees acknowledged messages in order", () => {
  const inflights = new Inflights(10, 0);
  for (let i = 0; i < 5; i++) inflights.add(i, 100);
  assert.equal(inflights.count, 5);
  assert.equal(inflights.bytes, 500);
  inflights.freeLE(2);
  assert.equal(inflights.count, 2);
  for (let i = 5; i < 13; i++) inflights.add(i, 100); // wraps around the ring
  assert.equal(inflights.full(), true);
  assert.throws(() => inflights.add(13, 1), /full/);
  inflights.freeLE(12);
  assert.equal(inflights.count, 0);
  assert.equal(inflights.bytes, 0);
});

Deno.test("Inflights is full once the byte limit is reached, whatever the count", () => {
  const inflights = new Inflights(10, 1000);
  inflights.add(1, 600);
  assert.equal(inflights.full(), false);
  inflights.add(2, 400);
  assert.equal(inflights.full(), true);
  inflights.freeLE(1);
  assert.equal(inflights.full(), false);
  assert.equal(inflights.bytes, 400);
});

Deno.test("Inflights agrees with a plain array model under random use", () => {
  const rng = new Rng(99);
  const capacity = 7;
  const inflights = new Inflights(capacity, 0);
  let model: [number, number][] = [];
  let index = 0;
  for (let step = 0; step < 10_000; step++) {
    if (rng.chance(0.6) && model.length < capacity) {
      index += rng.between(1, 3);
      const bytes = rng.int(50);
      inflights.add(index, bytes);
      model.push([index, bytes]);
    } else {
      const to = index - rng.int(5);
      inflights.freeLE(to);
      model = model.filter(([i]) => i > to);
    }
    assert.equal(inflights.count, model.length);
    assert.equal(inflights.bytes, model.reduce((sum, [, bytes]) => sum + bytes, 0));
    assert.equal(inflights.full(), model.length === capacity);
  }
});

Deno.test("Progress.maybeUpdate() only moves forward and unpauses", () => {
  const p = progress(3, 5);
  p.msgAppFlowPaused = true;
  assert.equal(p.maybeUpdate(2), false);
  assert.equal(p.maybeUpdate(4), true);
  assert.deepEqual([p.match, p.next, p.msgAppFlowPaused], [4, 5, false]);
  assert.equal(p.maybeUpdate(7), true);
  assert.deepEqual([p.match, p.next], [7, 8]);
});

Deno.test("Progress.maybeDecrTo() ignores stale rejections and backs off to the hint", async (t) => {
  // state, match, next, rejected, hint -> decreased?, new next
  const cases: ["probe" | "replicate", number, number, number, number, boolean, number][] = [
    ["replicate", 5, 10, 5, 5, false, 10], // rejection of a matched index is stale
    ["replicate", 5, 10, 4, 4, false, 10],
    ["replicate", 5, 10, 9, 9, true, 6], // back to match + 1
    ["probe", 0, 0 + 1, 0, 0, true, 1], // next - 1 === rejected
    ["probe", 0, 10, 5, 5, false, 10], // not the probe we sent
    ["probe", 0, 10, 9, 9, true, 9],
    ["probe", 0, 10, 9, 2, true, 3], // the hint jumps further back
    ["probe", 3, 10, 9, 1, true, 4], // but never below match + 1
  ];
  for (const [state, match, next, rejected, hint, decreased, newNext] of cases) {
    await t.step(`${state} match ${match} next ${next} rejected ${rejected} hint ${hint}`, () => {
      const p = progress(match, next);
      if (state === "replicate") {
        p.becomeReplicate();
        p.next = next;
      }
      assert.equal(p.maybeDecrTo(rejected, hint), decreased);
      assert.equal(p.next, newNext);
    });
  }
});

Deno.test("Progress pauses: probe after one append, replicate when inflights are full, always in snapshot", () => {
  const p = progress(0, 1, 2);
  assert.equal(p.isPaused(), false);
  p.sentEntries(1, 10);
  assert.equal(p.isPaused(), true, "probe: one append in flight");
  p.becomeReplicate();
  p.sentEntries(1, 10);
  assert.equal(p.isPaused(), false);
  p.sentEntries(1, 10);
  assert.equal(p.isPaused(), true, "replicate: window of 2 is full");
  p.becomeSnapshot(20);
  assert.equal(p.isPaused(), true);
});

Deno.test("Progress leaves snapshot state past the snapshot on success, from the match on failure", () => {
  const succeeded = progress(1, 5);
  succeeded.becomeSnapshot(10);
  succeeded.becomeProbe();
  assert.deepEqual([succeeded.state, succeeded.next, succeeded.pendingSnapshot], ["probe", 11, 0]);
  const failed = progress(1, 5);
  failed.becomeSnapshot(10);
  failed.pendingSnapshot = 0;
  failed.becomeProbe();
  assert.deepEqual([failed.state, failed.next], ["probe", 2]);
});

Deno.test("Progress asserts match < next", () => {
  assert.throws(() => progress(5, 5), /match 5 next 5/);
});
