/**
 * Tests of metadata snapshots: exact round trips, damage detection, the
 * 1 TiB scale case, and a seeded run of random commands whose state must
 * survive encode/decode and stay internally consistent.
 */

import assert from "node:assert/strict";
import { Rng } from "../base/rng.ts";
import {
  applyCommand,
  BlockStatus,
  type Command,
  decodeSnapshot,
  encodeSnapshot,
  MetaState,
} from "./mod.ts";

const MiB = 1024 * 1024;
const TiB = 1024 * 1024 * MiB;

function addNodes(state: MetaState, count: number): string[] {
  const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  for (const [i, id] of ids.entries()) {
    const result = applyCommand(state, {
      type: "node.add",
      id,
      address: `127.0.0.1:${7100 + i}`,
      zone: `dc${i % 2}`,
      role: "voter",
    });
    assert.ok(result.ok);
  }
  return ids;
}

Deno.test("encodeSnapshot() round-trips every field of the state byte for byte", () => {
  const state = new MetaState();
  addNodes(state, 3);
  const commands: Command[] = [
    {
      type: "image.create",
      name: "vm1",
      size: 40 * MiB,
      blockSize: 4 * MiB,
      locations: ["n1", "n2"],
      hypervisors: ["n1"],
      createdAtMs: 42,
    },
    { type: "location.add", name: "vm1", node: "n3", range: { start: 2, end: 7 } },
    { type: "owner.take", name: "vm1", node: "n1", kind: "io", expectedEpoch: 0, requestId: "x" },
    { type: "activity.add", name: "vm1", epoch: 1, blocks: [9, 3] },
    { type: "image.open", name: "vm1", node: "n2" },
    { type: "image.setResyncRate", name: "vm1", bytesPerSecond: 1000 },
    { type: "move.start", name: "vm1", from: "n2", to: "n3", startedAtMs: 7 },
  ];
  for (const command of commands) assert.ok(applyCommand(state, command).ok, command.type);
  const bytes = encodeSnapshot(state);
  const copy = decodeSnapshot(bytes);
  assert.deepEqual(encodeSnapshot(copy), bytes);
  const image = copy.image("vm1");
  assert.equal(image.owner, "n1");
  assert.equal(image.epoch, 1);
  assert.deepEqual([...image.activity.keys()].sort((a, b) => a - b), [3, 9]);
  assert.deepEqual(image.move, { from: "n2", to: "n3", startedAtMs: 7 });
  assert.equal(image.statusOf("n3", 2), BlockStatus.outOfSync);
  assert.equal(image.statusOf("n3", 1), BlockStatus.outOfSync, "move added n3 where n2 is");
  assert.equal(copy.recentResults.has("x"), true, "request ids survive for idempotency");
  assert.equal(copy.nextImageUid, 2);
  image.verifyCounts();
});

Deno.test("decodeSnapshot() rejects damaged bytes with CHECKSUM_MISMATCH", () => {
  const state = new MetaState();
  addNodes(state, 1);
  const bytes = encodeSnapshot(state);
  for (let bit = 0; bit < bytes.length * 8; bit += 7) {
    const damaged = bytes.slice();
    damaged[bit >> 3]! ^= 1 << (bit & 7);
    assert.throws(() => decodeSnapshot(damaged), { code: "CHECKSUM_MISMATCH" });
  }
  assert.throws(() => decodeSnapshot(bytes.subarray(0, 10)), { code: "CHECKSUM_MISMATCH" });
});

Deno.test("a 1 TiB image with 1 MiB blocks and three locations is created, flipped, snapshotted and restored", () => {
  const state = new MetaState();
  addNodes(state, 3);
  const created = applyCommand(state, {
    type: "image.create",
    name: "big",
    size: TiB,
    blockSize: MiB,
    locations: ["n1", "n2", "n3"],
    hypervisors: [],
    createdAtMs: 0,
  });
  assert.ok(created.ok);
  const image = state.image("big");
  assert.equal(image.blockCount, 1_048_576);
  assert.ok(
    applyCommand(state, {
      type: "owner.take",
      name: "big",
      node: "n1",
      kind: "io",
      expectedEpoch: 0,
    }).ok,
  );
  const arrayBefore = image.statusView("n2");
  const copyBefore = arrayBefore?.slice();
  const flipped = applyCommand(state, {
    type: "blocks.mark",
    name: "big",
    epoch: 1,
    marks: [{ node: "n2", ranges: [{ start: 777_777, end: 777_778 }], status: "outOfSync" }],
    retireActivity: [],
  });
  assert.ok(flipped.ok);
  assert.equal(image.statusView("n2"), arrayBefore, "flipping a block keeps the same array");
  let differences = 0;
  for (let i = 0; i < image.blockCount; i++) {
    if (arrayBefore?.[i] !== copyBefore?.[i]) differences++;
  }
  assert.equal(differences, 1, "exactly one byte changed");
  assert.deepEqual(image.countsOf("n2"), { inSync: 1_048_575, outOfSync: 1 });
  const bytes = encodeSnapshot(state);
  assert.ok(bytes.length < 4096, `uniform arrays compress: ${bytes.length} bytes`);
  const restored = decodeSnapshot(bytes).image("big");
  assert.equal(restored.statusOf("n2", 777_777), BlockStatus.outOfSync);
  assert.equal(restored.statusOf("n2", 777_778), BlockStatus.inSync);
  assert.deepEqual(restored.countsOf("n2"), { inSync: 1_048_575, outOfSync: 1 });
});

/** A random but valid-looking command over a small universe of names. */
function randomCommand(rng: Rng, state: MetaState): Command {
  const name = rng.pick(["a", "b", "c"]);
  const node = rng.pick(["n1", "n2", "n3", "n4"]);
  const image = state.images.get(name);
  const epoch = image === undefined ? 0 : rng.chance(0.8) ? image.epoch : rng.int(3);
  const blockCount = image?.blockCount ?? 8;
  const start = rng.int(blockCount);
  const range = { start, end: start + 1 + rng.int(blockCount - start) };
  switch (rng.int(10)) {
    case 0:
      return {
        type: "image.create",
        name,
        size: (1 + rng.int(8)) * 64 * 1024,
        blockSize: 65536,
        locations: [node],
        hypervisors: [],
        createdAtMs: 0,
      };
    case 1:
      return { type: "location.add", name, node, range };
    case 2:
      return { type: "location.remove", name, node, range };
    case 3:
      return { type: "owner.take", name, node, kind: "io", expectedEpoch: epoch };
    case 4:
      return {
        type: "blocks.mark",
        name,
        epoch,
        marks: [{ node, ranges: [range], status: rng.chance(0.5) ? "inSync" : "outOfSync" }],
        retireActivity: [],
      };
    case 5:
      return { type: "activity.add", name, epoch, blocks: [range.start] };
    case 6:
      return { type: "image.remove", name, force: rng.chance(0.5) };
    case 7:
      return { type: "move.start", name, from: node, to: rng.pick(["n1", "n2"]), startedAtMs: 0 };
    case 8:
      return { type: "move.finish", name };
    default:
      return { type: "image.open", name, node };
  }
}

Deno.test("random command sequences keep counts exact, every block readable, and snapshots faithful", () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rng = new Rng(seed);
    const state = new MetaState();
    addNodes(state, 4);
    for (let step = 0; step < 300; step++) {
      const command = randomCommand(rng, state);
      const before = encodeSnapshot(state);
      const result = applyCommand(state, command);
      if (!result.ok) {
        assert.deepEqual(encodeSnapshot(state), before, `seed ${seed}: refusal changed state`);
      }
      for (const image of state.images.values()) {
        image.verifyCounts();
        for (let block = 0; block < image.blockCount; block++) {
          const copies = image.locationsOf(block);
          if (copies.length > 0) {
            assert.ok(image.inSyncCount(block) > 0, `seed ${seed}: block ${block} lost its copy`);
          }
        }
      }
    }
    const bytes = encodeSnapshot(state);
    assert.deepEqual(encodeSnapshot(decodeSnapshot(bytes)), bytes, `seed ${seed}`);
  }
});
