/**
 * Data-path scenarios across engines in one process (in-memory network, one
 * metadata store): each design rule of ../shared/design.md §3 has a test that
 * fails if the rule breaks.
 */

import assert from "node:assert/strict";
import { UkaiError } from "../base/errors.ts";
import { silentLogger } from "../base/log.ts";
import { BlockStatus, imageStoreKey } from "../meta/mod.ts";
import { BLOCK, pattern, readInto, startNodes, tickUntil } from "./_test_nodes.ts";
import { OwnerSession } from "./owner_session.ts";
import { resyncParallelism } from "./resync.ts";
import { fdatasync } from "../ffi/libc.ts";

Deno.test("a write through one node is read back through a node without a copy (forwarded to the owner)", async () => {
  const nodes = await startNodes(["n1", "n2", "n3"]);
  try {
    await nodes.createImage("vm", 8, ["n1", "n2"]);
    const n1 = nodes.engine("n1");
    const n3 = nodes.engine("n3");
    await n1.open("vm");
    await n3.open("vm");
    const data = pattern(1, 3 * BLOCK + 100);
    await n1.write("vm", BLOCK - 50, data);
    const read = new Uint8Array(data.length);
    await readInto(n3, "vm", BLOCK - 50, read);
    assert.deepEqual(read, data);
    assert.equal(n3.stats.image("vm").forwardedReadOps, 1, "the owner served it");
    await n1.close("vm");
    const direct = new Uint8Array(data.length);
    await readInto(n3, "vm", BLOCK - 50, direct);
    assert.deepEqual(direct, data, "after the owner released, copies are read directly");
    assert.equal(n3.stats.image("vm").remoteReadBytes, data.length);
    nodes.expectCopiesIdentical("vm");
  } finally {
    await nodes.close();
  }
});

Deno.test("never-written ranges read as zeros, and reads stop at the visible size", async () => {
  const nodes = await startNodes(["n1"]);
  try {
    await nodes.createImage("vm", 4, ["n1"]);
    const target = new Uint8Array(3 * BLOCK).fill(7);
    await readInto(nodes.engine("n1"), "vm", BLOCK, target);
    assert.ok(target.every((byte) => byte === 0));
    await assert.rejects(
      async () => await nodes.engine("n1").write("vm", 4 * BLOCK - 10, new Uint8Array(20)),
      { code: "OUT_OF_RANGE" },
      "a write past the capacity is refused whole",
    );
  } finally {
    await nodes.close();
  }
});

Deno.test("a location that is down is marked out of sync before the write is acknowledged, and a resync repairs it", async () => {
  const nodes = await startNodes(["n1", "n2"]);
  try {
    await nodes.createImage("vm", 8, ["n1", "n2"]);
    const n1 = nodes.engine("n1");
    await n1.write("vm", 0, pattern(1, BLOCK));
    nodes.network.setDown("n2", true);
    await n1.write("vm", 2 * BLOCK, pattern(2, 2 * BLOCK));
    const image = nodes.meta.state().image("vm");
    assert.equal(image.statusOf("n2", 2), BlockStatus.outOfSync);
    assert.equal(image.statusOf("n2", 3), BlockStatus.outOfSync);
    assert.equal(image.statusOf("n2", 0), BlockStatus.inSync, "blocks not written stay in sync");
    const read = new Uint8Array(2 * BLOCK);
    await readInto(n1, "vm", 2 * BLOCK, read);
    assert.deepEqual(read, pattern(2, 2 * BLOCK));
    nodes.network.setDown("n2", false);
    nodes.clock.advance(60_000);
    await tickUntil(nodes, () => image.outOfSyncTotal() === 0, "the resync of n2");
    nodes.expectCopiesIdentical("vm");
    assert.ok(n1.stats.image("vm").resyncBlocks >= 2);
  } finally {
    await nodes.close();
  }
});

Deno.test("a write that no copy took fails with EIO and marks nothing", async () => {
  const nodes = await startNodes(["n1", "n2"]);
  try {
    await nodes.createImage("vm", 4, ["n2"]);
    const n1 = nodes.engine("n1");
    await n1.write("vm", 0, pattern(1, 100));
    nodes.network.setDown("n2", true);
    const failure = await (async () => await n1.write("vm", 0, pattern(2, 100)))().catch((error) =>
      error
    );
    assert.ok(failure instanceof UkaiError);
    assert.equal(failure.errno, 5);
    assert.equal(nodes.meta.state().image("vm").statusOf("n2", 0), BlockStatus.inSync);
  } finally {
    await nodes.close();
  }
});

Deno.test("a new owner fences every copy: a deposed owner that missed the news gets its writes refused", async () => {
  const nodes = await startNodes(["n1", "n2", "n3"]);
  try {
    await nodes.createImage("vm", 4, ["n1", "n2", "n3"]);
    const n1 = nodes.engine("n1");
    await n1.write("vm", 0, pattern(1, 4096));
    const image = nodes.meta.state().image("vm");
    const oldEpoch = image.epoch;
    // n1 is frozen (SIGSTOP): it answers nothing while n2 takes the image over.
    nodes.network.setDown("n1", true);
    await nodes.engine("n2").acquire("vm");
    nodes.network.setDown("n1", false);
    assert.equal(image.owner, "n2");
    assert.equal(
      image.statusOf("n1", 0),
      BlockStatus.outOfSync,
      "the unfenced copy is out of sync",
    );
    // n1 wakes up still believing it owns the image at the old epoch.
    const zombie = new OwnerSession({
      nodeId: "n1",
      meta: nodes.meta,
      channels: n1,
      server: n1.server,
      health: n1.health,
      clock: nodes.clock,
      logger: silentLogger,
      imageName: "vm",
      uid: image.uid,
      epoch: oldEpoch,
      kind: "io",
      activityIdleMs: 0,
    });
    const refused = await zombie.write(0, pattern(9, 4096), false).catch((error) => error);
    assert.ok(refused instanceof UkaiError, "the zombie's write failed");
    assert.equal(refused.code, "STALE_EPOCH");
    for (const node of ["n2", "n3"]) {
      await assert.rejects(
        n1.to(node).write(
          { uid: image.uid, epoch: oldEpoch, block: 0, offset: 0, length: 4, flags: 0 },
          pattern(9, 4),
        ),
        { code: "STALE_EPOCH" },
        `${node} refuses the old epoch`,
      );
    }
    const read = new Uint8Array(4096);
    await readInto(nodes.engine("n3"), "vm", 0, read);
    assert.deepEqual(read, pattern(1, 4096), "the zombie's write reached no in-sync copy");
  } finally {
    await nodes.close();
  }
});

Deno.test("a graceful handover: the new owner sees every write and the old one stops", async () => {
  const nodes = await startNodes(["n1", "n2"]);
  try {
    await nodes.createImage("vm", 4, ["n1", "n2"]);
    const n1 = nodes.engine("n1");
    const n2 = nodes.engine("n2");
    await n1.open("vm");
    await n2.open("vm");
    await n1.write("vm", 100, pattern(1, 5000));
    const before = new Uint8Array(5000);
    await readInto(n2, "vm", 100, before);
    assert.deepEqual(
      before,
      pattern(1, 5000),
      "reads on the destination are fresh before the switch",
    );
    await n2.acquire("vm");
    const image = nodes.meta.state().image("vm");
    assert.equal(image.owner, "n2");
    assert.equal(image.activity.size, 0, "the old owner retired its activity log on release");
    assert.equal(image.outOfSyncTotal(), 0, "nothing needed reconciling");
    assert.equal(n1.sessionOf("vm"), undefined);
    const after = new Uint8Array(5000);
    await readInto(n2, "vm", 100, after);
    assert.deepEqual(after, pattern(1, 5000));
    await n2.write("vm", 0, pattern(2, 50));
    assert.equal(image.epoch, 2);
    await assert.rejects(
      async () => await n1.write("vm", 0, pattern(3, 50)),
      { code: "NOT_OWNER" },
      "the old owner's open handles are fenced: it cannot take the image back",
    );
    assert.equal(image.owner, "n2");
    await n1.close("vm");
    await n1.open("vm");
    await n1.write("vm", 0, pattern(3, 50));
    assert.equal(image.owner, "n1", "after a reopen (a restarted VM) it may take the image again");
  } finally {
    await nodes.close();
  }
});

Deno.test("after the owner dies mid-write, the next owner reconciles the active blocks so copies converge", async () => {
  const nodes = await startNodes(["n1", "n2", "n3"]);
  try {
    await nodes.createImage("vm", 6, ["n2", "n3"]);
    const n1 = nodes.engine("n1");
    await n1.write("vm", 0, pattern(1, 2 * BLOCK));
    // A write in flight when n1 dies: n2 has it, n3 does not (the copies diverge).
    const image = nodes.meta.state().image("vm");
    const epoch = image.epoch;
    await nodes.engine("n2").server.write(
      { uid: image.uid, epoch, block: 1, offset: 0, length: 10, flags: 0 },
      pattern(7, 10),
    );
    nodes.network.setDown("n1", true);
    assert.ok(image.activity.has(1), "block 1 is in the activity log");
    await nodes.engine("n3").acquire("vm");
    assert.equal(image.activity.size, 0, "the new owner reconciled and retired the log");
    assert.ok(image.inSyncNodes(1).length === 1, "one copy of the active block kept in sync");
    await tickUntil(nodes, () => image.outOfSyncTotal() === 0, "the resync after the takeover");
    nodes.expectCopiesIdentical("vm");
    const block0 = new Uint8Array(BLOCK);
    await readInto(nodes.engine("n3"), "vm", 0, block0);
    assert.deepEqual(
      block0,
      pattern(1, 2 * BLOCK).subarray(0, BLOCK),
      "acknowledged data survived",
    );
  } finally {
    await nodes.close();
  }
});

Deno.test("a resync cap holds when many copies start at once: each reserves its block first", async () => {
  const nodes = await startNodes(["n1", "n2"], { resyncBytesPerSecond: 2 * BLOCK });
  try {
    await nodes.createImage("vm", 16, ["n1"]);
    const n1 = nodes.engine("n1");
    await n1.write("vm", 0, pattern(3, 16 * BLOCK));
    await nodes.meta.propose({ type: "location.add", name: "vm", node: "n2" });
    const image = nodes.meta.state().image("vm");
    const inSyncOnN2 = () => image.countsOf("n2").inSync;
    // The manual clock stands still between the steps below, so only what the
    // bucket allows can go: the one-second burst is two blocks, and a third
    // starts while the bucket is not yet in debt.
    const settle = async () => {
      for (let round = 0; round < 30; round++) {
        for (const engine of nodes.engines.values()) await engine.tick();
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
    };
    await settle();
    assert.equal(inSyncOnN2(), 3, "copies beyond the burst waited for the clock");
    nodes.clock.advance(1000); // pays the third block's debt and earns one more
    await settle();
    assert.equal(inSyncOnN2(), 5);
  } finally {
    await nodes.close();
  }
});

Deno.test("a resync goes on pulling while copies already pulled wait for their group's flush", async () => {
  let gate: PromiseWithResolvers<void> | undefined;
  const nodes = await startNodes(["n1", "n2"], {}, {
    syncFile: async (fd) => {
      await gate?.promise;
      await fdatasync(fd);
    },
  });
  try {
    const blocks = resyncParallelism(BLOCK) + 8;
    await nodes.createImage("vm", blocks, ["n1"]);
    const n1 = nodes.engine("n1");
    await n1.write("vm", 0, pattern(4, blocks * BLOCK));
    await n1.flush("vm");
    gate = Promise.withResolvers();
    await nodes.meta.propose({ type: "location.add", name: "vm", node: "n2" });
    const image = nodes.meta.state().image("vm");
    const onN2 = nodes.stores.get("n2")!.image(imageStoreKey("vm", image.uid), BLOCK);
    let pulled = 0;
    for (let round = 0; round < 500 && pulled < blocks; round++) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      pulled = (await onN2.blockIndexes()).length;
    }
    assert.equal(pulled, blocks, "every block was pulled while the first flush waited");
    assert.equal(image.countsOf("n2").inSync, 0, "none is in sync before its flush");
    gate.resolve();
    await tickUntil(nodes, () => image.outOfSyncTotal() === 0, "n2 to be in sync");
    nodes.expectCopiesIdentical("vm");
  } finally {
    gate?.resolve();
    await nodes.close();
  }
});

Deno.test("writes during a resync are neither lost nor overwritten by the copy", async () => {
  const nodes = await startNodes(["n1", "n2"]);
  try {
    await nodes.createImage("vm", 16, ["n1"]);
    const n1 = nodes.engine("n1");
    const model = new Uint8Array(16 * BLOCK);
    for (let block = 0; block < 16; block++) {
      const data = pattern(block, BLOCK);
      await n1.write("vm", block * BLOCK, data);
      model.set(data, block * BLOCK);
    }
    await nodes.meta.propose({ type: "location.add", name: "vm", node: "n2" });
    const image = nodes.meta.state().image("vm");
    let seed = 100;
    const writer = (async () => {
      while (image.outOfSyncTotal() > 0) {
        const offset = (seed * 7919) % (16 * BLOCK - 3000);
        const data = pattern(seed++, 3000);
        await n1.write("vm", offset, data);
        model.set(data, offset);
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    })();
    await tickUntil(nodes, () => image.outOfSyncTotal() === 0, "n2 to be in sync");
    await writer;
    assert.ok(seed > 100, "writes happened during the resync");
    nodes.expectCopiesIdentical("vm");
    const copy = new Uint8Array(16 * BLOCK);
    nodes.stores.get("n2")!.image(imageStoreKey("vm", image.uid), BLOCK).read(
      0,
      0,
      copy.subarray(0, BLOCK),
    );
    for (let block = 0; block < 16; block++) {
      nodes.stores.get("n2")!.image(imageStoreKey("vm", image.uid), BLOCK).read(
        block,
        0,
        copy.subarray(block * BLOCK, (block + 1) * BLOCK),
      );
    }
    assert.deepEqual(copy, model, "the new copy holds every write");
  } finally {
    await nodes.close();
  }
});

Deno.test("removing a location deletes exactly its removed block files on that node", async () => {
  const nodes = await startNodes(["n1", "n2"]);
  try {
    await nodes.createImage("vm", 8, ["n1", "n2"]);
    const n1 = nodes.engine("n1");
    await n1.write("vm", 0, pattern(1, 8 * BLOCK));
    await n1.close("vm").catch(() => undefined);
    const image = nodes.meta.state().image("vm");
    const blocks = nodes.stores.get("n2")!.image(imageStoreKey("vm", image.uid), BLOCK);
    assert.deepEqual(await blocks.blockIndexes(), [0, 1, 2, 3, 4, 5, 6, 7]);
    await nodes.meta.propose({
      type: "location.remove",
      name: "vm",
      node: "n2",
      range: { start: 2, end: 5 },
    });
    await nodes.engine("n2").stop();
    assert.deepEqual(await blocks.blockIndexes(), [0, 1, 5, 6, 7]);
    await assert.rejects(
      nodes.meta.propose({
        type: "location.remove",
        name: "vm",
        node: "n1",
        range: { start: 2, end: 5 },
      }),
      { code: "LAST_IN_SYNC_LOCATION" },
    );
  } finally {
    await nodes.close();
  }
});

Deno.test("an image move copies every block to the new node and then removes the old one", async () => {
  const nodes = await startNodes(["n1", "n2", "n3"]);
  try {
    await nodes.createImage("vm", 6, ["n1", "n2"]);
    const n1 = nodes.engine("n1");
    await n1.write("vm", 0, pattern(3, 6 * BLOCK));
    await n1.close("vm").catch(() => undefined);
    await nodes.meta.propose({
      type: "move.start",
      name: "vm",
      from: "n2",
      to: "n3",
      startedAtMs: 0,
    });
    const image = nodes.meta.state().image("vm");
    await tickUntil(nodes, () => image.move === null, "the move to finish");
    assert.deepEqual(image.locationNodes().sort(), ["n1", "n3"]);
    nodes.expectCopiesIdentical("vm");
    const read = new Uint8Array(6 * BLOCK);
    nodes.network.setDown("n1", true);
    await readInto(nodes.engine("n3"), "vm", 0, read);
    assert.deepEqual(read, pattern(3, 6 * BLOCK), "the new copy alone serves the data");
    await nodes.engine("n2").stop();
    const old = nodes.stores.get("n2")!.image(imageStoreKey("vm", image.uid), BLOCK);
    assert.deepEqual(await old.blockIndexes(), [], "the old node's block files are gone");
  } finally {
    await nodes.close();
  }
});

Deno.test("a copy whose machine rebooted between flushes goes out of sync for the blocks written since the last flush", async () => {
  const nodes = await startNodes(["n1", "n2"]);
  try {
    await nodes.createImage("vm", 4, ["n1", "n2"]);
    const n1 = nodes.engine("n1");
    await n1.open("vm");
    await n1.write("vm", 0, pattern(1, 2 * BLOCK));
    await n1.flush("vm");
    await n1.write("vm", 2 * BLOCK, pattern(2, 100));
    await nodes.restart("n2", "boot-2");
    await n1.flush("vm");
    const image = nodes.meta.state().image("vm");
    assert.deepEqual(
      [0, 1, 2, 3].map((block) => image.statusOf("n2", block)),
      [BlockStatus.inSync, BlockStatus.inSync, BlockStatus.outOfSync, BlockStatus.inSync],
      "only the block written since the previous flush may have been lost",
    );
    await tickUntil(nodes, () => image.outOfSyncTotal() === 0, "the resync of the rebooted copy");
    nodes.expectCopiesIdentical("vm");
  } finally {
    await nodes.close();
  }
});

Deno.test("a resync ownership never takes an image from its owner", async () => {
  const nodes = await startNodes(["n1", "n2"]);
  try {
    await nodes.createImage("vm", 4, ["n1", "n2"]);
    const n1 = nodes.engine("n1");
    await n1.open("vm");
    await n1.write("vm", 0, pattern(1, 100));
    await assert.rejects(nodes.engine("n2").acquire("vm", "resync"), { code: "CONFLICT" });
    assert.equal(nodes.meta.state().image("vm").owner, "n1");
    assert.ok(n1.sessionOf("vm")?.active, "the owner was not asked to release");
  } finally {
    await nodes.close();
  }
});

Deno.test("an image closed and reopened at once on the same node can be written again", async () => {
  const nodes = await startNodes(["n1", "n2"]);
  try {
    await nodes.createImage("vm", 4, ["n1", "n2"]);
    const n1 = nodes.engine("n1");
    await n1.open("vm");
    await n1.write("vm", 0, pattern(1, 100));
    const closing = n1.close("vm");
    await n1.open("vm");
    await n1.write("vm", 100, pattern(2, 100));
    await closing;
    const read = new Uint8Array(200);
    await readInto(n1, "vm", 0, read);
    assert.deepEqual(read.subarray(100), pattern(2, 100), "the reopened handle was not fenced");
  } finally {
    await nodes.close();
  }
});
