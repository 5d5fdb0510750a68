/**
 * Full-disk behaviour on a tiny tmpfs (needs root to mount; ignored otherwise):
 * NO_SPACE is reported, and nothing written before is lost or left half-done.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { UkaiError } from "../base/errors.ts";
import { BlockStore } from "./block_store.ts";
import { writeFileAtomic } from "./atomic_file.ts";
import { Wal } from "./wal.ts";
import { canMountTmpfs, expectError, expectRejection, pattern, tinyTmpfs } from "./_testing.ts";

const BLOCK = 64 * 1024;
const MiB = 1024 * 1024;

function readBack(image: ReturnType<BlockStore["image"]>, blockIndex: number): Uint8Array {
  const bytes = new Uint8Array(BLOCK);
  image.read(blockIndex, 0, bytes);
  return bytes;
}

Deno.test({
  name: "a full disk reports NO_SPACE and keeps every block, fence and file written before",
  ignore: !canMountTmpfs,
  fn: async () => {
    await using disk = await tinyTmpfs(MiB);
    const store = await BlockStore.open({ root: disk.path });
    const image = store.image("vm1", BLOCK);
    const wholeBlock = [{ byteOffset: 0, byteLength: BLOCK }];
    await image.writeFence(4);
    const statePath = `${disk.path}/state.json`;
    await writeFileAtomic(statePath, new TextEncoder().encode("old state"));

    const written: number[] = [];
    let failure: unknown = null;
    for (let blockIndex = 0; blockIndex < 64 && failure === null; blockIndex++) {
      try {
        image.write(blockIndex, 0, pattern(BLOCK, blockIndex));
        written.push(blockIndex);
      } catch (error) {
        failure = error;
      }
    }
    assert(failure instanceof UkaiError && failure.code === "NO_SPACE", String(failure));
    assert(written.length >= 8, `only ${written.length} blocks fit`);
    await image.flush();

    // The block whose write failed exists at its full size or not at all.
    const failedPath = image.blockPath(written.length);
    const failedSize = (() => {
      try {
        return Deno.statSync(failedPath).size;
      } catch {
        return null;
      }
    })();
    assert(failedSize === null || failedSize === BLOCK, `half-created block file: ${failedSize}`);

    const unwritten = written.length + 1;
    expectError(
      () => image.writePacked(unwritten, { extents: wholeBlock, data: pattern(BLOCK, 99) }),
      "NO_SPACE",
    );
    await expectRejection(() => image.writeFence(5), "NO_SPACE");
    await expectRejection(
      () => writeFileAtomic(statePath, new Uint8Array(2 * MiB)),
      "NO_SPACE",
    );

    for (const blockIndex of written) {
      assertEquals(readBack(image, blockIndex), pattern(BLOCK, blockIndex), `block ${blockIndex}`);
    }
    assertEquals(await image.readFence(), 4);
    assertEquals(new TextDecoder().decode(await Deno.readFile(statePath)), "old state");
    const leftovers = [...Deno.readDirSync(image.folder), ...Deno.readDirSync(disk.path)]
      .map((entry) => entry.name)
      .filter((name) => name.endsWith(".tmp") || name.endsWith(".new"));
    assertEquals(leftovers, []);

    // Overwriting allocated space still works, and freeing space makes room again.
    image.write(1, 0, pattern(BLOCK, 101));
    assertEquals(await image.deleteBlocks([2, 3]), 2);
    image.writePacked(0, { extents: wholeBlock, data: pattern(BLOCK, 100) });
    await image.writeFence(5);
    await store.close();

    const reopened = await BlockStore.open({ root: disk.path });
    const again = reopened.image("vm1", BLOCK);
    assertEquals(readBack(again, 0), pattern(BLOCK, 100));
    assertEquals(readBack(again, 1), pattern(BLOCK, 101));
    assertEquals(await again.readFence(), 5);
    await reopened.close();
  },
});

Deno.test({
  name: "a full disk fails a log append with NO_SPACE and keeps every synced record",
  ignore: !canMountTmpfs,
  fn: async () => {
    await using disk = await tinyTmpfs(256 * 1024);
    const folder = `${disk.path}/wal`;
    const { wal } = await Wal.open(folder, { segmentBytesMax: 48 * 1024 });
    const payload = (n: number) => pattern(3000, n);
    let acked = 0;
    let failure: unknown = null;
    while (failure === null) {
      try {
        await wal.append([{ type: 1, payload: payload(acked) }], { sync: true });
        acked += 1;
      } catch (error) {
        failure = error;
      }
    }
    assert(failure instanceof UkaiError && failure.code === "NO_SPACE", String(failure));
    assert(acked >= 40, `only ${acked} records fit`);
    await wal.sync(); // the log is still usable
    await wal.close();
    const { wal: reopened, records, truncatedTail } = await Wal.open(folder);
    assertEquals(truncatedTail, null);
    assertEquals(records.length, acked);
    records.forEach((record, n) => assertEquals(record.payload, payload(n)));
    await reopened.close();
  },
});
