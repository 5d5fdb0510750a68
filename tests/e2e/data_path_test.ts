/**
 * The replicated data path with three real nodes on loopback, each with its
 * own data folder and mount (issue 4's list). Every scenario ends with the
 * verifier: each acknowledged write reads back exactly, and each block's
 * in-sync copies are byte-identical on disk.
 */

import assert from "node:assert/strict";
import type { ImageView } from "../../meta/mod.ts";
import { ProcessCluster } from "../harness/processes.ts";
import { blockFilesOn, divergentBlocks, SlotWriter } from "../harness/verifier.ts";

const KiB = 1024;
const BLOCK = 256 * KiB;
const BLOCKS = 16;
const SLOT = 64 * KiB;
const SLOTS = (BLOCKS * BLOCK) / SLOT;

async function threeNodes(options: { zones?: string[] } = {}): Promise<ProcessCluster> {
  const cluster = await ProcessCluster.create();
  const zones = options.zones ?? ["dc1", "dc1", "dc2"];
  cluster.define("n1", zones[0]);
  cluster.define("n2", zones[1]);
  cluster.define("n3", zones[2]);
  await cluster.start("n1");
  await cluster.start("n2", { join: cluster.address("n1") });
  await cluster.start("n3", { join: cluster.address("n1") });
  await until(
    () => cluster.call<{ nodes: { role: string }[] }>("n1", "GET", "/v1/nodes"),
    (answer) => answer.nodes.filter((node) => node.role === "voter").length === 3,
    "all three nodes to be voters",
  );
  return cluster;
}

/** Creates image "vm" of BLOCKS blocks at `locations`, through n1. */
async function createImage(cluster: ProcessCluster, locations: string[]): Promise<void> {
  await cluster.call("n1", "POST", "/v1/images", {
    name: "vm",
    size: BLOCKS * BLOCK,
    blockSize: BLOCK,
    locations,
  });
}

async function image(cluster: ProcessCluster, via: string, name: string): Promise<ImageView> {
  return await cluster.call<ImageView>(via, "GET", `/v1/images/${name}?fresh=1`);
}

async function until<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
  timeoutMs = 60_000,
) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (performance.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}: ${JSON.stringify(value).slice(0, 400)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function verify(cluster: ProcessCluster, writer: SlotWriter, via: string, name: string) {
  const view = await until(
    () => image(cluster, via, name),
    (v) => v.outOfSyncBlocks === 0,
    "all copies in sync",
  );
  assert.deepEqual(
    await writer.mismatches(`${cluster.node(via).mount}/${name}`),
    [],
    "acknowledged writes",
  );
  assert.deepEqual(await divergentBlocks(cluster, view), [], "in-sync copies are identical");
  return view;
}

Deno.test("data written through one node's mount is read through a node without a copy", async () => {
  const cluster = await threeNodes();
  try {
    await createImage(cluster, ["n1", "n2"]);
    const writer = new SlotWriter(1, SLOT, SLOTS);
    cluster.defer(() => writer.closeAll());
    for (let slot = 0; slot < SLOTS; slot++) {
      assert.ok(
        await writer.writeSlot(`${cluster.node("n1").mount}/vm`, slot),
        String(writer.lastError),
      );
    }
    assert.deepEqual(
      await writer.mismatches(`${cluster.node("n3").mount}/vm`),
      [],
      "read through n3",
    );
    const stats = await cluster.call<{ forwardedReadOps: number }>(
      "n3",
      "GET",
      "/v1/images/vm/stats",
    );
    assert.ok(stats.forwardedReadOps > 0, "n3 forwarded its reads to the owner n1");
    await verify(cluster, writer, "n2", "vm");
  } finally {
    await cluster.close();
  }
});

Deno.test("kill -9 of a location during a write storm: writes go on, its copies go out of sync, and a resync repairs them", async () => {
  const cluster = await threeNodes();
  try {
    await createImage(cluster, ["n1", "n2"]);
    const writer = new SlotWriter(2, SLOT, SLOTS);
    cluster.defer(() => writer.closeAll());
    writer.start(() => `${cluster.node("n1").mount}/vm`);
    await new Promise((resolve) => setTimeout(resolve, 800));
    await cluster.kill("n2");
    const before = writer.acknowledgedCount;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const degraded = await image(cluster, "n1", "vm");
    assert.ok(writer.failures === 0, `no write failed while a copy was down (${writer.failures})`);
    assert.ok(writer.acknowledgedCount >= before, "writes went on");
    const n2 = degraded.locations.find((location) => location.node === "n2");
    assert.ok((n2?.outOfSyncBlocks ?? 0) > 0, "the dead copy's written blocks are out of sync");
    await cluster.start("n2");
    await writer.finish();
    const synced = await cluster.cli("n1", ["image", "sync", "vm", "--wait"]);
    assert.equal(synced.code, 0, synced.stderr);
    await verify(cluster, writer, "n2", "vm");
  } finally {
    await cluster.close();
  }
});

Deno.test("kill -9 of the owner mid-storm: another node takes over, copies converge, acknowledged writes survive", async () => {
  const cluster = await threeNodes();
  try {
    await createImage(cluster, ["n2", "n3"]);
    const writer = new SlotWriter(3, SLOT, SLOTS);
    cluster.defer(() => writer.closeAll());
    let via = "n1";
    writer.start(() => `${cluster.node(via).mount}/vm`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await cluster.kill("n1");
    via = "n2";
    await until(
      async () => (await image(cluster, "n2", "vm")).owner,
      (owner) => owner === "n2",
      "n2 to own the image",
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    await writer.finish();
    assert.ok(writer.acknowledgedCount > 0);
    await verify(cluster, writer, "n3", "vm");
  } finally {
    await cluster.close();
  }
});

Deno.test("a zombie owner (SIGSTOP, taken over, SIGCONT) gets its late writes refused", async () => {
  const cluster = await threeNodes();
  try {
    await createImage(cluster, ["n1", "n2", "n3"]);
    const writer = new SlotWriter(4, SLOT, SLOTS);
    cluster.defer(() => writer.closeAll());
    for (let slot = 0; slot < 4; slot++) {
      assert.ok(
        await writer.writeSlot(`${cluster.node("n1").mount}/vm`, slot),
        String(writer.lastError),
      );
    }
    // The owner freezes with a write on its way: a separate process issues it,
    // so that nothing in this test waits on the frozen server.
    cluster.signal("n1", "SIGSTOP");
    await Deno.writeFile(`${cluster.root}/late`, new Uint8Array(SLOT).fill(0xee));
    const late = new Deno.Command("dd", {
      args: [
        `if=${cluster.root}/late`,
        `of=${cluster.node("n1").mount}/vm`,
        `bs=${SLOT}`,
        "seek=5",
        "conv=notrunc",
        "status=none",
      ],
      stderr: "piped",
    }).output();
    await until(
      async () => {
        await writer.writeSlot(`${cluster.node("n2").mount}/vm`, 6);
        return (await image(cluster, "n2", "vm")).owner;
      },
      (owner) => owner === "n2",
      "n2 to take the image over",
    );
    const taken = await image(cluster, "n2", "vm");
    assert.ok(
      (taken.locations.find((location) => location.node === "n1")?.outOfSyncBlocks ?? 0) > 0,
      "the unfenced (frozen) copy was marked out of sync",
    );
    cluster.signal("n1", "SIGCONT");
    const lateResult = await late;
    await cluster.waitForLog("n1", /ownership lost/);
    const view = await image(cluster, "n2", "vm");
    if (lateResult.code === 0) {
      // Acknowledged only if n1 properly took the image back (new epoch, fencing n2).
      assert.ok(view.epoch > taken.epoch, "a late write succeeded without a new takeover");
    } else {
      assert.equal(view.owner, "n2", "the refused zombie did not get the image back");
      const slot5 = (await Deno.readFile(`${cluster.node("n3").mount}/vm`)).subarray(
        5 * SLOT,
        6 * SLOT,
      );
      assert.ok(!slot5.every((byte) => byte === 0xee), "the refused write reached no in-sync copy");
    }
    await verify(cluster, writer, "n3", "vm");
  } finally {
    await cluster.close();
  }
});

Deno.test("a simulated live migration: writes on A, handover, B reads every write and its writes fence A", async () => {
  const cluster = await threeNodes();
  try {
    await createImage(cluster, ["n1", "n3"]);
    const a = `${cluster.node("n1").mount}/vm`;
    const b = `${cluster.node("n2").mount}/vm`;
    const held = await Deno.open(b, { read: true, write: true });
    const writer = new SlotWriter(5, SLOT, SLOTS);
    cluster.defer(() => writer.closeAll());
    for (let slot = 0; slot < SLOTS; slot++) assert.ok(await writer.writeSlot(a, slot));
    assert.deepEqual(
      await writer.mismatches(b),
      [],
      "the destination reads fresh data before the switch",
    );
    const handover = await cluster.cli("n1", ["image", "handover", "vm", "--to", "n2", "--json"]);
    assert.equal(handover.code, 0, handover.stderr);
    const { owner, epoch } = JSON.parse(handover.stdout);
    assert.equal(owner, "n2");
    assert.deepEqual(await writer.mismatches(b), [], "every write is visible on the new owner");
    assert.ok(await writer.writeSlot(b, 0));
    const zombie = await new Deno.Command("dd", {
      args: ["if=/dev/zero", `of=${a}`, "bs=4096", "count=1", "conv=notrunc", "status=none"],
      stderr: "null",
    }).output();
    assert.notEqual(zombie.code, 0, "the source's open handles are fenced after the hand-over");
    const view = await image(cluster, "n2", "vm");
    assert.equal(view.owner, "n2");
    assert.equal(view.epoch, epoch, "B's writes did not need another takeover");
    assert.equal(view.outOfSyncBlocks, 0, "a graceful hand-over leaves nothing to reconcile");
    held.close();
    await verify(cluster, writer, "n2", "vm");
  } finally {
    await cluster.close();
  }
});

Deno.test("image move while a writer keeps writing, interrupted by a restart and resumed", async () => {
  const cluster = await threeNodes();
  try {
    await createImage(cluster, ["n1", "n2"]);
    await cluster.call("n1", "POST", "/v1/images/vm/sync", { rate: "2M" });
    const writer = new SlotWriter(6, SLOT, SLOTS);
    cluster.defer(() => writer.closeAll());
    for (let slot = 0; slot < SLOTS; slot++) {
      await writer.writeSlot(`${cluster.node("n1").mount}/vm`, slot);
    }
    writer.start(() => `${cluster.node("n1").mount}/vm`);
    const move = await cluster.cli("n1", [
      "image",
      "move",
      "vm",
      "--from",
      "n2",
      "--to",
      "n3",
      "--no-wait",
    ]);
    assert.equal(move.code, 0, move.stderr);
    await new Promise((resolve) => setTimeout(resolve, 700));
    await cluster.stop("n3");
    await cluster.start("n3");
    await cluster.call("n1", "POST", "/v1/images/vm/sync", { rate: "0" });
    await until(
      () => image(cluster, "n1", "vm"),
      (view) => view.move === null,
      "the move to finish",
    );
    await writer.finish();
    const view = await verify(cluster, writer, "n3", "vm");
    assert.deepEqual(view.locations.map((location) => location.node).sort(), ["n1", "n3"]);
    await until(
      () => blockFilesOn(cluster, "n2", view),
      (blocks) => blocks.length === 0,
      "n2's block files to go",
    );
  } finally {
    await cluster.close();
  }
});

Deno.test("location remove is refused for the last in-sync copy, and block files always match the metadata", async () => {
  const cluster = await threeNodes();
  try {
    await createImage(cluster, ["n1"]);
    const writer = new SlotWriter(7, SLOT, SLOTS);
    cluster.defer(() => writer.closeAll());
    for (let slot = 0; slot < SLOTS; slot++) {
      await writer.writeSlot(`${cluster.node("n1").mount}/vm`, slot);
    }
    const refused = await cluster.cli("n1", ["location", "remove", "vm", "n1", "--range", "2-5"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /only in-sync copy of blocks 2-5/);
    const added = await cluster.cli("n1", [
      "location",
      "add",
      "vm",
      "n2",
      "--range",
      "0-7",
      "--wait",
    ]);
    assert.equal(added.code, 0, added.stderr);
    let view = await image(cluster, "n1", "vm");
    assert.deepEqual(await blockFilesOn(cluster, "n2", view), [0, 1, 2, 3, 4, 5, 6, 7]);
    const removed = await cluster.cli("n1", ["location", "remove", "vm", "n1", "--range", "2-5"]);
    assert.equal(removed.code, 0, removed.stderr);
    view = await image(cluster, "n1", "vm");
    await until(
      () => blockFilesOn(cluster, "n1", view),
      (blocks) => blocks.join() === "0,1,6,7,8,9,10,11,12,13,14,15",
      "n1 to delete blocks 2-5",
    );
    assert.deepEqual(
      await blockFilesOn(cluster, "n2", view),
      [0, 1, 2, 3, 4, 5, 6, 7],
      "nothing else deleted",
    );
    await verify(cluster, writer, "n3", "vm");
  } finally {
    await cluster.close();
  }
});
