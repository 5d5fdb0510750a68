import { assert } from "../base/assert.ts";
import { Rng } from "../base/rng.ts";
import type { Entry, Snapshot } from "../raft/mod.ts";
import { decodeWalRecords, encodeWalRecord, LogState, replay, type WalRecord } from "./wal.ts";
import { concatBytes } from "../base/bytes.ts";

function entry(index: number, term: number, text = `e${index}`): Entry {
  return { index, term, type: "normal", data: new TextEncoder().encode(text) };
}

function snapshot(index: number, term: number): Snapshot {
  return {
    metadata: { index, term, confState: { voters: ["n1", "n2"], learners: ["n3"] } },
    data: Uint8Array.of(1, 2, 3),
  };
}

const records: WalRecord[] = [
  { snapshot: snapshot(1, 1), hardState: { term: 1, vote: "", commit: 1 }, entries: [] },
  { hardState: { term: 2, vote: "n1", commit: 1 }, entries: [entry(2, 2), entry(3, 2)] },
  { entries: [entry(3, 3), entry(4, 3)] },
  { hardState: { term: 3, vote: "n2", commit: 4 }, entries: [] },
];

Deno.test("WAL records round-trip through encode and decode", () => {
  const bytes = concatBytes(records.map(encodeWalRecord));
  const decoded = decodeWalRecords(bytes);
  assert(decoded.validBytes === bytes.length, "every byte is valid");
  assert(decoded.records.length === records.length, "every record comes back");
  const state = replay(decoded.records);
  assert(state.hardState.vote === "n2" && state.hardState.commit === 4, "last hard state wins");
  assert(state.lastIndex() === 4 && state.term(3) === 3, "a later append replaces the suffix");
  assert(state.term(1) === 1 && state.term(0) === undefined, "the snapshot covers index 1");
});

Deno.test("WAL replay stops at a record cut anywhere (torn tail)", () => {
  const full = concatBytes(records.map(encodeWalRecord));
  const boundaries = [0];
  for (const record of records) {
    boundaries.push(boundaries.at(-1)! + encodeWalRecord(record).length);
  }
  for (let cut = 0; cut <= full.length; cut++) {
    const { records: decoded, validBytes } = decodeWalRecords(full.subarray(0, cut));
    const whole = boundaries.filter((boundary) => boundary <= cut).length - 1;
    assert(decoded.length === whole, `cut at ${cut}: ${decoded.length} records, expected ${whole}`);
    assert(validBytes === boundaries[whole], `cut at ${cut}: valid bytes ${validBytes}`);
  }
});

Deno.test("WAL replay refuses a record with any flipped bit", () => {
  const bytes = encodeWalRecord(records[1]!);
  const rng = new Rng(7);
  for (let trial = 0; trial < 200; trial++) {
    const corrupt = bytes.slice();
    const bit = rng.int(corrupt.length * 8);
    corrupt[bit >> 3]! ^= 1 << (bit & 7);
    assert(decodeWalRecords(corrupt).records.length === 0, `bit ${bit} flipped went unnoticed`);
  }
});

Deno.test("LogState ignores entries covered by the snapshot and keeps later ones", () => {
  const state = new LogState();
  state.apply({ snapshot: snapshot(5, 2), entries: [entry(4, 2), entry(5, 2), entry(6, 2)] });
  assert(state.snapshotIndex() === 5 && state.lastIndex() === 6, "only entry 6 is kept");
  assert(state.term(5) === 2 && state.term(6) === 2 && state.term(4) === undefined, "terms");
  const copy = state.clone();
  copy.apply({ entries: [entry(7, 3)] });
  assert(state.lastIndex() === 6 && copy.lastIndex() === 7, "a clone is independent");
});
