/**
 * Lane permits: a granted block is served by a lane through its descriptor
 * within the visible size and nothing else; a revoke ends every permit of the
 * image, hands the blocks lanes wrote to the owner and returns only once no lane
 * is inside a permitted write (checked against a real worker thread); a grant
 * never evicts a live permit, and reuses revoked ones.
 *
 * @module
 */

import assert from "node:assert/strict";
import { closeFile, ftruncate, openFile, OpenFlags, pread } from "../ffi/libc.ts";
import { LanePermitReader, LanePermits, PERMIT_ENTRIES, PermitKind } from "./lane_permits.ts";
import { LATENCY_BUCKETS_SECONDS } from "./stats.ts";

const BLOCK = 4096;

async function withFiles(
  count: number,
  body: (fds: number[]) => Promise<void> | void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ukai-permits-" });
  const fds: number[] = [];
  try {
    for (let index = 0; index < count; index++) {
      const fd = openFile(`${dir}/${index}`, OpenFlags.RDWR | OpenFlags.CREAT);
      fds.push(fd);
      ftruncate(fd, BLOCK); // block files are whole blocks, sparse
    }
    await body(fds);
  } finally {
    for (const fd of fds) closeFile(fd);
    await Deno.remove(dir, { recursive: true });
  }
}

function contentOf(fd: number, offset: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  pread(fd, bytes, offset);
  return bytes;
}

Deno.test("a lane writes and reads a granted block through its descriptor, within the visible size", async () => {
  await withFiles(2, (fds) => {
    const absorbed: number[][] = [];
    const permits = new LanePermits();
    assert.ok(permits.register(7, BLOCK, (blocks) => absorbed.push([...blocks])));
    const lane = new LanePermitReader(permits.buffer);
    const data = new Uint8Array(100).fill(0xab);

    assert.equal(lane.write(7, 10, data), false, "nothing granted yet");
    permits.grant(7, 2 * BLOCK, 0, fds[0]!, PermitKind.write);
    assert.ok(lane.write(7, 10, data));
    assert.deepEqual(contentOf(fds[0]!, 10, 100), data);

    // Crossing into block 1 needs its permit too; a read permit does not allow writes.
    assert.equal(lane.write(7, BLOCK - 50, data), false);
    permits.grant(7, 2 * BLOCK, 1, fds[1]!, PermitKind.read);
    assert.equal(lane.write(7, BLOCK - 50, data), false);
    const target = new Uint8Array(100);
    assert.equal(lane.read(7, BLOCK - 50, target), 100, "a write permit allows reads");
    assert.deepEqual(target.subarray(0, 50), contentOf(fds[0]!, BLOCK - 50, 50));

    // Past the visible size: declined. Another image: declined.
    assert.equal(lane.read(7, 2 * BLOCK - 10, new Uint8Array(20)), -1);
    assert.equal(lane.read(8, 0, new Uint8Array(20)), -1);

    assert.deepEqual(permits.takeWritten(7), new Set([0]), "block 0 was written");
    assert.equal(permits.takeWritten(7).size, 0, "and not written again since");
    const counts = permits.takeCounts(7)!;
    assert.deepEqual(
      [counts.readOps, counts.readBytes, counts.writeOps, counts.writeBytes],
      [1, 100, 1, 100],
    );
    for (const latency of [counts.readLatency, counts.writeLatency]) {
      assert.equal(latency.counts.length, LATENCY_BUCKETS_SECONDS.length + 1);
      assert.equal(latency.counts.reduce((sum, count) => sum + count), 1, "one timed operation");
      assert.ok(latency.sumSeconds > 0 && latency.sumSeconds < 10, `${latency.sumSeconds} s`);
    }
    const none = permits.takeCounts(7)!;
    assert.deepEqual(
      [none.readOps, none.readBytes, none.writeOps, none.writeBytes, none.writeLatency.sumSeconds],
      [0, 0, 0, 0, 0],
    );
    assert.ok(none.readLatency.counts.every((count) => count === 0), "taken");

    permits.revoke(7);
    assert.deepEqual(absorbed, [], "no lane wrote since the last take");
    permits.grant(7, 2 * BLOCK, 0, fds[0]!, PermitKind.write);
    permits.grant(7, 2 * BLOCK, 1, fds[1]!, PermitKind.write);
    assert.ok(lane.write(7, BLOCK + 10, data));
    permits.revoke(7);
    assert.deepEqual(absorbed, [[1]], "only the written block goes to the owner");
    assert.equal(lane.write(7, 10, data), false, "revoked");
    assert.equal(lane.read(7, 10, target), -1, "revoked");
    assert.equal(permits.takeWritten(7).size, 0);
  });
});

Deno.test("the visible size changes only while no permit of the image is live", async () => {
  await withFiles(1, (fds) => {
    const permits = new LanePermits();
    permits.register(7, BLOCK, () => {});
    permits.grant(7, BLOCK, 0, fds[0]!, PermitKind.read);
    assert.throws(() => permits.grant(7, 2 * BLOCK, 1, fds[0]!, PermitKind.read), /size changed/);
    permits.revoke(7);
    permits.grant(7, 2 * BLOCK, 1, fds[0]!, PermitKind.read);
    const lane = new LanePermitReader(permits.buffer);
    assert.equal(lane.read(7, BLOCK, new Uint8Array(10)), 10);
  });
});

Deno.test("slots: a second registration replaces the first; when all are taken, registering fails", () => {
  const permits = new LanePermits();
  for (let uid = 0; uid < 64; uid++) assert.ok(permits.register(uid, BLOCK, () => {}));
  assert.equal(permits.register(100, BLOCK, () => {}), false);
  assert.ok(permits.register(5, BLOCK, () => {}), "re-registering frees the old slot first");
  permits.release(6);
  assert.ok(permits.register(100, BLOCK, () => {}));
});

Deno.test("a grant finds no room while other blocks' permits are live, and reuses revoked ones", async () => {
  await withFiles(1, (fds) => {
    const absorbed: number[] = [];
    const permits = new LanePermits();
    permits.register(1, BLOCK, (blocks) => absorbed.push(...blocks));
    permits.register(2, BLOCK, () => {});
    const lane = new LanePermitReader(permits.buffer);
    const size = PERMIT_ENTRIES * 4 * BLOCK;
    for (let block = 0; block < PERMIT_ENTRIES * 4; block++) {
      permits.grant(1, size, block, fds[0]!, PermitKind.read);
    }
    permits.grant(2, size, 0, fds[0]!, PermitKind.read);
    assert.equal(lane.read(2, 0, new Uint8Array(8)), -1, "no room: image 2 stays on the JS thread");
    assert.deepEqual(absorbed, [], "image 1 was not revoked to make room");
    let live = 0;
    for (let block = 0; block < PERMIT_ENTRIES * 4; block++) {
      if (lane.read(1, block * BLOCK, new Uint8Array(8)) === 8) live++;
    }
    assert.equal(live, PERMIT_ENTRIES, "every entry holds a live permit of image 1");
    permits.revoke(1);
    permits.grant(2, size, 0, fds[0]!, PermitKind.read);
    assert.equal(lane.read(2, 0, new Uint8Array(8)), 8, "revoked entries are reused");
  });
});

Deno.test("a revoke returns only once no lane is inside a permitted write", async () => {
  const blockSize = 4 * 1024 * 1024;
  await withFiles(1, async (fds) => {
    ftruncate(fds[0]!, blockSize);
    const permits = new LanePermits();
    permits.register(7, blockSize, () => {});
    permits.grant(7, blockSize, 0, fds[0]!, PermitKind.write);
    const worker = new Worker(new URL("./testdata/lane_writer.ts", import.meta.url), {
      type: "module",
    });
    try {
      const messages: { type: string; written?: number }[] = [];
      const next = () =>
        new Promise<{ type: string; written?: number }>((resolve) => {
          worker.onmessage = (event) => {
            messages.push(event.data);
            resolve(event.data);
          };
        });
      const started = next();
      worker.postMessage({ permits: permits.buffer, length: blockSize });
      await started;
      const refused = next();
      // Let the lane write for a while, then revoke while it is busy writing.
      await new Promise((resolve) => setTimeout(resolve, 50));
      permits.revoke(7);
      const last = contentOf(fds[0]!, blockSize - 8, 8);
      const afterRevoke = new DataView(last.buffer).getFloat64(0, true);
      const { written } = await refused;
      assert.ok(afterRevoke > 0, "the lane wrote before the revoke");
      assert.equal(
        written,
        afterRevoke,
        "the last write the lane made is the one the file held when revoke returned",
      );
    } finally {
      worker.terminate();
    }
  });
});

Deno.test("a slot released and given to another image never serves the image it had", async () => {
  await withFiles(2, (fds) => {
    const permits = new LanePermits();
    permits.register(1, BLOCK, () => {});
    permits.grant(1, BLOCK, 0, fds[0]!, PermitKind.write);
    const lane = new LanePermitReader(permits.buffer);
    assert.ok(lane.write(1, 0, new Uint8Array(8).fill(1)), "image 1 served");
    permits.release(1);
    permits.register(2, BLOCK, () => {});
    permits.grant(2, BLOCK, 0, fds[1]!, PermitKind.write);
    assert.equal(lane.write(1, 0, new Uint8Array(8).fill(9)), false, "image 1 is gone");
    assert.ok(lane.write(2, 0, new Uint8Array(8).fill(2)), "image 2 served");
    assert.deepEqual(contentOf(fds[1]!, 0, 8), new Uint8Array(8).fill(2));
    assert.deepEqual(contentOf(fds[0]!, 0, 8), new Uint8Array(8).fill(1));
  });
});
