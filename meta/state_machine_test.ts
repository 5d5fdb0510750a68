/**
 * Tests of the metadata state machine: every command's effect and every
 * refusal, with the rule that a refused command changes nothing.
 */

import assert from "node:assert/strict";
import { applyCommand, type ApplyResult, type Command, encodeSnapshot, MetaState } from "./mod.ts";

const MiB = 1024 * 1024;

function apply(state: MetaState, command: Command): Record<string, unknown> {
  const result = applyCommand(state, command);
  if (!result.ok) assert.fail(`${command.type} refused: ${result.code} ${result.message}`);
  return result.value as Record<string, unknown>;
}

/** Applies `command`, expects refusal with `code`, and checks the state did not change. */
function refuse(state: MetaState, command: Command, code: string): ApplyResult {
  const before = encodeSnapshot(state);
  const result = applyCommand(state, command);
  assert.equal(result.ok, false, `${command.type} should be refused`);
  if (!result.ok) assert.equal(result.code, code, result.message);
  assert.deepEqual(encodeSnapshot(state), before, "a refused command changed the state");
  return result;
}

function cluster(nodes = ["n1", "n2", "n3"]): MetaState {
  const state = new MetaState();
  for (const [index, id] of nodes.entries()) {
    apply(state, {
      type: "node.add",
      id,
      address: `127.0.0.1:${7000 + index}`,
      zone: index < 2 ? "dc1" : "dc2",
      role: "voter",
    });
  }
  return state;
}

function create(state: MetaState, name = "vm1", locations = ["n1", "n2"], size = 16 * MiB) {
  return apply(state, {
    type: "image.create",
    name,
    size,
    blockSize: 4 * MiB,
    locations,
    hypervisors: [],
    createdAtMs: 1,
  });
}

Deno.test("node.add registers a member and refuses a different record under the same id", () => {
  const state = cluster();
  assert.equal(state.nodes.size, 3);
  assert.deepEqual(
    apply(state, {
      type: "node.add",
      id: "n1",
      address: "127.0.0.1:7000",
      zone: "dc1",
      role: "voter",
    }),
    { id: "n1", added: false },
  );
  refuse(
    state,
    { type: "node.add", id: "n1", address: "10.0.0.1:7000", zone: "dc1", role: "voter" },
    "NODE_EXISTS",
  );
});

Deno.test("node.update changes zone and role of a member and refuses unknown nodes", () => {
  const state = cluster();
  apply(state, { type: "node.update", id: "n3", zone: "dc3", role: "learner" });
  assert.equal(state.nodes.get("n3")?.zone, "dc3");
  assert.equal(state.nodes.get("n3")?.role, "learner");
  refuse(state, { type: "node.update", id: "n9", zone: "x" }, "NODE_NOT_FOUND");
});

Deno.test("image.create makes a thin image whose blocks are in sync at its locations", () => {
  const state = cluster();
  const value = create(state, "vm1", ["n1", "n2"], 10 * MiB);
  assert.deepEqual(value, { name: "vm1", uid: 1, blockCount: 3 });
  const image = state.image("vm1");
  assert.equal(image.size, 10 * MiB);
  assert.equal(image.capacity, 12 * MiB);
  assert.deepEqual(image.inSyncNodes(2), ["n1", "n2"]);
  assert.deepEqual(image.countsOf("n1"), { inSync: 3, outOfSync: 0 });
  image.verifyCounts();
});

Deno.test("image.create refuses duplicates, bad geometry and unknown or repeated nodes", () => {
  const state = cluster();
  create(state);
  refuse(state, {
    type: "image.create",
    name: "vm1",
    size: MiB,
    blockSize: MiB,
    locations: ["n1"],
    hypervisors: [],
    createdAtMs: 0,
  }, "IMAGE_EXISTS");
  const base = { type: "image.create", name: "vm2", createdAtMs: 0, hypervisors: [] } as const;
  refuse(
    state,
    { ...base, size: MiB, blockSize: 3 * 65536, locations: ["n1"] },
    "INVALID_ARGUMENT",
  );
  refuse(state, { ...base, size: MiB, blockSize: 1024, locations: ["n1"] }, "INVALID_ARGUMENT");
  refuse(state, { ...base, size: MiB + 1, blockSize: MiB, locations: ["n1"] }, "INVALID_ARGUMENT");
  refuse(state, { ...base, size: MiB, blockSize: MiB, locations: [] }, "INVALID_ARGUMENT");
  refuse(
    state,
    { ...base, size: MiB, blockSize: MiB, locations: ["n1", "n1"] },
    "INVALID_ARGUMENT",
  );
  refuse(state, { ...base, size: MiB, blockSize: MiB, locations: ["n9"] }, "NODE_NOT_FOUND");
  refuse(
    state,
    { ...base, size: MiB, blockSize: MiB, locations: ["n1"], hypervisors: ["n9"] },
    "NODE_NOT_FOUND",
  );
});

Deno.test("image uids are never reused after a remove", () => {
  const state = cluster();
  assert.equal(create(state).uid, 1);
  apply(state, { type: "image.remove", name: "vm1", force: false });
  assert.equal(create(state).uid, 2);
});

Deno.test("image.remove is refused while the image is open or owned, unless forced", () => {
  const state = cluster();
  create(state);
  apply(state, { type: "image.open", name: "vm1", node: "n1" });
  const refusal = refuse(state, { type: "image.remove", name: "vm1", force: false }, "IMAGE_BUSY");
  assert.match(refusal.ok ? "" : refusal.message, /open on "n1"/);
  apply(state, { type: "image.close", name: "vm1", node: "n1" });
  apply(state, { type: "owner.take", name: "vm1", node: "n2", kind: "io", expectedEpoch: 0 });
  refuse(state, { type: "image.remove", name: "vm1", force: false }, "IMAGE_BUSY");
  const removed = apply(state, { type: "image.remove", name: "vm1", force: true });
  assert.deepEqual(removed, { name: "vm1", uid: 1, locations: ["n1", "n2"] });
  refuse(state, { type: "image.remove", name: "vm1", force: false }, "IMAGE_NOT_FOUND");
});

Deno.test("image.resize changes the visible size within the capacity at the current epoch", () => {
  const state = cluster();
  create(state, "vm1", ["n1"], 10 * MiB);
  apply(state, { type: "image.resize", name: "vm1", size: 12 * MiB, epoch: 0 });
  assert.equal(state.image("vm1").size, 12 * MiB);
  refuse(
    state,
    { type: "image.resize", name: "vm1", size: 12 * MiB + 512, epoch: 0 },
    "OUT_OF_RANGE",
  );
  apply(state, { type: "image.resize", name: "vm1", size: 1000, epoch: 0 });
  assert.equal(state.image("vm1").size, 1000, "a file may end anywhere within the capacity");
  refuse(state, { type: "image.resize", name: "vm1", size: MiB, epoch: 3 }, "STALE_EPOCH");
});

Deno.test("image.open and image.close are idempotent and node.closeAll clears a node's opens", () => {
  const state = cluster();
  create(state, "vm1");
  create(state, "vm2");
  apply(state, { type: "image.open", name: "vm1", node: "n1" });
  apply(state, { type: "image.open", name: "vm1", node: "n1" });
  apply(state, { type: "image.open", name: "vm2", node: "n1" });
  apply(state, { type: "image.open", name: "vm2", node: "n2" });
  assert.deepEqual([...state.image("vm1").opens], ["n1"]);
  assert.deepEqual(apply(state, { type: "node.closeAll", node: "n1" }), { closed: 2 });
  assert.deepEqual([...state.image("vm2").opens], ["n2"]);
  refuse(state, { type: "image.open", name: "vm1", node: "n9" }, "NODE_NOT_FOUND");
});

Deno.test("hypervisors restrict VM ownership and the last one cannot be removed", () => {
  const state = cluster();
  create(state);
  apply(state, { type: "hypervisor.add", name: "vm1", node: "n1" });
  refuse(
    state,
    { type: "owner.take", name: "vm1", node: "n2", kind: "io", expectedEpoch: 0 },
    "PERMISSION_DENIED",
  );
  apply(state, { type: "owner.take", name: "vm1", node: "n2", kind: "resync", expectedEpoch: 0 });
  refuse(state, { type: "hypervisor.remove", name: "vm1", node: "n1" }, "CONFLICT");
  apply(state, { type: "hypervisor.add", name: "vm1", node: "n2" });
  apply(state, { type: "hypervisor.remove", name: "vm1", node: "n1" });
  assert.deepEqual([...state.image("vm1").hypervisors], ["n2"]);
  refuse(state, { type: "hypervisor.remove", name: "vm1", node: "n3" }, "NOT_FOUND");
});

Deno.test("refusals that depend on the state are CONFLICT, not INVALID_ARGUMENT", () => {
  const nodes = Array.from({ length: 17 }, (_, index) => `n${index + 1}`);
  const state = cluster(nodes);
  create(state, "vm1", nodes.slice(0, 16));
  refuse(state, { type: "location.add", name: "vm1", node: "n17" }, "CONFLICT");
  create(state, "vm2", ["n1"]);
  refuse(
    state,
    { type: "move.start", name: "vm2", from: "n1", to: "n1", startedAtMs: 2 },
    "INVALID_ARGUMENT",
  );
});

Deno.test("owner.take is a compare-and-set on the epoch and bumps it", () => {
  const state = cluster();
  create(state);
  const taken = apply(state, {
    type: "owner.take",
    name: "vm1",
    node: "n1",
    kind: "io",
    expectedEpoch: 0,
  });
  assert.equal(taken.epoch, 1);
  const conflict = refuse(
    state,
    { type: "owner.take", name: "vm1", node: "n2", kind: "io", expectedEpoch: 0 },
    "CONFLICT",
  );
  assert.deepEqual(conflict.ok ? {} : conflict.details, { epoch: 1, owner: "n1" });
  const second = apply(state, {
    type: "owner.take",
    name: "vm1",
    node: "n2",
    kind: "io",
    expectedEpoch: 1,
  });
  assert.equal(second.previousOwner, "n1");
  assert.equal(state.image("vm1").epoch, 2);
});

Deno.test("owner.release only releases for the current owner at its epoch", () => {
  const state = cluster();
  create(state);
  apply(state, { type: "owner.take", name: "vm1", node: "n1", kind: "io", expectedEpoch: 0 });
  assert.deepEqual(apply(state, { type: "owner.release", name: "vm1", node: "n2", epoch: 1 }), {
    name: "vm1",
    released: false,
  });
  assert.equal(state.image("vm1").owner, "n1");
  apply(state, { type: "owner.release", name: "vm1", node: "n1", epoch: 1 });
  assert.equal(state.image("vm1").owner, null);
  assert.equal(state.image("vm1").epoch, 1, "release keeps the epoch; the next take bumps it");
});

Deno.test("location.add makes new blocks out of sync and leaves held blocks alone", () => {
  const state = cluster();
  create(state, "vm1", ["n1"], 16 * MiB);
  apply(state, { type: "location.add", name: "vm1", node: "n3", range: { start: 1, end: 3 } });
  const image = state.image("vm1");
  assert.deepEqual(image.countsOf("n3"), { inSync: 0, outOfSync: 2 });
  assert.equal(image.statusOf("n3", 0), 0);
  const again = apply(state, { type: "location.add", name: "vm1", node: "n3" });
  assert.equal(again.addedBlocks, 2);
  assert.deepEqual(image.countsOf("n3"), { inSync: 0, outOfSync: 4 });
  refuse(
    state,
    { type: "location.add", name: "vm1", node: "n3", range: { start: 2, end: 9 } },
    "INVALID_ARGUMENT",
  );
  refuse(state, { type: "location.add", name: "vm1", node: "n9" }, "NODE_NOT_FOUND");
  image.verifyCounts();
});

Deno.test("location.remove is refused for blocks whose only in-sync copy it is, listing them", () => {
  const state = cluster();
  create(state, "vm1", ["n1"], 16 * MiB);
  apply(state, { type: "location.add", name: "vm1", node: "n2" });
  apply(state, { type: "owner.take", name: "vm1", node: "n1", kind: "io", expectedEpoch: 0 });
  apply(state, {
    type: "blocks.mark",
    name: "vm1",
    epoch: 1,
    marks: [{ node: "n2", ranges: [{ start: 1, end: 3 }], status: "inSync" }],
    retireActivity: [],
  });
  const refusal = refuse(
    state,
    { type: "location.remove", name: "vm1", node: "n1" },
    "LAST_IN_SYNC_LOCATION",
  );
  assert.deepEqual(refusal.ok ? {} : refusal.details, { blocks: [[0, 1], [3, 4]] });
  assert.match(refusal.ok ? "" : refusal.message, /blocks 0, 3/);
  const removed = apply(state, {
    type: "location.remove",
    name: "vm1",
    node: "n1",
    range: { start: 1, end: 3 },
  });
  assert.deepEqual(removed.removed, [[1, 3]]);
  assert.equal(state.image("vm1").statusOf("n1", 1), 0);
  const outOfSync = apply(state, {
    type: "location.remove",
    name: "vm1",
    node: "n2",
    range: { start: 0, end: 1 },
  });
  assert.deepEqual(outOfSync.removed, [[0, 1]], "an out-of-sync copy can always go");
  refuse(state, { type: "location.remove", name: "vm1", node: "n3" }, "NOT_A_LOCATION");
});

Deno.test("removing every block of a location forgets the location", () => {
  const state = cluster();
  create(state, "vm1", ["n1", "n2"]);
  apply(state, { type: "location.remove", name: "vm1", node: "n2" });
  assert.deepEqual(state.image("vm1").locationNodes(), ["n1"]);
});

Deno.test("blocks.mark needs the current epoch and never leaves a block without an in-sync copy", () => {
  const state = cluster();
  create(state, "vm1", ["n1", "n2"]);
  apply(state, { type: "owner.take", name: "vm1", node: "n1", kind: "io", expectedEpoch: 0 });
  const mark = (node: string, start: number, end: number, status: "inSync" | "outOfSync") => ({
    node,
    ranges: [{ start, end }],
    status,
  });
  refuse(state, {
    type: "blocks.mark",
    name: "vm1",
    epoch: 0,
    marks: [mark("n2", 0, 1, "outOfSync")],
    retireActivity: [],
  }, "STALE_EPOCH");
  refuse(state, {
    type: "blocks.mark",
    name: "vm1",
    epoch: 1,
    marks: [mark("n1", 0, 2, "outOfSync"), mark("n2", 1, 2, "outOfSync")],
    retireActivity: [],
  }, "NO_IN_SYNC_LOCATION");
  refuse(state, {
    type: "blocks.mark",
    name: "vm1",
    epoch: 1,
    marks: [mark("n3", 0, 1, "outOfSync")],
    retireActivity: [],
  }, "NOT_A_LOCATION");
  apply(state, {
    type: "blocks.mark",
    name: "vm1",
    epoch: 1,
    marks: [mark("n1", 0, 2, "outOfSync")],
    retireActivity: [],
  });
  assert.deepEqual(state.image("vm1").inSyncNodes(0), ["n2"]);
  apply(state, {
    type: "blocks.mark",
    name: "vm1",
    epoch: 1,
    marks: [mark("n1", 0, 1, "inSync"), mark("n2", 0, 1, "outOfSync")],
    retireActivity: [],
  });
  assert.deepEqual(state.image("vm1").inSyncNodes(0), ["n1"], "a swap in one command is allowed");
  state.image("vm1").verifyCounts();
});

Deno.test("the activity log records blocks at the owner's epoch and survives a takeover", () => {
  const state = cluster();
  create(state);
  apply(state, { type: "owner.take", name: "vm1", node: "n1", kind: "io", expectedEpoch: 0 });
  apply(state, { type: "activity.add", name: "vm1", epoch: 1, blocks: [0, 2] });
  refuse(state, { type: "activity.add", name: "vm1", epoch: 0, blocks: [1] }, "STALE_EPOCH");
  refuse(state, { type: "activity.add", name: "vm1", epoch: 1, blocks: [4] }, "INVALID_ARGUMENT");
  const taken = apply(state, {
    type: "owner.take",
    name: "vm1",
    node: "n2",
    kind: "io",
    expectedEpoch: 1,
  });
  assert.deepEqual(taken.activity, [0, 2], "the new owner learns what to reconcile");
  refuse(state, { type: "activity.retire", name: "vm1", epoch: 1, blocks: [0] }, "STALE_EPOCH");
  apply(state, {
    type: "blocks.mark",
    name: "vm1",
    epoch: 2,
    marks: [{ node: "n2", ranges: [{ start: 0, end: 1 }], status: "outOfSync" }],
    retireActivity: [0],
  });
  apply(state, { type: "activity.retire", name: "vm1", epoch: 2, blocks: [2] });
  assert.equal(state.image("vm1").activity.size, 0);
});

Deno.test("move.start adds the target wherever the source holds blocks; move.finish removes the source", () => {
  const state = cluster();
  create(state, "vm1", ["n1", "n2"]);
  apply(state, { type: "location.remove", name: "vm1", node: "n2", range: { start: 3, end: 4 } });
  const started = apply(state, {
    type: "move.start",
    name: "vm1",
    from: "n2",
    to: "n3",
    startedAtMs: 5,
  });
  assert.equal(started.addedBlocks, 3);
  assert.equal(
    apply(state, { type: "move.start", name: "vm1", from: "n2", to: "n3", startedAtMs: 9 }).resumed,
    true,
  );
  refuse(
    state,
    { type: "move.start", name: "vm1", from: "n1", to: "n3", startedAtMs: 9 },
    "CONFLICT",
  );
  apply(state, { type: "owner.take", name: "vm1", node: "n3", kind: "resync", expectedEpoch: 0 });
  apply(state, {
    type: "blocks.mark",
    name: "vm1",
    epoch: 1,
    marks: [{ node: "n3", ranges: [{ start: 0, end: 3 }], status: "inSync" }],
    retireActivity: [],
  });
  const finished = apply(state, { type: "move.finish", name: "vm1" });
  assert.deepEqual(finished.removed, [[0, 3]]);
  assert.deepEqual(state.image("vm1").locationNodes().sort(), ["n1", "n3"]);
  assert.equal(state.image("vm1").move, null);
  refuse(state, { type: "move.finish", name: "vm1" }, "NOT_FOUND");
});

Deno.test("move.finish is refused while the source holds a last in-sync copy", () => {
  const state = cluster();
  create(state, "vm1", ["n1"]);
  apply(state, { type: "move.start", name: "vm1", from: "n1", to: "n2", startedAtMs: 0 });
  refuse(state, { type: "move.finish", name: "vm1" }, "LAST_IN_SYNC_LOCATION");
  apply(state, { type: "move.cancel", name: "vm1" });
  assert.equal(state.image("vm1").move, null);
  assert.deepEqual(state.image("vm1").countsOf("n2"), { inSync: 0, outOfSync: 4 });
});

Deno.test("node.remove is refused while the node holds data, and forced removal reports lost blocks", () => {
  const state = cluster();
  create(state, "vm1", ["n1", "n2"]);
  create(state, "vm2", ["n2"]);
  refuse(state, { type: "node.remove", id: "n2", force: false }, "IMAGE_BUSY");
  const removed = apply(state, { type: "node.remove", id: "n2", force: true });
  assert.deepEqual(removed.lostBlocks, { vm2: 4 });
  assert.deepEqual(state.image("vm1").locationNodes(), ["n1"]);
  assert.deepEqual(state.image("vm2").locationNodes(), []);
  apply(state, { type: "node.remove", id: "n3", force: false });
  assert.deepEqual([...state.nodes.keys()], ["n1"]);
});

Deno.test("a retried command with the same request id returns the first result", () => {
  const state = cluster();
  create(state);
  const take = {
    type: "owner.take",
    name: "vm1",
    node: "n1",
    kind: "io",
    expectedEpoch: 0,
    requestId: "r-1",
  } as const;
  const first = applyCommand(state, take);
  const retry = applyCommand(state, take);
  assert.deepEqual(retry, first);
  assert.equal(state.image("vm1").epoch, 1, "the retry did not take ownership twice");
});

Deno.test("image.setResyncRate stores the cap", () => {
  const state = cluster();
  create(state);
  apply(state, { type: "image.setResyncRate", name: "vm1", bytesPerSecond: 50 * MiB });
  assert.equal(state.image("vm1").resyncRateBytesPerSecond, 50 * MiB);
});

Deno.test("MemoryMetaStore.propose() refuses an invalid command before applying it", async () => {
  const { MemoryMetaStore } = await import("./mod.ts");
  const store = new MemoryMetaStore();
  await assert.rejects(
    store.propose({ type: "node.add", id: "n1", address: "no-port", zone: "z", role: "voter" }),
    { code: "INVALID_ARGUMENT" },
  );
  assert.equal(store.appliedIndex(), 0);
});
