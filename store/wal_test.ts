/** Tests of the write-ahead log: replay, torn tails, corruption, group commit, segments, crashes. */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { captureLogger } from "../base/log.ts";
import { fdatasync, fstat } from "../ffi/libc.ts";
import { SEGMENT_HEADER_BYTES } from "./_wal_format.ts";
import { segmentFileName } from "./_wal_replay.ts";
import { ZEROED_AHEAD_BYTES } from "./_wal_segments.ts";
import { type ReplayedRecord, Wal, type WalRecord } from "./wal.ts";
import { canMountTmpfs, expectRejection, temporaryFolder, tinyTmpfs } from "./_testing.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Record number `n`: its payload names it, and its length varies with n. */
function record(n: number): WalRecord {
  return { type: 1 + (n % 7), payload: encoder.encode(`record ${n} `.padEnd(10 + (n % 13), "x")) };
}

function numbers(records: readonly ReplayedRecord[]): number[] {
  return records.map((replayed) => {
    const n = Number(/^record (\d+) /.exec(decoder.decode(replayed.payload))?.[1]);
    assertEquals(replayed.type, 1 + (n % 7));
    assertEquals(replayed.payload, record(n).payload);
    return n;
  });
}

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, index) => start + index);
}

function segmentPath(folder: string, segmentId: number): string {
  return `${folder}/${segmentFileName(segmentId)}`;
}

/** Writes records 0..count-1 (in batches of 3) and closes the log; returns each record's end offset. */
async function writeLog(folder: string, count: number): Promise<number[]> {
  const { wal } = await Wal.open(folder);
  const ends: number[] = [];
  for (let n = 0; n < count; n += 3) {
    const batch = range(n, Math.min(n + 3, count));
    await wal.append(batch.map(record), { sync: n % 2 === 0 });
    ends.push(wal.position().byteOffset);
  }
  await wal.close();
  return ends;
}

Deno.test("records come back in order after a clean close", async () => {
  await using folder = await temporaryFolder();
  const { wal, records, truncatedTail } = await Wal.open(folder.path);
  assertEquals(records, []);
  assertEquals(truncatedTail, null);
  assertEquals(wal.position(), { segmentId: 1, byteOffset: SEGMENT_HEADER_BYTES });
  await wal.append([record(0), record(1)], { sync: true });
  await wal.append([record(2)]);
  await wal.append([]);
  await wal.append([record(3), record(4), record(5)], { sync: false });
  await wal.close();
  const reopened = await Wal.open(folder.path);
  assertEquals(numbers(reopened.records), range(0, 6));
  assertEquals(reopened.records.every((replayed) => replayed.segmentId === 1), true);
  await reopened.wal.append([record(6)], { sync: true });
  await reopened.wal.close();
  assertEquals(numbers((await reopenAndClose(folder.path)).records), range(0, 7));
});

async function reopenAndClose(folder: string) {
  const result = await Wal.open(folder);
  await result.wal.close();
  return result;
}

Deno.test("a torn last record is cut off at every byte offset and the log stays appendable", async () => {
  await using folder = await temporaryFolder();
  await using scratch = await temporaryFolder();
  const { wal } = await Wal.open(folder.path);
  await wal.append(range(0, 4).map(record), { sync: true });
  const lastStart = wal.position().byteOffset;
  await wal.append([record(4)], { sync: true });
  await wal.close();
  const original = await Deno.readFile(segmentPath(folder.path, 1));
  assertEquals(original.length > lastStart, true);
  const logger = captureLogger();
  for (let cut = lastStart; cut < original.length; cut++) {
    await Deno.writeFile(segmentPath(scratch.path, 1), original.subarray(0, cut));
    const opened = await Wal.open(scratch.path, { logger });
    assertEquals(numbers(opened.records), range(0, 4), `cut at ${cut}`);
    assertEquals(opened.truncatedTail?.byteOffset ?? lastStart, lastStart);
    assertEquals(opened.truncatedTail === null, cut === lastStart);
    await opened.wal.append([record(99)], { sync: true });
    await opened.wal.close();
    assertEquals(numbers((await reopenAndClose(scratch.path)).records), [0, 1, 2, 3, 99]);
  }
  assert(logger.lines.some((line) => line.includes("torn tail")));
});

Deno.test("a bad checksum in the last record is a torn tail, in the middle it is corruption", async () => {
  await using folder = await temporaryFolder();
  const ends = await writeLog(folder.path, 9); // batches end after records 2, 5 and 8
  const path = segmentPath(folder.path, 1);
  const original = await Deno.readFile(path);
  const lastRecordStart = original.length - (9 + record(8).payload.length);

  const tail = original.slice();
  tail[lastRecordStart + 12] = (tail[lastRecordStart + 12] ?? 0) ^ 0x10;
  await Deno.writeFile(path, tail);
  const opened = await reopenAndClose(folder.path);
  assertEquals(numbers(opened.records), range(0, 8));
  assertEquals(opened.truncatedTail?.reason, "bad checksum");

  const middle = original.slice();
  const damagedAt = ends[0] ?? 0; // first record of the second batch
  middle[damagedAt + 10] = (middle[damagedAt + 10] ?? 0) ^ 0x01;
  await Deno.writeFile(path, middle);
  const error = await expectRejection(() => Wal.open(folder.path), "CHECKSUM_MISMATCH");
  assert(
    error.message.includes(path) && error.message.includes(`byte ${damagedAt}`),
    error.message,
  );
  assertEquals(await Deno.readFile(path), middle, "a corrupt log was modified");
});

Deno.test("damage at the end of a segment that is not the last is corruption", async () => {
  await using folder = await temporaryFolder();
  const { wal } = await Wal.open(folder.path);
  await wal.append([record(0), record(1)]);
  assertEquals(wal.rollover(), 2);
  await wal.append([record(2)], { sync: true });
  await wal.close();
  const path = segmentPath(folder.path, 1);
  const bytes = await Deno.readFile(path);
  await Deno.writeFile(path, bytes.subarray(0, bytes.length - 3));
  const error = await expectRejection(() => Wal.open(folder.path), "CHECKSUM_MISMATCH");
  assert(error.message.includes(path), error.message);
});

Deno.test("zeroed space after the last record and an all-zero last segment are cut off", async () => {
  await using folder = await temporaryFolder();
  await writeLog(folder.path, 3);
  const path = segmentPath(folder.path, 1);
  const bytes = await Deno.readFile(path);
  await Deno.writeFile(path, new Uint8Array(8192), { append: true });
  const zeroTail = await reopenAndClose(folder.path);
  assertEquals(numbers(zeroTail.records), range(0, 3));
  assertEquals(zeroTail.truncatedTail?.reason, "zeroed space");
  assertEquals(await Deno.readFile(path), bytes);

  for (const emptySegment of [new Uint8Array(0), new Uint8Array(4096)]) {
    await Deno.writeFile(segmentPath(folder.path, 2), emptySegment);
    const opened = await Wal.open(folder.path);
    assertEquals(numbers(opened.records), range(0, 3));
    assertEquals(opened.truncatedTail?.segmentId, 2);
    await opened.wal.append([record(3)], { sync: true });
    await opened.wal.close();
    const again = await reopenAndClose(folder.path);
    assertEquals(numbers(again.records), range(0, 4));
    assertEquals(again.records.at(-1)?.segmentId, 2);
    await Deno.remove(segmentPath(folder.path, 2));
    await Deno.writeFile(path, bytes);
  }
});

Deno.test("a missing segment is corruption and a leftover temporary segment is deleted", async () => {
  await using folder = await temporaryFolder();
  const { wal } = await Wal.open(folder.path, { segmentBytesMax: 100 });
  for (let n = 0; n < 12; n++) await wal.append([record(n)]);
  await wal.close();
  const segments = [...Deno.readDirSync(folder.path)].length;
  assert(segments >= 4, `only ${segments} segments`);
  const temporary = `${segmentPath(folder.path, segments + 1)}.tmp`;
  await Deno.writeFile(temporary, new Uint8Array([1, 2, 3]));
  const opened = await reopenAndClose(folder.path);
  assertEquals(numbers(opened.records), range(0, 12));
  assertEquals([...Deno.readDirSync(folder.path)].length, segments);
  await Deno.remove(segmentPath(folder.path, 2));
  const error = await expectRejection(() => Wal.open(folder.path), "CHECKSUM_MISMATCH");
  assert(error.message.includes("segment missing"), error.message);
});

Deno.test("concurrent synced appends share fdatasyncs and each resolves once durable", async () => {
  await using folder = await temporaryFolder();
  let durableBytes = 0;
  let syncCalls = 0;
  const syncFile = async (fd: number) => {
    syncCalls += 1;
    const size = fstat(fd).size; // everything written so far is covered by this sync
    await new Promise((resolve) => setTimeout(resolve, 5));
    await fdatasync(fd);
    durableBytes = Math.max(durableBytes, size);
  };
  const { wal } = await Wal.open(folder.path, { syncFile });
  const appends: Promise<void>[] = [];
  for (let n = 0; n < 100; n++) {
    const append = wal.append([record(n)], { sync: true });
    const end = wal.position().byteOffset;
    appends.push(append.then(() => assert(durableBytes >= end, `append ${n} resolved early`)));
    if (n % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await Promise.all(appends);
  const stats = wal.stats();
  assertEquals(stats.appendCount, 100);
  assert(stats.syncCount < 20, `${stats.syncCount} group commits for 100 appends`);
  assert(syncCalls < 20);
  await wal.close();
  assertEquals(numbers((await reopenAndClose(folder.path)).records), range(0, 100));
});

Deno.test("segments roll over at the size limit and old ones can be removed", async () => {
  await using folder = await temporaryFolder();
  const { wal } = await Wal.open(folder.path, { segmentBytesMax: 100 });
  for (let n = 0; n < 20; n++) await wal.append([record(n)], { sync: n % 5 === 4 });
  const auto = wal.position().segmentId;
  assert(auto >= 5, `only ${auto} segments`);
  const explicit = wal.rollover();
  assertEquals(explicit, auto + 1);
  await wal.append([record(20)], { sync: true });
  await expectRejection(() => wal.removeSegmentsBefore(explicit + 1), "INVALID_ARGUMENT");
  assertEquals(await wal.removeSegmentsBefore(explicit), explicit - 1);
  assertEquals(await wal.removeSegmentsBefore(explicit), 0);
  assertEquals([...Deno.readDirSync(folder.path)].map((entry) => entry.name), [
    segmentFileName(explicit),
  ]);
  await wal.close();
  const opened = await reopenAndClose(folder.path);
  assertEquals(numbers(opened.records), [20]);
  assertEquals(opened.records[0]?.segmentId, explicit);
});

Deno.test("replayed records carry their segment ids in order", async () => {
  await using folder = await temporaryFolder();
  const { wal } = await Wal.open(folder.path, { segmentBytesMax: 120 });
  for (let n = 0; n < 15; n++) await wal.append([record(n), record(n + 100)]);
  await wal.close();
  const { records } = await reopenAndClose(folder.path);
  assertEquals(records.length, 30);
  const ids = records.map((replayed) => replayed.segmentId);
  assertEquals(ids, [...ids].sort((a, b) => a - b));
  assert((ids.at(-1) ?? 0) > 3);
});

Deno.test("invalid records are refused before anything is written", async () => {
  await using folder = await temporaryFolder();
  const { wal } = await Wal.open(folder.path, { recordBytesMax: 100 });
  const before = wal.position();
  for (const bad of [{ type: 0 }, { type: 256 }, { type: 1.5 }]) {
    await expectRejection(
      () => wal.append([record(0), { type: bad.type, payload: new Uint8Array(1) }]),
      "INVALID_ARGUMENT",
    );
  }
  await expectRejection(
    () => wal.append([{ type: 1, payload: new Uint8Array(101) }]),
    "INVALID_ARGUMENT",
  );
  assertEquals(wal.position(), before);
  await wal.close();
});

Deno.test("a failed fdatasync fails the waiting appends and stops the log", async () => {
  await using folder = await temporaryFolder();
  let fail = false;
  const syncFile = (fd: number) => fail ? Promise.reject(new Error("injected EIO")) : fdatasync(fd);
  const { wal } = await Wal.open(folder.path, { syncFile });
  await wal.append([record(0)], { sync: true });
  fail = true;
  const first = wal.append([record(1)], { sync: true });
  const second = wal.append([record(2)], { sync: true });
  await expectRejection(() => first, "IO");
  await expectRejection(() => second, "IO");
  await expectRejection(() => wal.append([record(3)]), "IO");
  await wal.close();
  fail = false;
  assertEquals(numbers((await reopenAndClose(folder.path)).records), [0, 1, 2]);
});

/** The child: appends numbered records, prints each synced position, until killed. */
const CHILD_SOURCE = `
import { Wal } from ${JSON.stringify(new URL("./wal.ts", import.meta.url).href)};
const encoder = new TextEncoder();
const record = (n) => ({ type: 1 + (n % 7), payload: encoder.encode(\`record \${n} \`.padEnd(10 + (n % 13), "x")) });
const { wal } = await Wal.open(Deno.args[0], { segmentBytesMax: 2048 });
let n = 0;
for (;;) {
  await wal.append([record(n++), record(n++)]);
  await wal.append([record(n++)], { sync: true });
  const { segmentId, byteOffset } = wal.position();
  await Deno.stdout.write(encoder.encode(\`acked \${n} \${segmentId} \${byteOffset}\\n\`));
  await wal.append([record(n++), record(n++), record(n++)]);
}
`;

Deno.test("records acknowledged as synced survive a kill -9 and the loss of unsynced data", async () => {
  await using folder = await temporaryFolder();
  await using copy = await temporaryFolder();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=js", CHILD_SOURCE, folder.path],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let last = { acked: 0, segmentId: 0, byteOffset: 0 };
  let buffered = "";
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  while (last.acked < 600) {
    const { value, done } = await reader.read();
    assert(!done, "the child stopped");
    buffered += value;
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) {
      const [acked, segmentId, byteOffset] = line.split(" ").slice(1).map(Number);
      last = { acked: acked ?? 0, segmentId: segmentId ?? 0, byteOffset: byteOffset ?? 0 };
    }
  }
  child.kill("SIGKILL");
  await reader.cancel();
  await child.status;

  // Power loss: everything after the last synced position never reached the disk,
  // except a torn fragment of the next write.
  for (const entry of Deno.readDirSync(folder.path)) {
    const id = parseInt(entry.name, 16);
    if (entry.name.endsWith(".wal") && id <= last.segmentId) {
      const bytes = await Deno.readFile(`${folder.path}/${entry.name}`);
      const keep = id === last.segmentId ? Math.min(bytes.length, last.byteOffset + 5) : undefined;
      await Deno.writeFile(`${copy.path}/${entry.name}`, bytes.subarray(0, keep));
    }
  }
  for (const survivor of [folder.path, copy.path]) {
    const { records } = await reopenAndClose(survivor);
    const replayed = numbers(records);
    assert(replayed.length >= last.acked, `${survivor}: ${replayed.length} < ${last.acked}`);
    assertEquals(replayed, range(0, replayed.length));
  }
  assertEquals(numbers((await reopenAndClose(copy.path)).records).length, last.acked);
});

Deno.test("appends land in zeroed space written ahead; a clean close cuts it off", async () => {
  await using folder = await temporaryFolder();
  const path = segmentPath(folder.path, 1);
  const { wal } = await Wal.open(folder.path);
  await wal.append([record(0)], { sync: true });
  const ahead = (await Deno.stat(path)).size;
  assertEquals(ahead, wal.position().byteOffset + ZEROED_AHEAD_BYTES);
  for (let n = 1; n < 50; n++) await wal.append([record(n)], { sync: true });
  assertEquals((await Deno.stat(path)).size, ahead, "the appends changed the file's length");
  const written = await Deno.readFile(path);
  assert(written.subarray(wal.position().byteOffset).every((byte) => byte === 0));
  const end = wal.position().byteOffset;
  await wal.close();
  assertEquals((await Deno.stat(path)).size, end);
  const reopened = await reopenAndClose(folder.path);
  assertEquals(numbers(reopened.records), range(0, 50));
  assertEquals(reopened.truncatedTail, null);
});

Deno.test("after a crash the zeroed space is cut off and every record is back", async () => {
  await using folder = await temporaryFolder();
  await using crashed = await temporaryFolder();
  const { wal } = await Wal.open(folder.path);
  await wal.append([record(0), record(1)], { sync: true });
  const end = wal.position().byteOffset;
  // The files as a crash would leave them: the log never closed.
  for (const entry of Deno.readDirSync(folder.path)) {
    await Deno.copyFile(`${folder.path}/${entry.name}`, `${crashed.path}/${entry.name}`);
  }
  await wal.close();
  const opened = await Wal.open(crashed.path);
  assertEquals(numbers(opened.records), [0, 1]);
  assertEquals(opened.truncatedTail?.reason, "zeroed space");
  assertEquals(opened.truncatedTail?.byteOffset, end);
  await opened.wal.append([record(2)], { sync: true });
  await opened.wal.close();
  assertEquals(numbers((await reopenAndClose(crashed.path)).records), [0, 1, 2]);
});

Deno.test("a segment is cut to its records when the next one starts", async () => {
  await using folder = await temporaryFolder();
  const { wal } = await Wal.open(folder.path);
  await wal.append([record(0), record(1)], { sync: true });
  const end = wal.position().byteOffset;
  assert((await Deno.stat(segmentPath(folder.path, 1))).size > end);
  assertEquals(wal.rollover(), 2);
  await wal.append([record(2)], { sync: true });
  assertEquals((await Deno.stat(segmentPath(folder.path, 1))).size, end);
  assert((await Deno.stat(segmentPath(folder.path, 2))).size > wal.position().byteOffset);
  await wal.close();
  const opened = await reopenAndClose(folder.path);
  assertEquals(numbers(opened.records), [0, 1, 2]);
  assertEquals(opened.truncatedTail, null);
});

Deno.test({
  name:
    "appends go on when the zeroed space cannot be written (a nearly full disk); a rollover cuts bytes the log does not know of",
  ignore: !canMountTmpfs,
  fn: async () => {
    await using disk = await tinyTmpfs(256 * 1024);
    const { wal } = await Wal.open(disk.path);
    for (let n = 0; n < 20; n++) await wal.append([record(n)], { sync: true });
    const end = wal.position().byteOffset;
    assertEquals((await Deno.stat(segmentPath(disk.path, 1))).size, end);
    // Bytes past the records that the log's bookkeeping does not know of (a
    // failed write leaves such): the rollover must still cut them off, or
    // replay would find damage at the end of a segment that is not the last.
    await Deno.writeFile(segmentPath(disk.path, 1), new Uint8Array(4096), { append: true });
    assertEquals(wal.rollover(), 2);
    await wal.append([record(20)], { sync: true });
    assertEquals((await Deno.stat(segmentPath(disk.path, 1))).size, end);
    await wal.close();
    assertEquals(numbers((await reopenAndClose(disk.path)).records), range(0, 21));
  },
});
