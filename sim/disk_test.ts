import { assert } from "../base/assert.ts";
import { Rng } from "../base/rng.ts";
import type { Entry } from "../raft/mod.ts";
import { SimDisk } from "./disk.ts";

function entry(index: number, term: number): Entry {
  return { index, term, type: "normal", data: new Uint8Array(16).fill(index) };
}

Deno.test("SimDisk: a crash keeps exactly what was fsynced when nothing is torn", () => {
  const disk = new SimDisk();
  disk.write({ hardState: { term: 1, vote: "a", commit: 0 }, entries: [entry(1, 1)] });
  disk.fsync();
  disk.write({ entries: [entry(2, 1)] });
  assert(disk.unsyncedCount === 1, "one record waits for fsync");
  assert(disk.durable().lastIndex() === 1, "the durable view excludes the unsynced write");
  const outcome = disk.crash(new Rng(1), 0);
  assert(
    outcome.unsyncedRecordsLost === 1 && outcome.tornBytes === 0,
    "the unsynced write is lost",
  );
  const recovered = disk.recover();
  assert(
    recovered.lastIndex() === 1 && recovered.hardState.vote === "a",
    "the synced state is back",
  );
});

Deno.test("SimDisk: a torn tail is truncated on recovery, whole records may survive", () => {
  let tornSeen = 0;
  let keptSeen = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const disk = new SimDisk();
    disk.write({ hardState: { term: 1, vote: "", commit: 0 }, entries: [entry(1, 1)] });
    disk.fsync();
    for (let index = 2; index <= 5; index++) disk.write({ entries: [entry(index, 1)] });
    const outcome = disk.crash(new Rng(seed), 1);
    const recovered = disk.recover();
    assert(recovered.lastIndex() === 1 + outcome.unsyncedRecordsKept, `seed ${seed}: prefix`);
    assert(recovered.lastIndex() >= disk.durable().lastIndex(), "recovery is durable");
    if (outcome.tornBytes > 0) tornSeen++;
    if (outcome.unsyncedRecordsKept > 0) keptSeen++;
    assert(disk.unsyncedCount === 0 && disk.recordCount === recovered.lastIndex(), "truncated");
  }
  assert(tornSeen > 0 && keptSeen > 0, "both torn and whole unsynced records occur");
});

Deno.test("SimDisk: rewrite replaces the file atomically and durably", () => {
  const disk = new SimDisk();
  for (let index = 1; index <= 10; index++) disk.write({ entries: [entry(index, 1)] });
  disk.rewrite({
    snapshot: {
      metadata: { index: 8, term: 1, confState: { voters: ["a"], learners: [] } },
      data: new Uint8Array(),
    },
    hardState: { term: 1, vote: "a", commit: 10 },
    entries: [entry(9, 1), entry(10, 1)],
  });
  assert(disk.recordCount === 1 && disk.unsyncedCount === 0, "one durable record");
  disk.crash(new Rng(3), 1);
  const recovered = disk.recover();
  assert(recovered.snapshotIndex() === 8 && recovered.lastIndex() === 10, "compacted log survives");
});
