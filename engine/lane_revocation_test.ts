/**
 * What lane permits stand for, end to end through the engine: a write or
 * read served synchronously grants a permit; every change to what it checked
 * revokes it before it takes effect (a metadata change, an exclusive block
 * lock, an out-of-sync mark, a fence raise, the descriptor leaving the cache,
 * the session ending), and what lanes wrote is flushed and counted like any
 * other write.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fdatasync } from "../ffi/libc.ts";
import { type Engine } from "./engine.ts";
import { LanePermitReader } from "./lane_permits.ts";
import { BLOCK, pattern, readInto, startNodes, type TestNodes } from "./_test_nodes.ts";

interface Setup {
  readonly nodes: TestNodes;
  readonly engine: Engine;
  readonly lane: LanePermitReader;
  readonly uid: number;
}

/** Image "img" of 4 blocks at `locations`, owned by n1, with block 0 served once the synchronous way. */
async function setup(
  locations: string[],
  options: { openFilesMax?: number; syncFile?: (fd: number) => Promise<void> } = {},
): Promise<Setup> {
  const nodes = await startNodes(["n1", "n2"], {}, { lanes: true, ...options });
  await nodes.createImage("img", 4, locations);
  const engine = nodes.engine("n1");
  await engine.open("img");
  await engine.write("img", 0, pattern(1, 100));
  const lane = new LanePermitReader(nodes.permits.get("n1")!.buffer);
  return { nodes, engine, lane, uid: nodes.meta.state().image("img").uid };
}

/** Serves a write of block 0 synchronously (granting a write permit) and checks a lane may write. */
function grantWrite({ engine, lane, uid }: Setup): void {
  assert.equal(engine.write("img", 0, pattern(2, 100)), undefined, "served synchronously");
  assert.ok(lane.write(uid, 200, pattern(3, 50)), "the lane writes");
}

Deno.test("a lane's write lands in the block file, is counted, and only the next flush syncs it", async () => {
  let syncs = 0;
  const setupDone = await setup(["n1"], {
    syncFile: (fd) => {
      syncs++;
      return fdatasync(fd);
    },
  });
  const { nodes, engine } = setupDone;
  try {
    grantWrite(setupDone);
    await engine.flush("img");
    syncs = 0;
    assert.ok(setupDone.lane.write(setupDone.uid, 300, pattern(4, 60)));
    await engine.flush("img");
    assert.ok(syncs >= 1, "the flush synced the block the lane wrote");
    syncs = 0;
    await engine.flush("img");
    assert.equal(syncs, 0, "a write permit alone does not make its block dirty");
    const read = new Uint8Array(400);
    await readInto(engine, "img", 0, read);
    assert.deepEqual(read.subarray(200, 250), pattern(3, 50));
    assert.deepEqual(read.subarray(300, 360), pattern(4, 60));
    const stats = engine.stats.summaryOf("img");
    assert.equal(
      stats.writeOps,
      4,
      "two synchronous writes (one took ownership) and two lane writes",
    );
    assert.equal(stats.writeLatency.count, 4, "lane writes are in the latency histogram");
  } finally {
    await nodes.close();
  }
});

const triggers: [string, (setup: Setup) => unknown][] = [
  [
    "a metadata change",
    ({ nodes }) =>
      nodes.meta.propose({ type: "image.setResyncRate", name: "img", bytesPerSecond: 1 }),
  ],
  [
    "an exclusive lock (a resync)",
    ({ engine }) => void engine.sessionOf("img")!.locks.exclusive(0),
  ],
  ["a fence raise (another owner)", ({ engine, uid }) => {
    const epoch = engine.sessionOf("img")!.epoch + 1;
    return engine.server.write(
      { uid, epoch, block: 1, offset: 0, length: 8, flags: 0 },
      pattern(5, 8),
    );
  }],
  ["the end of the session", ({ engine }) => engine.close("img")],
];

for (const [name, trigger] of triggers) {
  Deno.test(`${name} revokes the lanes' write permits`, async () => {
    const prepared = await setup(["n1"]);
    try {
      grantWrite(prepared);
      await trigger(prepared);
      assert.equal(prepared.lane.write(prepared.uid, 0, pattern(6, 10)), false);
      assert.equal(prepared.lane.read(prepared.uid, 0, new Uint8Array(10)), -1);
    } finally {
      await prepared.nodes.close();
    }
  });
}

Deno.test("a block file's descriptor leaving the cache revokes the permits that use it", async () => {
  const prepared = await setup(["n1"], { openFilesMax: 1 });
  try {
    grantWrite(prepared);
    await prepared.engine.write("img", BLOCK, pattern(7, 10)); // opens block 1: block 0's file goes
    assert.equal(prepared.lane.write(prepared.uid, 0, pattern(8, 10)), false, "block 0 revoked");
    assert.equal(prepared.engine.write("img", BLOCK, pattern(9, 10)), undefined);
    assert.ok(prepared.lane.write(prepared.uid, BLOCK + 20, pattern(9, 10)), "block 1 granted");
  } finally {
    await prepared.nodes.close();
  }
});

Deno.test("marking this node's copy out of sync revokes the lanes' read permits", async () => {
  const prepared = await setup(["n1", "n2"]);
  const { engine, lane, uid } = prepared;
  try {
    assert.ok(engine.readNow("img", 0, new Uint8Array(100)), "served from the local copy");
    assert.equal(lane.read(uid, 0, new Uint8Array(100)), 100, "granted");
    assert.equal(
      lane.write(uid, 0, pattern(10, 10)),
      false,
      "two copies: writes stay on the JS thread",
    );
    const marking = engine.sessionOf("img")!.marks.markOutOfSync(new Map([["n1", new Set([0])]]));
    assert.equal(lane.read(uid, 0, new Uint8Array(100)), -1, "revoked before the mark commits");
    await marking;
  } finally {
    await prepared.nodes.close();
  }
});
