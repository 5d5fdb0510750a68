/** Tests of the owner's activity log: batching, and when blocks may leave it. */

import assert from "node:assert/strict";
import { ManualClock } from "../base/clock.ts";
import { MemoryMetaStore } from "../meta/mod.ts";
import { ActivityLog } from "./activity_log.ts";

async function setup() {
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
    size: 16 * 65536,
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
