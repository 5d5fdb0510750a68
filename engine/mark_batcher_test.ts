/** Tests of the mark batcher: batching into one command and the projected view. */

import assert from "node:assert/strict";
import { silentLogger } from "../base/log.ts";
import { MemoryMetaStore } from "../meta/mod.ts";
import { MarkBatcher } from "./mark_batcher.ts";

const MiB = 1024 * 1024;

async function ownedImage() {
  const meta = new MemoryMetaStore();
  for (const id of ["a", "b", "c"]) {
    await meta.propose({ type: "node.add", id, address: "127.0.0.1:1", zone: "z", role: "voter" });
  }
  await meta.propose({
    type: "image.create",
    name: "vm",
    size: 8 * MiB,
    blockSize: MiB,
    locations: ["a", "b"],
    hypervisors: [],
    createdAtMs: 0,
  });
  await meta.propose({ type: "owner.take", name: "vm", node: "a", kind: "io", expectedEpoch: 0 });
  const commands: string[] = [];
  meta.watch((event) => {
    if (event.kind === "applied") commands.push(event.command.type);
  });
  const batcher = new MarkBatcher({ meta, imageName: "vm", epoch: 1, logger: silentLogger });
  return { meta, batcher, commands };
}

Deno.test("MarkBatcher sends marks made in the same instant as one command", async () => {
  const { meta, batcher, commands } = await ownedImage();
  await Promise.all([
    batcher.markOutOfSync(new Map([["b", new Set([1])]])),
    batcher.markOutOfSync(new Map([["b", new Set([2, 3])]])),
    batcher.markOutOfSync(new Map([["a", new Set([5])]])),
  ]);
  assert.deepEqual(commands, ["blocks.mark"]);
  const image = meta.state().image("vm");
  assert.deepEqual([1, 2, 3, 5].map((block) => image.inSyncNodes(block)), [["a"], ["a"], ["a"], [
    "b",
  ]]);
});

Deno.test("MarkBatcher drops marks that would leave a block with no in-sync copy", async () => {
  const { meta, batcher } = await ownedImage();
  // Two concurrent writes to block 4: the first missed "b", the second missed "a".
  const [first, second] = await Promise.all([
    batcher.markOutOfSync(new Map([["b", new Set([4])]])),
    batcher.markOutOfSync(new Map([["a", new Set([4])]])),
  ]);
  assert.deepEqual([...first.dropped], []);
  assert.deepEqual([...second.dropped], [4], "the second write must fail instead");
  assert.deepEqual(meta.state().image("vm").inSyncNodes(4), ["a"]);
});

Deno.test("MarkBatcher.projectedInSync() excludes marks not yet committed", async () => {
  const { batcher } = await ownedImage();
  const pending = batcher.markOutOfSync(new Map([["b", new Set([0])]]));
  assert.deepEqual(batcher.projectedInSync(0), ["a"]);
  await pending;
  assert.deepEqual(batcher.projectedInSync(0), ["a"]);
  await batcher.markInSync("b", [0]);
  assert.deepEqual(batcher.projectedInSync(0), ["a", "b"]);
});

Deno.test("MarkBatcher rejects every waiter with STALE_EPOCH after a takeover", async () => {
  const { meta, batcher } = await ownedImage();
  await meta.propose({ type: "owner.take", name: "vm", node: "b", kind: "io", expectedEpoch: 1 });
  await assert.rejects(
    batcher.markOutOfSync(new Map([["b", new Set([0])]])),
    { code: "STALE_EPOCH" },
  );
  assert.deepEqual(batcher.projectedInSync(0), ["a", "b"], "the refused mark is forgotten");
});

Deno.test("MarkBatcher drops marks of a copy removed meanwhile instead of failing the write", async () => {
  const { meta, batcher } = await ownedImage();
  await meta.propose({ type: "location.add", name: "vm", node: "c" });
  await meta.propose({
    type: "blocks.mark",
    name: "vm",
    epoch: 1,
    marks: [{ node: "c", ranges: [{ start: 0, end: 8 }], status: "inSync" }],
    retireActivity: [],
  });
  // A write missed c and b; before its marks commit, an admin removes c.
  const marking = batcher.markOutOfSync(new Map([["c", new Set([3])], ["b", new Set([3])]]));
  await meta.propose({ type: "location.remove", name: "vm", node: "c" });
  const outcome = await marking;
  assert.deepEqual([...outcome.dropped], []);
  assert.deepEqual(meta.state().image("vm").inSyncNodes(3), ["a"], "b is marked; c is gone");
});
