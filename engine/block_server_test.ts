/**
 * Tests of the block server: validation of every request, fencing by epoch
 * (persisted across a restart), and pulls between two nodes' stores.
 */

import assert from "node:assert/strict";
import { silentLogger } from "../base/log.ts";
import { imageStoreKey, MemoryMetaStore } from "../meta/mod.ts";
import { BlockStore } from "../store/mod.ts";
import { BlockServer } from "./block_server.ts";

const BLOCK = 65536;

async function setup() {
  const root = await Deno.makeTempDir({ prefix: "ukai-block-server-" });
  const meta = new MemoryMetaStore();
  for (const id of ["a", "b"]) {
    await meta.propose({ type: "node.add", id, address: "127.0.0.1:1", zone: "z", role: "voter" });
  }
  await meta.propose({
    type: "image.create",
    name: "vm",
    size: 4 * BLOCK,
    blockSize: BLOCK,
    locations: ["a", "b"],
    hypervisors: [],
    createdAtMs: 0,
  });
  const stores = {
    a: await BlockStore.open({ root: `${root}/a`, logger: silentLogger }),
    b: await BlockStore.open({ root: `${root}/b`, logger: silentLogger }),
  };
  const servers = {
    a: new BlockServer({
      nodeId: "a",
      bootId: "boot",
      meta,
      store: stores.a,
      logger: silentLogger,
    }),
    b: new BlockServer({
      nodeId: "b",
      bootId: "boot",
      meta,
      store: stores.b,
      logger: silentLogger,
    }),
  };
  const uid = meta.state().image("vm").uid;
  const cleanup = async () => {
    await stores.a.close();
    await stores.b.close();
    await Deno.remove(root, { recursive: true });
  };
  return { root, meta, stores, servers, uid, cleanup };
}

/** Marks b's copy of block 1 out of sync, at epoch 1 (a's ownership). */
async function markBlock1OfBOutOfSync(meta: MemoryMetaStore): Promise<void> {
  await meta.propose({
    type: "blocks.mark",
    name: "vm",
    epoch: 1,
    marks: [{ node: "b", ranges: [{ start: 1, end: 2 }], status: "outOfSync" }],
    retireActivity: [],
  });
}

const header = (uid: number, fields: Partial<Record<string, number>> = {}) => ({
  uid,
  epoch: 0,
  block: 1,
  offset: 100,
  length: 5,
  flags: 0,
  ...fields,
});

Deno.test("BlockServer writes and reads a range, and never-written ranges read as zeros", async () => {
  const { servers, uid, cleanup } = await setup();
  try {
    await servers.a.write(header(uid), new Uint8Array([1, 2, 3, 4, 5]));
    assert.deepEqual([...await servers.a.read(header(uid))], [1, 2, 3, 4, 5]);
    assert.deepEqual([...await servers.a.read(header(uid, { block: 2 }))], [0, 0, 0, 0, 0]);
    await servers.a.punch(header(uid, { offset: 101, length: 2 }));
    assert.deepEqual([...await servers.a.read(header(uid))], [1, 0, 0, 4, 5]);
  } finally {
    await cleanup();
  }
});

Deno.test("BlockServer refuses unknown images, other nodes' blocks, out-of-sync reads and bad ranges", async () => {
  const { meta, servers, uid, cleanup } = await setup();
  try {
    await assert.rejects(async () => await servers.a.read(header(999)), {
      code: "IMAGE_NOT_FOUND",
    });
    await assert.rejects(async () => await servers.a.read(header(uid, { block: 4 })), {
      code: "INVALID_ARGUMENT",
    });
    await assert.rejects(async () => await servers.a.read(header(uid, { offset: BLOCK - 2 })), {
      code: "INVALID_ARGUMENT",
    });
    await meta.propose({
      type: "location.remove",
      name: "vm",
      node: "b",
      range: { start: 3, end: 4 },
    });
    await assert.rejects(
      async () => await servers.b.write(header(uid, { block: 3 }), new Uint8Array(5)),
      {
        code: "NOT_A_LOCATION",
      },
    );
    await meta.propose({ type: "owner.take", name: "vm", node: "a", kind: "io", expectedEpoch: 0 });
    await markBlock1OfBOutOfSync(meta);
    await assert.rejects(async () => await servers.b.read(header(uid, { epoch: 1 })), {
      code: "NOT_A_LOCATION",
    });
    await servers.b.write(header(uid, { epoch: 1 }), new Uint8Array(5));
  } finally {
    await cleanup();
  }
});

Deno.test("BlockServer.exportBlock() checks again when it reads: a copy marked out of sync meanwhile is refused", async () => {
  const { meta, servers, uid, cleanup } = await setup();
  try {
    await meta.propose({ type: "owner.take", name: "vm", node: "a", kind: "io", expectedEpoch: 0 });
    await servers.b.write(header(uid, { epoch: 1 }), new Uint8Array([1, 2, 3, 4, 5]));
    const exporting = servers.b.exportBlock(header(uid, { epoch: 1, offset: 0, length: 0 }));
    // Between the request (checked, disk asked) and the read on a later turn:
    await markBlock1OfBOutOfSync(meta);
    await assert.rejects(exporting, { code: "NOT_A_LOCATION" });
    const exported = await servers.a.exportBlock(header(uid, { epoch: 1, offset: 0, length: 0 }));
    assert.deepEqual(exported.extents, [], "a's copy of block 1 was never written");
  } finally {
    await cleanup();
  }
});

Deno.test("BlockServer refuses requests older than its fence, also after a restart", async () => {
  const { root, meta, stores, servers, uid, cleanup } = await setup();
  try {
    await servers.a.fence(header(uid, { epoch: 5 }));
    await assert.rejects(
      async () => await servers.a.write(header(uid, { epoch: 4 }), new Uint8Array(5)),
      {
        code: "STALE_EPOCH",
      },
    );
    await servers.a.write(header(uid, { epoch: 6 }), new Uint8Array(5));
    await stores.a.close();
    stores.a = await BlockStore.open({ root: `${root}/a`, logger: silentLogger });
    const restarted = new BlockServer({
      nodeId: "a",
      bootId: "boot",
      meta,
      store: stores.a,
      logger: silentLogger,
    });
    await assert.rejects(async () => await restarted.read(header(uid, { epoch: 5 })), {
      code: "STALE_EPOCH",
    });
    assert.equal(await stores.a.image(imageStoreKey("vm", uid), BLOCK).readFence(), 6);
  } finally {
    await cleanup();
  }
});

Deno.test("BlockServer.pull() copies only data extents from the source, keeping holes", async () => {
  const { stores, servers, uid, cleanup } = await setup();
  try {
    const data = new Uint8Array(4096).fill(7);
    await servers.a.write(header(uid, { offset: 8192, length: 4096 }), data);
    await servers.b.write(header(uid, { offset: 0, length: 5 }), new Uint8Array(5).fill(9));
    const shipped = await servers.b.pull(
      header(uid, { offset: 0, length: 0 }),
      "a",
      async (_source, exportHeader) => await servers.a.exportBlock(exportHeader),
    );
    assert.deepEqual(shipped, { bytes: 4096, bootId: "boot" }, "only the written extent travelled");
    const copy = await servers.b.read(header(uid, { offset: 0, length: BLOCK }));
    assert.deepEqual(copy.subarray(0, 5), new Uint8Array(5), "old data on the target is replaced");
    assert.deepEqual(copy.subarray(8192, 8192 + 4096), data);
    const extents = stores.b.image(imageStoreKey("vm", uid), BLOCK).dataExtents(1);
    assert.deepEqual(extents, [{ byteOffset: 8192, byteLength: 4096 }]);
  } finally {
    await cleanup();
  }
});

Deno.test("BlockServer.pull() refuses to write when a takeover fenced the node while the export travelled", async () => {
  const { stores, servers, uid, cleanup } = await setup();
  try {
    await servers.a.write(header(uid, { epoch: 3 }), new Uint8Array(4096).fill(7));
    await servers.b.fence(header(uid, { epoch: 3 }));
    await assert.rejects(
      servers.b.pull(header(uid, { epoch: 3, offset: 0, length: 0 }), "a", async (_source, h) => {
        const exported = await servers.a.exportBlock(h);
        await servers.b.fence(header(uid, { epoch: 4 })); // the new owner fences b meanwhile
        return exported;
      }),
      { code: "STALE_EPOCH" },
    );
    const extents = stores.b.image(imageStoreKey("vm", uid), BLOCK).dataExtents(1);
    assert.deepEqual(extents, [], "the deposed owner's copy was not written");
  } finally {
    await cleanup();
  }
});

Deno.test("BlockServer.pull() quarantines a wrong-size block file and keeps it", async () => {
  const { stores, servers, uid, cleanup } = await setup();
  try {
    const blocks = stores.b.image(imageStoreKey("vm", uid), BLOCK);
    await Deno.mkdir(blocks.folder, { recursive: true });
    await Deno.writeFile(blocks.blockPath(1), new Uint8Array(10).fill(1));
    await assert.rejects(async () => await servers.b.read(header(uid)), {
      code: "BLOCK_FILE_CORRUPT",
    });
    await servers.a.write(header(uid), new Uint8Array([5, 5, 5, 5, 5]));
    await servers.b.pull(
      header(uid, { offset: 0, length: 0 }),
      "a",
      async (_source, exportHeader) => await servers.a.exportBlock(exportHeader),
    );
    assert.deepEqual([...await servers.b.read(header(uid))], [5, 5, 5, 5, 5]);
    const kept = [...Deno.readDirSync(blocks.folder)].map((entry) => entry.name);
    assert.ok(kept.some((name) => name.startsWith("00000001.corrupt")), kept.join(","));
  } finally {
    await cleanup();
  }
});
