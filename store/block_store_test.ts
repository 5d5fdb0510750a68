/** Tests of the block store: ranges, sparse files, corrupt files, flushing, validation. */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { captureLogger } from "../base/log.ts";
import { fdatasync } from "../ffi/libc.ts";
import { BlockStore, type BlockStoreOptions } from "./block_store.ts";
import type { ImageBlocks } from "./image_blocks.ts";
import { expectError, expectRejection, pattern, temporaryFolder } from "./_testing.ts";

const BLOCK = 64 * 1024;
const PAGE = 4096;

async function openStore(
  root: string,
  options: Partial<BlockStoreOptions> = {},
): Promise<BlockStore> {
  return await BlockStore.open({ root, ...options });
}

function readBack(image: ImageBlocks, blockIndex: number, byteOffset = 0, byteLength = BLOCK) {
  const bytes = new Uint8Array(byteLength);
  image.read(blockIndex, byteOffset, bytes);
  return bytes;
}

Deno.test("reads and writes ranges at the edges of a block", async () => {
  await using folder = await temporaryFolder();
  const store = await openStore(folder.path);
  const image = store.image("vm1.uid1", BLOCK);
  const model = new Uint8Array(BLOCK);
  const cases = [
    { byteOffset: 0, byteLength: 1 },
    { byteOffset: BLOCK - 1, byteLength: 1 },
    { byteOffset: BLOCK - 512, byteLength: 512 },
    { byteOffset: 4095, byteLength: 2 },
    { byteOffset: 0, byteLength: BLOCK },
    { byteOffset: 12345, byteLength: 777 },
  ];
  for (const [seed, { byteOffset, byteLength }] of cases.entries()) {
    const data = pattern(byteLength, seed);
    image.write(3, byteOffset, data);
    model.set(data, byteOffset);
    assertEquals(readBack(image, 3, byteOffset, byteLength), data);
    assertEquals(readBack(image, 3), model);
  }
  await image.flush();
  await store.close();
  const reopened = await openStore(folder.path);
  assertEquals(readBack(reopened.image("vm1.uid1", BLOCK), 3), model);
  await reopened.close();
});

Deno.test("refuses ranges outside the block", async () => {
  await using folder = await temporaryFolder();
  const store = await openStore(folder.path);
  const image = store.image("vm1", BLOCK);
  const cases = [
    { byteOffset: BLOCK, byteLength: 1 },
    { byteOffset: BLOCK - 1, byteLength: 2 },
    { byteOffset: -1, byteLength: 1 },
    { byteOffset: 0.5, byteLength: 1 },
  ];
  for (const { byteOffset, byteLength } of cases) {
    expectError(() => image.read(0, byteOffset, new Uint8Array(byteLength)), "INVALID_ARGUMENT");
    expectError(() => image.write(0, byteOffset, new Uint8Array(byteLength)), "INVALID_ARGUMENT");
    expectError(() => image.discard(0, byteOffset, byteLength), "INVALID_ARGUMENT");
  }
  assertEquals(await image.blockIndexes(), []);
  await store.close();
});

Deno.test("a missing block file and a hole read as zeros", async () => {
  await using folder = await temporaryFolder();
  const store = await openStore(folder.path);
  const image = store.image("vm1", BLOCK);
  const zeros = new Uint8Array(BLOCK);
  const dirty = new Uint8Array(BLOCK).fill(0xee);
  image.read(7, 0, dirty);
  assertEquals(dirty, zeros);
  image.write(7, BLOCK - PAGE, pattern(PAGE, 1));
  assertEquals(readBack(image, 7, 0, BLOCK - PAGE), new Uint8Array(BLOCK - PAGE));
  assertEquals(await image.blockIndexes(), [7]);
  await store.close();
});

Deno.test("the first write creates a sparse file of exactly the block size", async () => {
  await using folder = await temporaryFolder();
  const store = await openStore(folder.path);
  const image = store.image("vm1", BLOCK);
  image.write(0, 0, pattern(PAGE, 2));
  await image.flush();
  const info = await Deno.stat(`${folder.path}/images/vm1/00000000`);
  assertEquals(info.size, BLOCK);
  assert((info.blocks ?? 0) * 512 < BLOCK, "the block file is not sparse");
  assertEquals(await image.allocatedBytes(), (info.blocks ?? 0) * 512);
  assertEquals(await store.imageKeys(), ["vm1"]);
  await store.close();
});

Deno.test("writes from native memory go to the block file", async () => {
  await using folder = await temporaryFolder();
  const store = await openStore(folder.path);
  const image = store.image("vm1", BLOCK);
  const data = pattern(3 * PAGE, 3);
  const pointer = Deno.UnsafePointer.of(data);
  assert(pointer !== null);
  image.writeFromPointer(1, PAGE, pointer, data.length);
  assertEquals(readBack(image, 1, PAGE, data.length), data);
  await store.close();
});

Deno.test("a block file of the wrong size is reported and kept unchanged", async () => {
  await using folder = await temporaryFolder();
  const logger = captureLogger();
  const store = await openStore(folder.path, { logger });
  const image = store.image("vm1", BLOCK);
  image.write(0, 0, pattern(PAGE, 1));
  await image.flush();
  const path = `${folder.path}/images/vm1/00000002`;
  const content = pattern(1000, 4);
  await Deno.writeFile(path, content);
  const error = expectError(() => image.read(2, 0, new Uint8Array(10)), "BLOCK_FILE_CORRUPT");
  assert(error.message.includes(path) && error.message.includes("1000"), error.message);
  assert(error.message.includes(String(BLOCK)), error.message);
  assertEquals(error.details, { path, size: 1000, expectedSize: BLOCK });
  expectError(() => image.write(2, 0, new Uint8Array(10)), "BLOCK_FILE_CORRUPT");
  expectError(() => image.discard(2, 0, PAGE), "BLOCK_FILE_CORRUPT");
  expectError(() => image.dataExtents(2), "BLOCK_FILE_CORRUPT");
  expectError(
    () => image.writePacked(2, { extents: [], data: new Uint8Array(0) }),
    "BLOCK_FILE_CORRUPT",
  );
  expectError(() => image.readPacked(2), "BLOCK_FILE_CORRUPT");
  await image.flush();
  await store.close();
  assertEquals(await Deno.readFile(path), content);
  assert(logger.lines.some((line) => line.includes("unexpected size") && line.includes(path)));
});

Deno.test("quarantine moves a block file aside so a fresh copy can be written", async () => {
  await using folder = await temporaryFolder();
  const store = await openStore(folder.path);
  const image = store.image("vm1", BLOCK);
  const path = `${folder.path}/images/vm1/00000005`;
  await Deno.mkdir(`${folder.path}/images/vm1`);
  await Deno.writeFile(path, pattern(100, 5));
  expectError(() => image.read(5, 0, new Uint8Array(1)), "BLOCK_FILE_CORRUPT");
  assertEquals(await image.quarantine(5), `${path}.corrupt-1`);
  assertEquals(await Deno.readFile(`${path}.corrupt-1`), pattern(100, 5));
  assertEquals(readBack(image, 5), new Uint8Array(BLOCK));
  const source = pattern(BLOCK, 6);
  image.writePacked(5, { extents: [{ byteOffset: 0, byteLength: BLOCK }], data: source });
  assertEquals(readBack(image, 5), source);
  assertEquals(await image.blockIndexes(), [5]);
  assertEquals(await image.quarantine(5), `${path}.corrupt-2`);
  assertEquals(await image.quarantine(5), null);
  assertEquals(await Deno.readFile(`${path}.corrupt-2`), source);
  assertEquals(await image.blockIndexes(), []);
  await store.close();
});

Deno.test("discard punches a hole: zeros read back and allocated bytes drop", async () => {
  await using folder = await temporaryFolder();
  const store = await openStore(folder.path);
  const image = store.image("vm1", BLOCK);
  image.write(0, 0, pattern(BLOCK, 7));
  await image.flush();
  const before = await image.allocatedBytes();
  assert(before >= BLOCK, `allocated ${before}`);
  image.discard(0, 8 * PAGE, 4 * PAGE);
  image.discard(9, 0, PAGE); // missing file: nothing to do
  await image.flush();
  assertEquals(await image.allocatedBytes(), before - 4 * PAGE);
  const expected = pattern(BLOCK, 7);
  expected.fill(0, 8 * PAGE, 12 * PAGE);
  assertEquals(readBack(image, 0), expected);
  assertEquals(image.dataExtents(0), [
    { byteOffset: 0, byteLength: 8 * PAGE },
    { byteOffset: 12 * PAGE, byteLength: BLOCK - 12 * PAGE },
  ]);
  assertEquals(await image.blockIndexes(), [0]);
  await store.close();
});

Deno.test("the sparse map lists exactly the data extents", async () => {
  await using folder = await temporaryFolder();
  const store = await openStore(folder.path);
  const image = store.image("vm1", BLOCK);
  assertEquals(image.dataExtents(0), []);
  image.write(0, 0, pattern(PAGE, 1));
  image.write(0, 10 * PAGE, pattern(2 * PAGE, 2));
  image.write(0, BLOCK - 1, new Uint8Array([9]));
  assertEquals(image.dataExtents(0), [
    { byteOffset: 0, byteLength: PAGE },
    { byteOffset: 10 * PAGE, byteLength: 2 * PAGE },
    { byteOffset: BLOCK - PAGE, byteLength: PAGE },
  ]);
  const packed = image.readPacked(0);
  assertEquals(packed.extents, image.dataExtents(0));
  assertEquals(
    packed.data,
    new Uint8Array([
      ...pattern(PAGE, 1),
      ...readBack(image, 0, 10 * PAGE, 2 * PAGE),
      ...readBack(image, 0, BLOCK - PAGE, PAGE),
    ]),
  );
  assertEquals(image.readPacked(1), { extents: [], data: new Uint8Array(0) });
  await store.close();
});

Deno.test("a packed write overwrites a block in place, keeps holes, and is durable after flush", async () => {
  await using folder = await temporaryFolder();
  const synced: string[] = [];
  const syncFile = async (fd: number) => {
    synced.push(Deno.readLinkSync(`/proc/self/fd/${fd}`));
    await fdatasync(fd);
  };
  const store = await openStore(folder.path, { syncFile });
  const image = store.image("vm1", BLOCK);
  image.write(4, 0, pattern(BLOCK, 1)); // the old copy, fully allocated
  await image.flush();
  synced.length = 0;
  const extents = [
    { byteOffset: PAGE, byteLength: PAGE },
    { byteOffset: 8 * PAGE, byteLength: 3 * PAGE },
  ];
  const packed = { extents, data: pattern(4 * PAGE, 3) };
  const expected = new Uint8Array(BLOCK);
  expected.set(packed.data.subarray(0, PAGE), PAGE);
  expected.set(packed.data.subarray(PAGE), 8 * PAGE);
  image.writePacked(4, packed);
  image.writePacked(6, packed); // a block file that did not exist
  for (const blockIndex of [4, 6]) {
    assertEquals(readBack(image, blockIndex), expected);
    assertEquals(image.dataExtents(blockIndex), extents);
    assertEquals(image.readPacked(blockIndex), packed);
  }
  assertEquals(await image.allocatedBytes(), 8 * PAGE, "the gaps were punched");
  assertEquals(synced, [], "durable only after the next flush");
  await image.flush();
  assertEquals(synced.sort(), [image.blockPath(4), image.blockPath(6)]);
  const names = [...Deno.readDirSync(`${folder.path}/images/vm1`)].map((entry) => entry.name);
  assertEquals(names.sort(), ["00000004", "00000006"]);
  image.writePacked(4, { extents: [], data: new Uint8Array(0) }); // all holes
  assertEquals(image.dataExtents(4), []);
  assertEquals(readBack(image, 4), new Uint8Array(BLOCK));
  expectError(
    () =>
      image.writePacked(4, {
        extents: [{ byteOffset: PAGE, byteLength: BLOCK }],
        data: pattern(BLOCK, 1),
      }),
    "INVALID_ARGUMENT",
  );
  expectError(
    () => image.writePacked(4, { extents, data: new Uint8Array(PAGE) }),
    "INVALID_ARGUMENT",
  );
  await store.close();
});

Deno.test("flush covers files evicted from the descriptor cache", async () => {
  await using folder = await temporaryFolder();
  let clock = 0;
  const lastWrite = new Map<string, number>();
  const syncStarts = new Map<string, number[]>();
  const syncFile = async (fd: number) => {
    const path = Deno.readLinkSync(`/proc/self/fd/${fd}`);
    syncStarts.set(path, [...syncStarts.get(path) ?? [], ++clock]);
    await fdatasync(fd);
  };
  const store = await openStore(folder.path, { openFilesMax: 2, syncFile });
  const image = store.image("vm1", BLOCK);
  const writeBlock = (blockIndex: number) => {
    image.write(blockIndex, 0, pattern(PAGE, blockIndex));
    lastWrite.set(image.blockPath(blockIndex), ++clock);
  };
  for (let round = 0; round < 3; round++) {
    for (let blockIndex = 0; blockIndex < 6; blockIndex++) writeBlock(blockIndex);
    assert(store.cachedFileCount <= 2);
  }
  await image.flush();
  for (const [path, written] of lastWrite) {
    const starts = syncStarts.get(path) ?? [];
    assert(starts.some((start) => start > written), `${path} was not synced after its last write`);
  }
  const openInFolder = [...Deno.readDirSync("/proc/self/fd")].filter((entry) => {
    try {
      return Deno.readLinkSync(`/proc/self/fd/${entry.name}`).startsWith(image.folder);
    } catch {
      return false; // the fd of readDir itself is gone by now
    }
  });
  assertEquals(openInFolder.length, 2, "evicted files were not closed after their sync");
  const syncsBefore = [...syncStarts.values()].flat().length;
  await image.flush();
  assertEquals([...syncStarts.values()].flat().length, syncsBefore, "a clean flush synced files");
  await store.close();
});

Deno.test("a failed fdatasync fails the flush, keeps the block dirty and is retried", async () => {
  await using folder = await temporaryFolder();
  const failing = new Set<string>();
  const syncFile = async (fd: number) => {
    const path = Deno.readLinkSync(`/proc/self/fd/${fd}`);
    if (failing.delete(path)) throw new Error("injected EIO");
    await fdatasync(fd);
  };
  const store = await openStore(folder.path, { syncFile });
  const image = store.image("vm1", BLOCK);
  failing.add(image.blockPath(3));
  image.write(3, 0, pattern(PAGE, 1));
  image.write(4, 0, pattern(PAGE, 2));
  const error = await expectRejection(() => image.flush(), "IO");
  assertEquals(error.details?.blocks, [3]);
  assertEquals(failing.size, 0);
  await image.flush(); // retried, now succeeds
  await store.close();
});

Deno.test("a failed background fdatasync of an evicted file is reported by the next flush", async () => {
  await using folder = await temporaryFolder();
  const failing = new Set<string>();
  const syncFile = async (fd: number) => {
    const path = Deno.readLinkSync(`/proc/self/fd/${fd}`);
    if (failing.delete(path)) throw new Error("injected EIO");
    await fdatasync(fd);
  };
  const store = await openStore(folder.path, { openFilesMax: 1, syncFile });
  const image = store.image("vm1", BLOCK);
  failing.add(image.blockPath(5));
  image.write(5, 0, pattern(PAGE, 3));
  image.write(6, 0, pattern(PAGE, 4)); // evicts block 5: its fdatasync fails in the background
  await new Promise((resolve) => setTimeout(resolve, 20));
  assertEquals(failing.size, 0);
  const later = await expectRejection(() => image.flush(), "IO");
  assertEquals(later.details?.blocks, [5]);
  await image.flush();
  assertEquals(readBack(image, 5, 0, PAGE), pattern(PAGE, 3));
  await store.close();
});

Deno.test("image keys and block indexes that could leave the folder are refused", async () => {
  await using folder = await temporaryFolder();
  const store = await openStore(folder.path);
  const badKeys = [
    "",
    ".",
    "..",
    "../x",
    "a/b",
    "/abs",
    "a\0b",
    "a..b",
    ".hidden",
    "-flag",
    "é",
    "a b",
    "x".repeat(201),
  ];
  for (const key of badKeys) {
    expectError(() => store.image(key, BLOCK), "INVALID_ARGUMENT");
    await expectRejection(() => store.removeImage(key), "INVALID_ARGUMENT");
  }
  const image = store.image("vm-1.2f_A", BLOCK);
  assertEquals(store.image("vm-1.2f_A", BLOCK), image);
  expectError(() => store.image("vm-1.2f_A", 2 * BLOCK), "INVALID_ARGUMENT");
  expectError(() => store.image("small", 4096), "INVALID_ARGUMENT");
  for (const blockIndex of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
    expectError(() => image.read(blockIndex, 0, new Uint8Array(1)), "INVALID_ARGUMENT");
    expectError(() => image.write(blockIndex, 0, new Uint8Array(1)), "INVALID_ARGUMENT");
    await expectRejection(() => image.quarantine(blockIndex), "INVALID_ARGUMENT");
    await expectRejection(() => image.deleteBlocks([blockIndex]), "INVALID_ARGUMENT");
  }
  // Only canonical block file names count as blocks.
  await Deno.mkdir(image.folder);
  for (const name of ["000000001", "1", "0000000x", "00000001.new"]) {
    await Deno.writeFile(`${image.folder}/${name}`, new Uint8Array(0));
  }
  assertEquals(await image.blockIndexes(), []);
  await Deno.mkdir(`${folder.path}/images/.not-a-key`);
  assertEquals(await store.imageKeys(), ["vm-1.2f_A"]);
  await store.close();
});

Deno.test("deleteBlocks deletes exactly the listed block files", async () => {
  await using folder = await temporaryFolder();
  const store = await openStore(folder.path);
  const image = store.image("vm1", BLOCK);
  for (const blockIndex of [0, 1, 2, 3]) image.write(blockIndex, 0, pattern(PAGE, blockIndex));
  await image.writeFence(3);
  await Deno.writeFile(`${image.blockPath(1)}.corrupt-1`, new Uint8Array(5));
  assertEquals(await image.deleteBlocks([0, 2, 7, 2]), 2);
  assertEquals(await image.blockIndexes(), [1, 3]);
  assertEquals(readBack(image, 0, 0, PAGE), new Uint8Array(PAGE));
  assertEquals(readBack(image, 1, 0, PAGE), pattern(PAGE, 1));
  assertEquals(await image.readFence(), 3);
  assert(Deno.statSync(`${image.blockPath(1)}.corrupt-1`).isFile);
  await image.flush();
  await store.close();
});

Deno.test("removeImage removes the folder and retires the handle", async () => {
  await using folder = await temporaryFolder();
  const store = await openStore(folder.path);
  const image = store.image("vm1.a", BLOCK);
  image.write(0, 0, pattern(PAGE, 1));
  store.image("vm2.b", BLOCK).write(0, 0, pattern(PAGE, 2));
  assertEquals(await store.imageKeys(), ["vm1.a", "vm2.b"]);
  assertEquals(await store.removeImage("vm1.a"), true);
  assertEquals(await store.removeImage("vm1.a"), false);
  assertEquals(await store.imageKeys(), ["vm2.b"]);
  expectError(() => image.read(0, 0, new Uint8Array(1)), "IMAGE_NOT_FOUND");
  await expectRejection(() => image.flush(), "IMAGE_NOT_FOUND");
  const fresh = store.image("vm1.a", BLOCK);
  assertEquals(readBack(fresh, 0, 0, PAGE), new Uint8Array(PAGE));
  assertEquals(store.cachedFileCount, 1);
  await store.close();
});

Deno.test("the fence epoch is stored durably and damage is detected", async () => {
  await using folder = await temporaryFolder();
  const store = await openStore(folder.path);
  const image = store.image("vm1", BLOCK);
  assertEquals(await image.readFence(), null);
  await image.writeFence(5);
  assertEquals(await image.readFence(), 5);
  await image.writeFence(Number.MAX_SAFE_INTEGER);
  assertEquals(await image.readFence(), Number.MAX_SAFE_INTEGER);
  await expectRejection(() => image.writeFence(-1), "INVALID_ARGUMENT");
  const path = `${image.folder}/fence`;
  const bytes = await Deno.readFile(path);
  bytes[6] = (bytes[6] ?? 0) ^ 1;
  await Deno.writeFile(path, bytes);
  await expectRejection(() => image.readFence(), "CHECKSUM_MISMATCH");
  assertEquals(await image.blockIndexes(), []);
  await store.close();
});

Deno.test("capacity reports the file system's size", async () => {
  await using folder = await temporaryFolder();
  const store = await openStore(folder.path);
  const capacity = store.capacity();
  assert(capacity.totalBytes > 0);
  assert(capacity.availableBytes <= capacity.freeBytes);
  assert(capacity.freeBytes <= capacity.totalBytes);
  await store.close();
});

Deno.test("flush syncs files concurrently but at most syncConcurrencyMax at once", async () => {
  await using folder = await temporaryFolder();
  let running = 0;
  let peak = 0;
  let calls = 0;
  const syncFile = async (fd: number) => {
    calls += 1;
    running += 1;
    peak = Math.max(peak, running);
    await new Promise((resolve) => setTimeout(resolve, 2));
    await fdatasync(fd);
    running -= 1;
  };
  const store = await openStore(folder.path, { syncConcurrencyMax: 3, syncFile });
  const image = store.image("vm1", BLOCK);
  for (let blockIndex = 0; blockIndex < 20; blockIndex++) {
    image.write(blockIndex, 0, pattern(512, blockIndex));
  }
  await image.flush();
  assertEquals(calls, 20);
  assertEquals(peak, 3);
  await store.close();
});

/** Pages of `path` in the page cache, by util-linux's fincore. */
async function residentBytes(path: string): Promise<number> {
  const output = await new Deno.Command("fincore", { args: ["-b", "-n", "-o", "RES", path] })
    .output();
  assert(output.success, `fincore ${path} failed`);
  return Number(new TextDecoder().decode(output.stdout).trim());
}

Deno.test("prefetch reads a block into the page cache; a missing or wrong-size block is left to the read", async () => {
  await using folder = await temporaryFolder();
  const store = await openStore(folder.path);
  const image = store.image("vm1", BLOCK);
  image.write(0, 0, pattern(BLOCK, 7));
  await image.flush();
  const path = image.blockPath(0);
  // GNU dd: drop the (clean) file's pages from the cache.
  const drop = await new Deno.Command("dd", {
    args: [`if=${path}`, "iflag=nocache", "count=0", "status=none"],
  }).output();
  assert(drop.success, "dd could not drop the cache");
  assertEquals(await residentBytes(path), 0, "the block starts out of the cache");
  image.prefetch(0);
  let resident = 0;
  for (let attempt = 0; attempt < 100 && resident < BLOCK; attempt++) {
    resident = await residentBytes(path);
    if (resident < BLOCK) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assertEquals(resident, BLOCK, "the whole block was read ahead");
  image.prefetch(1);
  assertEquals(image.readPacked(1), { extents: [], data: new Uint8Array(0) }, "nothing to read");
  await Deno.writeFile(image.blockPath(2), new Uint8Array(100));
  image.prefetch(2);
  expectError(() => image.readPacked(2), "BLOCK_FILE_CORRUPT");
  await store.close();
});
