/** Tests of RaftLog and UnstableLog: conflicts, appends, commit, slices across storage and the unstable tail. */

import assert from "node:assert/strict";
import { entriesWithTerms, entry } from "./_test_util.ts";
import { RaftLog } from "./log.ts";
import { UnstableLog } from "./log_unstable.ts";
import { MemoryStorage } from "./storage.ts";
import { type Entry, ENTRY_HEADER_BYTES, NO_LIMIT } from "./types.ts";

function logWithTerms(terms: number[]): RaftLog {
  const log = new RaftLog(new MemoryStorage());
  log.append(entriesWithTerms(terms));
  return log;
}

function terms(entries: Entry[] | undefined): number[] | undefined {
  return entries?.map((e) => e.term);
}

Deno.test("findConflict() returns the first mismatching or new index, 0 when all present", async (t) => {
  const cases: [[number, number][], number][] = [
    [[], 0],
    [[[1, 1], [2, 2], [3, 3]], 0],
    [[[2, 2], [3, 3]], 0],
    [[[3, 3]], 0],
    [[[1, 1], [2, 2], [3, 3], [4, 4], [5, 4]], 4],
    [[[4, 4], [5, 4]], 4],
    [[[1, 4], [2, 4]], 1],
    [[[2, 1], [3, 4], [4, 4]], 2],
    [[[3, 1], [4, 2], [5, 4], [6, 4]], 3],
  ];
  for (const [given, conflict] of cases) {
    await t.step(JSON.stringify(given), () => {
      const log = logWithTerms([1, 2, 3]);
      assert.equal(log.findConflict(given.map(([index, term]) => entry(index, term))), conflict);
    });
  }
});

Deno.test("findConflictByTerm() finds the last index at or before a point with a term no newer", async (t) => {
  // log terms (after a snapshot at index `offset`), probe index, probe term -> index, term
  const cases: [number, number[], number, number, number, number][] = [
    [0, [2, 2, 5, 5, 5], 5, 6, 5, 5],
    [0, [2, 2, 5, 5, 5], 5, 5, 5, 5],
    [0, [2, 2, 5, 5, 5], 5, 4, 2, 2],
    [0, [2, 2, 5, 5, 5], 5, 1, 0, 0],
    [0, [2, 2, 5, 5, 5], 2, 2, 2, 2],
    [10, [3, 3, 3, 4, 4, 4], 16, 3, 13, 3], // compacted log: stops above the snapshot
    [10, [3, 3, 3, 4, 4, 4], 12, 2, 10, 1], // the snapshot's term counts
    [10, [3, 3, 3, 4, 4, 4], 12, 0, 9, 0], // reaches the compacted part: term unknown
  ];
  for (const [offset, logTerms, index, term, wantIndex, wantTerm] of cases) {
    await t.step(`offset ${offset} log ${logTerms} probe (${index}, ${term})`, () => {
      const storage = new MemoryStorage();
      if (offset > 0) {
        storage.applySnapshot({
          metadata: { index: offset, term: 1, confState: { voters: [], learners: [] } },
          data: new Uint8Array(),
        });
      }
      storage.append(logTerms.map((t, i) => entry(offset + 1 + i, t)));
      const log = new RaftLog(storage);
      assert.deepEqual(log.findConflictByTerm(index, term), { index: wantIndex, term: wantTerm });
    });
  }
});

Deno.test("maybeAppend() appends after a match, truncates conflicts and commits what it covers", async (t) => {
  // prev (index, term), leader commit, entries -> last new index or undefined, commit, log terms
  const cases: [
    number,
    number,
    number,
    [number, number][],
    number | undefined,
    number,
    number[],
  ][] = [
    [3, 2, 3, [[4, 4]], undefined, 1, [1, 2, 3]], // mismatch at prev
    [4, 3, 3, [[5, 4]], undefined, 1, [1, 2, 3]], // prev missing
    [3, 3, 3, [], 3, 3, [1, 2, 3]],
    [3, 3, 4, [], 3, 3, [1, 2, 3]], // commit capped at the last new index
    [3, 3, 2, [], 3, 2, [1, 2, 3]],
    [3, 3, 4, [[4, 4]], 4, 4, [1, 2, 3, 4]],
    [2, 2, 4, [[3, 4]], 3, 3, [1, 2, 4]], // conflict replaced
    [1, 1, 4, [[2, 4], [3, 4]], 3, 3, [1, 4, 4]],
  ];
  for (const [index, term, commit, given, lastNew, committed, resulting] of cases) {
    await t.step(`after (${index}, ${term}) ${JSON.stringify(given)} commit ${commit}`, () => {
      const log = logWithTerms([1, 2, 3]);
      log.commitTo(1);
      const result = log.maybeAppend({ index, term }, commit, given.map(([i, t]) => entry(i, t)));
      assert.equal(result, lastNew);
      assert.equal(log.committed, committed);
      assert.deepEqual(terms(log.allEntries()), resulting);
    });
  }
});

Deno.test("replacing a committed entry is a bug", () => {
  const log = logWithTerms([1, 2, 3]);
  log.commitTo(2);
  assert.throws(
    () => log.maybeAppend({ index: 1, term: 1 }, 3, [entry(2, 4)]),
    /conflicts with committed/,
  );
});

Deno.test("commitTo() never decreases and refuses indexes past the log", () => {
  const log = logWithTerms([1, 2, 3]);
  log.commitTo(2);
  log.commitTo(1);
  assert.equal(log.committed, 2);
  assert.throws(() => log.commitTo(4), /beyond the last index/);
});

Deno.test("isUpToDate() compares last terms first, then indexes", () => {
  const log = logWithTerms([1, 2, 3]);
  assert.equal(log.isUpToDate({ index: 2, term: 4 }), true);
  assert.equal(log.isUpToDate({ index: 4, term: 2 }), false);
  assert.equal(log.isUpToDate({ index: 3, term: 3 }), true);
  assert.equal(log.isUpToDate({ index: 2, term: 3 }), false);
  assert.equal(log.isUpToDate({ index: 4, term: 2 }, true), true, "the planted bug ignores terms");
});

Deno.test("slice() joins storage and the unstable tail, size-limited, undefined when compacted", () => {
  const storage = new MemoryStorage();
  storage.append(entriesWithTerms([1, 1, 1, 1, 1]));
  storage.compact(2);
  const log = new RaftLog(storage);
  log.append([entry(6, 2), entry(7, 2)]);
  assert.equal(log.slice(2, 5, NO_LIMIT), undefined);
  assert.deepEqual(log.slice(3, 8, NO_LIMIT)?.map((e) => e.index), [3, 4, 5, 6, 7]);
  assert.deepEqual(log.slice(5, 8, NO_LIMIT)?.map((e) => e.index), [5, 6, 7]);
  assert.deepEqual(log.slice(6, 8, NO_LIMIT)?.map((e) => e.index), [6, 7]);
  assert.deepEqual(log.slice(3, 8, 0)?.map((e) => e.index), [3]);
  assert.deepEqual(log.slice(4, 8, 2 * ENTRY_HEADER_BYTES)?.map((e) => e.index), [4, 5]);
  assert.deepEqual(log.slice(5, 8, 2 * ENTRY_HEADER_BYTES)?.map((e) => e.index), [5, 6]);
  assert.deepEqual(log.slice(8, 8, NO_LIMIT), []);
});

Deno.test("nextCommittedEntries() hands out committed, unapplied entries", () => {
  const log = logWithTerms([1, 1, 1]);
  assert.deepEqual(log.nextCommittedEntries(), []);
  log.commitTo(2);
  assert.deepEqual(log.nextCommittedEntries().map((e) => e.index), [1, 2]);
  log.appliedTo(1);
  assert.deepEqual(log.nextCommittedEntries().map((e) => e.index), [2]);
  assert.throws(() => log.appliedTo(3), /out of range/);
});

Deno.test("restore() makes the snapshot the whole log until it is persisted", () => {
  const log = logWithTerms([1, 2]);
  log.restore({
    metadata: { index: 10, term: 5, confState: { voters: [], learners: [] } },
    data: new Uint8Array(),
  });
  assert.equal(log.firstIndex(), 11);
  assert.equal(log.lastIndex(), 10);
  assert.equal(log.committed, 10);
  assert.equal(log.term(10), 5);
  assert.equal(log.hasPendingSnapshot(), true);
  assert.equal(log.hasNextCommittedEntries(), false);
});

Deno.test("UnstableLog.stableTo() drops entries only when the term still matches", () => {
  const unstable = new UnstableLog(5);
  unstable.truncateAndAppend([entry(5, 1), entry(6, 1), entry(7, 1)]);
  unstable.stableTo(6, 2);
  assert.equal(unstable.offset, 5, "wrong term: ignored");
  unstable.stableTo(6, 1);
  assert.equal(unstable.offset, 7);
  assert.deepEqual(unstable.entries.map((e) => e.index), [7]);
  unstable.stableTo(4, 1);
  assert.equal(unstable.offset, 7, "already stable: ignored");
});

Deno.test("UnstableLog.truncateAndAppend() appends, replaces or truncates", async (t) => {
  const cases: [number, number[], number, number[]][] = [
    [8, [2], 5, [1, 1, 1, 2]], // directly after
    [5, [2, 2], 5, [2, 2]], // replace everything
    [4, [2, 2, 2], 4, [2, 2, 2]], // before the offset
    [6, [2], 5, [1, 2]], // truncate in the middle
  ];
  for (const [start, newTerms, offset, resulting] of cases) {
    await t.step(`at ${start}`, () => {
      const unstable = new UnstableLog(5);
      unstable.truncateAndAppend([entry(5, 1), entry(6, 1), entry(7, 1)]);
      unstable.truncateAndAppend(newTerms.map((term, i) => entry(start + i, term)));
      assert.equal(unstable.offset, offset);
      assert.deepEqual(unstable.entries.map((e) => e.term), resulting);
    });
  }
});

Deno.test("UnstableLog reports a pending snapshot as its first and last index", () => {
  const unstable = new UnstableLog(1);
  assert.equal(unstable.maybeFirstIndex(), undefined);
  assert.equal(unstable.maybeLastIndex(), undefined);
  unstable.restore({
    metadata: { index: 4, term: 2, confState: { voters: [], learners: [] } },
    data: new Uint8Array(),
  });
  assert.equal(unstable.maybeFirstIndex(), 5);
  assert.equal(unstable.maybeLastIndex(), 4);
  assert.equal(unstable.maybeTerm(4), 2);
  assert.equal(unstable.maybeTerm(3), undefined);
  unstable.stableSnapTo(4);
  assert.equal(unstable.snapshot, undefined);
});
