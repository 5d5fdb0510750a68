/** Tests of the per-file fsync bookkeeping and the fsync concurrency limit. */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Limiter } from "./_limiter.ts";
import { SyncTracker } from "./_sync_tracker.ts";

/** A fake fsync the test completes by hand; records when each one started. */
function controlledSync() {
  const started: { finish: (error?: Error) => void }[] = [];
  const sync = () =>
    new Promise<void>((resolve, reject) => {
      started.push({ finish: (error) => error === undefined ? resolve() : reject(error) });
    });
  return { started, sync };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("a request waits for the running fsync and one more for later changes", async () => {
  const { started, sync } = controlledSync();
  const tracker = new SyncTracker({ sync, limiter: new Limiter(4), settled: () => {} });
  assertEquals(await tracker.request(), null); // nothing to do
  tracker.markDirty();
  const first = tracker.request();
  await tick();
  assertEquals(started.length, 1);
  assertEquals(tracker.dirty, false);
  const sameChanges = tracker.request(); // covered by the running fsync
  tracker.markDirty();
  const laterChanges = tracker.request();
  const laterToo = tracker.request(); // shares the queued fsync
  await tick();
  assertEquals(started.length, 1, "fsyncs of one file overlapped");
  started[0]?.finish();
  assertEquals(await first, null);
  assertEquals(await sameChanges, null);
  await tick();
  assertEquals(started.length, 2);
  started[1]?.finish();
  assertEquals(await laterChanges, null);
  assertEquals(await laterToo, null);
  assert(tracker.idle && !tracker.needsSync);
});

Deno.test("a failure reaches every waiting request, keeps the file dirty and is taken once", async () => {
  const { started, sync } = controlledSync();
  let settledCalls = 0;
  const tracker = new SyncTracker({
    sync,
    limiter: new Limiter(1),
    settled: () => settledCalls++,
  });
  tracker.markDirty();
  const a = tracker.request();
  const b = tracker.request();
  await tick();
  started[0]?.finish(new Error("EIO"));
  assertEquals((await a)?.message, "EIO");
  assertEquals((await b)?.message, "EIO");
  assert(tracker.dirty && tracker.needsSync);
  assertEquals(tracker.takeFailure()?.message, "EIO");
  assertEquals(tracker.takeFailure(), null);
  const retry = tracker.request();
  await tick();
  started[1]?.finish();
  assertEquals(await retry, null);
  assert(!tracker.needsSync);
  assert(settledCalls >= 3);
});

Deno.test("the limiter runs at most max tasks at once, in arrival order", async () => {
  const limiter = new Limiter(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const task = (n: number) =>
    limiter.run(async () => {
      running += 1;
      peak = Math.max(peak, running);
      order.push(n);
      await tick();
      running -= 1;
      return n;
    });
  const results = await Promise.all(Array.from({ length: 10 }, (_, n) => task(n)));
  assertEquals(results, Array.from({ length: 10 }, (_, n) => n));
  assertEquals(order, results);
  assertEquals(peak, 2);
});
