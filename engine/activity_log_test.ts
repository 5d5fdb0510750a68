/**
 * Tests of the owner's activity log: batching, sending each block once,
 * activating ahead of sequential writers, and when blocks may leave it.
 */

import assert from "node:assert/strict";
import { ManualClock } from "../base/clock.ts";
import { ACTIVITY_BLOCKS_MAX, MemoryMetaStore } from "../meta/mod.ts";
import { ACTIVITY_LOOKAHEAD_BLOCKS, ActivityLog } from "./activity_log.ts";

/** Lets the commands sent so far (nobody waits for the ones ahead) be applied. */
function commandsApplied(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

async function setup(options: { blocks?: number } = {}) {
  const meta = new MemoryMetaStore();
  await meta.propose({
    type: "node.add",
    id: "a",
    address: "127.0.0.1:1",
    zone: "z",
    role: "voter",
  });
  await meta.propose({
    type: "image.create",
    name: "vm",
    size: (options.blocks ?? 16) * 65536,
    blockSize: 65536,
    locations: ["a"],
    hypervisors: [],
    createdAtMs: 0,
  });
  await meta.propose({ type: "owner.take", name: "vm", node: "a", kind: "io", expectedEpoch: 0 });
  const commands: string[] = [];
  meta.watch((event) => {
    if (event.kind === "applied") commands.push(event.command.type);
  });
  const clock = new ManualClock(1000);
  const log = new ActivityLog({ meta, imageName: "vm", epoch: 1, clock, idleMs: 500 });
  return { meta, log, clock, commands };
}

Deno.test("ActivityLog activates blocks of concurrent writes in one command", async () => {
  const { meta, log, commands } = await setup();
  assert.deepEqual(log.inactive([1, 2, 3]), [1, 2, 3]);
  await Promise.all([log.activate([1, 2]), log.activate([2, 3])]);
  assert.deepEqual(commands, ["activity.add"]);
  assert.deepEqual([...meta.state().image("vm").activity.keys()], [1, 2, 3]);
  assert.deepEqual(log.inactive([1, 2, 3, 4]), [4]);
});

Deno.test("ActivityLog keeps a block while a write is in flight, unflushed or recent", async () => {
  const { meta, log, clock } = await setup();
  await log.activate([5]);
  log.writeStarted(5);
  clock.advance(10_000);
  assert.deepEqual(log.retirable(), [], "a write is in flight");
  log.writeEnded(5);
  clock.advance(10_000);
  assert.deepEqual(log.retirable(), [], "the write is not flushed");
  const covered = log.beginFlush();
  assert.deepEqual(log.retirable(), [], "the flush is running");
  log.endFlush(covered, false);
  assert.deepEqual(log.retirable(), [], "the flush failed: still dirty");
  log.endFlush(log.beginFlush(), true);
  assert.deepEqual(log.retirable(), [5]);
  assert.equal(await log.retire(), 1);
  assert.equal(meta.state().image("vm").activity.size, 0);
});

Deno.test("ActivityLog waits for the idle time after the last write", async () => {
  const { log, clock } = await setup();
  await log.activate([7]);
  log.writeStarted(7);
  log.writeEnded(7);
  log.endFlush(log.beginFlush(), true);
  clock.advance(499);
  assert.deepEqual(log.retirable(), []);
  clock.advance(1);
  assert.deepEqual(log.retirable(), [7]);
});

Deno.test("ActivityLog.beginFlush() covers only writes completed before it", async () => {
  const { log } = await setup();
  await log.activate([1, 2]);
  log.writeStarted(1);
  log.writeEnded(1);
  log.writeStarted(2);
  const covered = log.beginFlush();
  log.writeEnded(2);
  assert.deepEqual([...covered], [1]);
  log.endFlush(covered, true);
  assert.equal(log.hasDirty, true, "block 2 finished after the flush began");
});

Deno.test("ActivityLog sends a block once, even when writes reach it while its command is in flight", async () => {
  const { meta, log } = await setup();
  const blocksSent: number[][] = [];
  meta.watch((event) => {
    if (event.kind === "applied" && event.command.type === "activity.add") {
      blocksSent.push([...event.command.blocks]);
    }
  });
  const first = log.activate([4]);
  await Promise.resolve(); // the first command is on its way
  await Promise.all([first, log.activate([4, 5]), log.activate([4])]);
  assert.deepEqual(blocksSent.flat().sort(), [4, 5], "block 4 sent once");
});

Deno.test("ActivityLog activates the blocks ahead of a sequential writer, and only of one", async () => {
  const { meta, log, clock } = await setup();
  const active = () => [...meta.state().image("vm").activity.keys()].sort((a, b) => a - b);
  await log.activate([5]);
  log.activateAhead(5);
  assert.deepEqual(active(), [5], "block 4 is not active: not sequential");
  log.activateAhead(6);
  await log.activate([6]);
  assert.deepEqual(active(), [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], "up to the image's end");
  clock.advance(100);
  assert.deepEqual(log.retirable(), [5, 6], "blocks ahead count as just written (5, 6 never were)");
  clock.advance(10_000);
  assert.deepEqual(log.retirable().length, 11, "and retire once idle");
});

Deno.test("ActivityLog activates ahead again once the writer is half a lookahead from the end", async () => {
  const { meta, log } = await setup({ blocks: 64 });
  const active = () => meta.state().image("vm").activity;
  await log.activate([0, 1]);
  log.activateAhead(1);
  await commandsApplied();
  assert.ok(
    active().has(1 + ACTIVITY_LOOKAHEAD_BLOCKS) && !active().has(2 + ACTIVITY_LOOKAHEAD_BLOCKS),
  );
  log.activateAhead(1 + ACTIVITY_LOOKAHEAD_BLOCKS / 2 - 1);
  await commandsApplied();
  assert.ok(!active().has(2 + ACTIVITY_LOOKAHEAD_BLOCKS), "still more than half ahead");
  const writer = 1 + ACTIVITY_LOOKAHEAD_BLOCKS / 2 + 1;
  log.activateAhead(writer);
  await log.activate([writer]);
  assert.ok(active().has(writer + ACTIVITY_LOOKAHEAD_BLOCKS), "a full lookahead past the writer");
});

Deno.test("ActivityLog does not activate ahead once the log is half full", async () => {
  const { meta, log } = await setup({ blocks: 40_000 });
  const halfFull = ACTIVITY_BLOCKS_MAX / 2 - ACTIVITY_LOOKAHEAD_BLOCKS + 1;
  await log.activate(Array.from({ length: halfFull }, (_, block) => block));
  log.activateAhead(halfFull - 1);
  await commandsApplied();
  assert.equal(meta.state().image("vm").activity.size, halfFull, "nothing activated ahead");
});
