/** Tests of resync group commit: grouping, boot id checks, failures. */

import assert from "node:assert/strict";
import { ResyncSettler } from "./resync_settler.ts";

/** A settler whose flushes wait until the test answers them. */
function heldSettler() {
  const flushes: { target: string; answer: (bootId: string) => void; fail: () => void }[] = [];
  const marks: { target: string; blocks: number[] }[] = [];
  const settler = new ResyncSettler({
    flush: (target) =>
      new Promise((resolve, reject) =>
        flushes.push({ target, answer: resolve, fail: () => reject(new Error("EIO")) })
      ),
    markInSync: (target, blocks) => {
      marks.push({ target, blocks: [...blocks] });
      return Promise.resolve();
    },
  });
  return { settler, flushes, marks };
}

async function settled(promise: Promise<void>): Promise<"resolved" | "rejected" | "pending"> {
  const marker = Symbol();
  const outcome = await Promise.race([
    promise.then(() => "resolved" as const, () => "rejected" as const),
    new Promise((resolve) => setTimeout(() => resolve(marker), 0)),
  ]);
  return outcome === marker ? "pending" : outcome as "resolved" | "rejected";
}

Deno.test("copies pulled while a group settles share the next flush and one mark per target", async () => {
  const { settler, flushes, marks } = heldSettler();
  const first = settler.settle("n2", 1, "boot");
  assert.equal(flushes.length, 1, "the first copy flushes at once");
  const later = [2, 3, 4].map((block) => settler.settle("n2", block, "boot"));
  const other = settler.settle("n3", 9, "boot3");
  assert.equal(flushes.length, 2, "another target settles on its own");
  assert.equal(await settled(first), "pending", "not in sync before its flush");
  flushes[0]!.answer("boot");
  assert.equal(await settled(first), "resolved");
  assert.equal(flushes.length, 3, "the copies that waited form one group");
  for (const promise of later) assert.equal(await settled(promise), "pending");
  flushes[2]!.answer("boot");
  for (const promise of later) assert.equal(await settled(promise), "resolved");
  flushes[1]!.answer("boot3");
  assert.equal(await settled(other), "resolved");
  assert.deepEqual(marks, [
    { target: "n2", blocks: [1] },
    { target: "n2", blocks: [2, 3, 4] },
    { target: "n3", blocks: [9] },
  ]);
});

Deno.test("a copy pulled before the target's machine restarted is not marked in sync", async () => {
  const { settler, flushes, marks } = heldSettler();
  const earlier = settler.settle("n2", 0, "boot-a");
  const before = settler.settle("n2", 1, "boot-a"); // pulled before the restart
  const after = settler.settle("n2", 2, "boot-b"); // pulled after it
  flushes[0]!.answer("boot-a");
  assert.equal(await settled(earlier), "resolved");
  assert.equal(flushes.length, 2, "blocks 1 and 2 form the next group");
  flushes[1]!.answer("boot-b");
  await assert.rejects(before, /restarted/);
  assert.equal(await settled(after), "resolved");
  assert.deepEqual(marks, [{ target: "n2", blocks: [0] }, { target: "n2", blocks: [2] }]);
});

Deno.test("a failed flush fails its group, marks nothing, and the next group flushes again", async () => {
  const { settler, flushes, marks } = heldSettler();
  const failing = settler.settle("n2", 1, "boot");
  flushes[0]!.fail();
  await assert.rejects(failing, /EIO/);
  assert.deepEqual(marks, []);
  const retried = settler.settle("n2", 1, "boot");
  assert.equal(flushes.length, 2);
  flushes[1]!.answer("boot");
  assert.equal(await settled(retried), "resolved");
  assert.deepEqual(marks, [{ target: "n2", blocks: [1] }]);
});
