/** Tests of MemoryStorage: reads, compaction, snapshots, appends and their typed errors. */

import assert from "node:assert/strict";
import { entriesWithTerms, entry } from "./_test_util.ts";
import { isStorageError, MemoryStorage, StorageError } from "./storage.ts";
import { ENTRY_HEADER_BYTES, NO_LIMIT } from "./types.ts";

/** A storage whose snapshot is at 3 (term 3) with entries 4 (term 4) and 5 (term 5). */
function compactedStorage(): MemoryStorage {
  const storage = new MemoryStorage({ confState: { voters: ["1"], learners: [] } });
  storage.append([entry(1, 1), entry(2, 2), entry(3, 3), entry(4, 4), entry(5, 5)]);
  storage.compact(3);
  return storage;
}

function errorKind(action: () => unknown): string | undefined {
  try {
    action();
    return undefined;
  } catch (error) {
    assert.ok(error instanceof StorageError, `unexpected ${error}`);
    return error.kind;
  }
}

Deno.test("MemoryStorage.term() answers from the snapshot index to the last index", () => {
  const storage = compactedStorage();
  assert.equal(errorKind(() => storage.term(2)), "compacted");
  assert.equal(storage.term(3), 3);
  assert.equal(storage.term(5), 5);
  assert.equal(errorKind(() => storage.term(6)), "unavailable");
});

Deno.test("MemoryStorage.entries() returns ranges, limited by size but never empty", () => {
  const storage = compactedStorage();
  assert.equal(errorKind(() => storage.entries(3, 5, NO_LIMIT)), "compacted");
  assert.deepEqual(storage.entries(4, 6, NO_LIMIT).map((e) => e.index), [4, 5]);
  assert.deepEqual(storage.entries(4, 6, 0).map((e) => e.index), [4], "at least one entry");
  assert.deepEqual(storage.entries(4, 6, 2 * ENTRY_HEADER_BYTES).map((e) => e.index), [4, 5]);
  assert.equal(errorKind(() => storage.entries(4, 7, NO_LIMIT)), "unavailable");
});

Deno.test("MemoryStorage first and last index follow compaction", () => {
  const storage = compactedStorage();
  assert.equal(storage.firstIndex(), 4);
  assert.equal(storage.lastIndex(), 5);
  storage.compact(4);
  assert.equal(storage.firstIndex(), 5);
  assert.equal(storage.term(4), 4);
  assert.equal(errorKind(() => storage.compact(4)), "compacted");
});

Deno.test("MemoryStorage.createSnapshot() refuses an out-of-date index", () => {
  const storage = compactedStorage();
  const confState = { voters: ["1", "2"], learners: [] };
  const snapshot = storage.createSnapshot(4, confState, new Uint8Array([1]));
  assert.deepEqual(snapshot.metadata, { index: 4, term: 4, confState });
  assert.equal(
    errorKind(() => storage.createSnapshot(4, confState, new Uint8Array())),
    "snapshotOutOfDate",
  );
  assert.equal(storage.lastIndex(), 5, "creating a snapshot does not compact");
});

Deno.test("MemoryStorage.applySnapshot() replaces the log and refuses older snapshots", () => {
  const storage = compactedStorage();
  const snapshot = {
    metadata: { index: 10, term: 7, confState: { voters: ["1"], learners: [] } },
    data: new Uint8Array(),
  };
  storage.applySnapshot(snapshot);
  assert.equal(storage.firstIndex(), 11);
  assert.equal(storage.lastIndex(), 10);
  assert.equal(storage.term(10), 7);
  const older = { ...snapshot, metadata: { ...snapshot.metadata, index: 9 } };
  assert.throws(
    () => storage.applySnapshot(older),
    (error) => isStorageError(error, "snapshotOutOfDate"),
  );
});

Deno.test("MemoryStorage.append() truncates conflicts, ignores compacted entries and refuses gaps", async (t) => {
  const cases: [number[], number, number[], number[]][] = [
    // appended entries (start index, terms) -> resulting terms of indexes 4..
    [[4, 5], 4, [4, 5], [4, 5]],
    [[6, 6], 4, [6, 6], [6, 6]],
    [[4, 5, 6], 4, [4, 5, 6], [4, 5, 6]],
    [[2, 3, 4], 2, [2, 3, 4], [4]], // entries 2 and 3 are compacted: ignored
    [[5], 5, [5], [4, 5]],
    [[6], 5, [6], [4, 6]],
    [[6], 6, [6], [4, 5, 6]],
  ];
  for (const [, start, terms, expected] of cases) {
    await t.step(`append terms ${terms} at ${start}`, () => {
      const storage = compactedStorage();
      storage.append(terms.map((term, i) => entry(start + i, term)));
      const entries = storage.entries(4, storage.lastIndex() + 1, NO_LIMIT);
      assert.deepEqual(entries.map((e) => e.term), expected);
    });
  }
  await t.step("a gap is a bug", () => {
    const storage = compactedStorage();
    assert.throws(() => storage.append([entry(7, 5)]), /gap/);
  });
});

Deno.test("MemoryStorage keeps the hard state and the initial membership", () => {
  const storage = new MemoryStorage({ confState: { voters: ["a", "b"], learners: ["c"] } });
  storage.setHardState({ term: 3, vote: "a", commit: 0 });
  storage.append(entriesWithTerms([1]));
  assert.deepEqual(storage.initialState(), {
    hardState: { term: 3, vote: "a", commit: 0 },
    confState: { voters: ["a", "b"], learners: ["c"] },
  });
});

Deno.test("MemoryStorage.bootstrap() starts from a snapshot at index 1 carrying the membership", () => {
  const storage = MemoryStorage.bootstrap({ voters: ["a", "b", "c"], learners: [] });
  assert.equal(storage.firstIndex(), 2);
  assert.equal(storage.lastIndex(), 1);
  assert.equal(storage.term(1), 1);
  assert.deepEqual(storage.snapshot().metadata.confState.voters, ["a", "b", "c"]);
  assert.deepEqual(storage.initialState().hardState, { term: 1, vote: "", commit: 1 });
});

Deno.test("MemoryStorage.append() extends a long log in place, in time linear in the batch", () => {
  const storage = new MemoryStorage({ confState: { voters: ["a"], learners: [] } });
  for (let index = 1; index <= 50_000; index++) {
    storage.append([{ term: 1, index, type: "normal", data: new Uint8Array() }]);
  }
  assert.equal(storage.lastIndex(), 50_000);
  storage.append([{ term: 2, index: 49_999, type: "normal", data: new Uint8Array() }]);
  assert.equal(storage.lastIndex(), 49_999, "an overlapping append still replaces the suffix");
  assert.equal(storage.term(49_999), 2);
  assert.equal(storage.term(49_998), 1);
});
