/** Tests of the per-block readers-writer locks used between writes and resync. */

import assert from "node:assert/strict";
import { BlockLocks } from "./block_locks.ts";

Deno.test("BlockLocks lets writes share a block and makes a resync wait for them", async () => {
  const locks = new BlockLocks();
  const events: string[] = [];
  const write1 = await locks.shared(7);
  const write2 = await locks.shared(7);
  const resync = locks.exclusive(7).then((unlock) => {
    events.push("resync");
    return unlock;
  });
  const lateWrite = locks.shared(7).then((unlock) => {
    events.push("late write");
    return unlock;
  });
  await Promise.resolve();
  assert.deepEqual(events, [], "the resync waits for both writes; the late write queues behind it");
  write1();
  write2();
  const unlockResync = await resync;
  assert.deepEqual(events, ["resync"]);
  unlockResync();
  (await lateWrite)();
  assert.deepEqual(events, ["resync", "late write"]);
  assert.equal(locks.size, 0, "idle locks are forgotten");
});

Deno.test("BlockLocks keeps different blocks independent and refuses a double release", async () => {
  const locks = new BlockLocks();
  const a = await locks.exclusive(1);
  const b = await locks.exclusive(2);
  assert.equal(locks.trySharedNow(1), null);
  b();
  const c = locks.trySharedNow(2);
  assert.ok(c !== null);
  c();
  a();
  assert.throws(() => a(), /released twice/);
});
