/** Tests of the takeover plan: unreachable copies and the inherited activity log. */

import assert from "node:assert/strict";
import { applyCommand, MetaState } from "../meta/mod.ts";
import { planTakeover } from "./takeover_plan.ts";

function image(locations: string[]) {
  const state = new MetaState();
  for (const id of ["a", "b", "c"]) {
    applyCommand(state, { type: "node.add", id, address: "h:1", zone: "z", role: "voter" });
  }
  const created = applyCommand(state, {
    type: "image.create",
    name: "vm",
    size: 8 * 65536,
    blockSize: 65536,
    locations,
    hypervisors: [],
    createdAtMs: 0,
  });
  assert.ok(created.ok);
  return state.image("vm");
}

Deno.test("planTakeover() marks every in-sync copy at an unreachable location", () => {
  const plan = planTakeover(image(["a", "b", "c"]), "a", new Set(["c"]), []);
  assert.deepEqual(plan.marks, [{
    node: "c",
    ranges: [{ start: 0, end: 8 }],
    status: "outOfSync",
  }]);
  assert.deepEqual(plan.retireActivity, []);
});

Deno.test("planTakeover() leaves blocks whose every in-sync copy is unreachable", () => {
  const plan = planTakeover(image(["b", "c"]), "a", new Set(["b", "c"]), [2]);
  assert.deepEqual(plan.marks, []);
  assert.deepEqual(plan.retireActivity, [], "the activity entry waits for a later owner");
});

Deno.test("planTakeover() keeps one copy of each active block, preferring its own", () => {
  const plan = planTakeover(image(["a", "b", "c"]), "b", new Set(), [1, 5]);
  assert.deepEqual(plan.marks, [
    { node: "a", ranges: [{ start: 1, end: 2 }, { start: 5, end: 6 }], status: "outOfSync" },
    { node: "c", ranges: [{ start: 1, end: 2 }, { start: 5, end: 6 }], status: "outOfSync" },
  ]);
  assert.deepEqual(plan.retireActivity, [1, 5]);
});

Deno.test("planTakeover() combines both rules and the result is accepted by the state machine", () => {
  const state = new MetaState();
  for (const id of ["a", "b", "c"]) {
    applyCommand(state, { type: "node.add", id, address: "h:1", zone: "z", role: "voter" });
  }
  applyCommand(state, {
    type: "image.create",
    name: "vm",
    size: 4 * 65536,
    blockSize: 65536,
    locations: ["a", "b", "c"],
    hypervisors: [],
    createdAtMs: 0,
  });
  applyCommand(state, { type: "owner.take", name: "vm", node: "a", kind: "io", expectedEpoch: 0 });
  applyCommand(state, { type: "activity.add", name: "vm", epoch: 1, blocks: [0, 3] });
  applyCommand(state, { type: "owner.take", name: "vm", node: "c", kind: "io", expectedEpoch: 1 });
  const vm = state.image("vm");
  const plan = planTakeover(vm, "c", new Set(["a"]), [...vm.activity.keys()]);
  const result = applyCommand(state, {
    type: "blocks.mark",
    name: "vm",
    epoch: 2,
    marks: plan.marks,
    retireActivity: plan.retireActivity,
  });
  assert.ok(result.ok, result.ok ? "" : result.message);
  assert.deepEqual([0, 1, 2, 3].map((block) => vm.inSyncNodes(block)), [["c"], ["b", "c"], [
    "b",
    "c",
  ], ["c"]]);
  assert.equal(vm.activity.size, 0);
});
