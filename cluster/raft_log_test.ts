/** Tests of the durable Raft log: restart recovery, snapshots, compaction and install markers. */

import assert from "node:assert/strict";
import { silentLogger } from "../base/log.ts";
import type { Entry, Ready } from "../raft/mod.ts";
import { RaftLog } from "./raft_log.ts";

function entry(index: number, term: number, text = `e${index}`): Entry {
  return { index, term, type: "normal", data: new TextEncoder().encode(text) };
}

function ready(fields: Partial<Ready>): Ready {
  return {
    entries: [],
    committedEntries: [],
    messages: [],
    readStates: [],
    mustSync: true,
    ...fields,
  };
}

const confState = { voters: ["a"], learners: [] };

Deno.test("RaftLog rebuilds hard state and entries after a restart", async () => {
  const folder = await Deno.makeTempDir({ prefix: "ukai-raftlog-" });
  try {
    const first = await RaftLog.open(folder, silentLogger);
    assert.equal(first.empty, true);
    await first.log.save(ready({
      snapshot: { metadata: { index: 1, term: 1, confState }, data: new Uint8Array([9]) },
      hardState: { term: 1, vote: "", commit: 1 },
    }));
    await first.log.save(
      ready({ entries: [entry(2, 2), entry(3, 2)], hardState: { term: 2, vote: "a", commit: 2 } }),
    );
    await first.log.save(ready({ entries: [entry(3, 3, "replaced"), entry(4, 3)] }));
    await first.log.close();

    const again = await RaftLog.open(folder, silentLogger);
    assert.equal(again.empty, false);
    const storage = again.log.storage;
    assert.deepEqual(storage.initialState().hardState, { term: 2, vote: "a", commit: 2 });
    assert.deepEqual(storage.initialState().confState, confState);
    assert.equal(storage.firstIndex(), 2);
    assert.equal(storage.lastIndex(), 4);
    assert.equal(storage.term(3), 3, "the conflicting entry was replaced");
    assert.deepEqual([...storage.snapshot().data], [9]);
    await again.log.close();
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("RaftLog.compact() keeps later entries and survives a restart without old segments", async () => {
  const folder = await Deno.makeTempDir({ prefix: "ukai-raftlog-" });
  try {
    const { log } = await RaftLog.open(folder, silentLogger);
    await log.save(ready({
      snapshot: { metadata: { index: 1, term: 1, confState }, data: new Uint8Array() },
      hardState: { term: 1, vote: "", commit: 1 },
    }));
    const entries = Array.from({ length: 20 }, (_, i) => entry(i + 2, 1));
    await log.save(ready({ entries, hardState: { term: 1, vote: "a", commit: 21 } }));
    await log.compact(15, confState, new Uint8Array([1, 5]));
    assert.equal(log.storage.firstIndex(), 16);
    await log.close();
    const reopened = await RaftLog.open(folder, silentLogger);
    const storage = reopened.log.storage;
    assert.equal(storage.snapshot().metadata.index, 15);
    assert.deepEqual([...storage.snapshot().data], [1, 5]);
    assert.equal(storage.firstIndex(), 16);
    assert.equal(storage.lastIndex(), 21);
    assert.deepEqual(storage.initialState().hardState, { term: 1, vote: "a", commit: 21 });
    const walFiles = [...Deno.readDirSync(`${folder}/wal`)].filter((f) => f.name.endsWith(".wal"));
    assert.equal(walFiles.length, 1, "segments before the snapshot are gone");
    await reopened.log.close();
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("RaftLog drops entries replayed before an installed snapshot's marker", async () => {
  const folder = await Deno.makeTempDir({ prefix: "ukai-raftlog-" });
  try {
    const { log } = await RaftLog.open(folder, silentLogger);
    await log.save(ready({
      snapshot: { metadata: { index: 1, term: 1, confState }, data: new Uint8Array() },
    }));
    // A divergent tail from an old term, beyond the snapshot the leader will send.
    await log.save(ready({ entries: [entry(2, 2), entry(3, 2), entry(4, 2), entry(5, 2)] }));
    await log.save(ready({
      snapshot: { metadata: { index: 3, term: 5, confState }, data: new Uint8Array([3]) },
      hardState: { term: 5, vote: "", commit: 3 },
    }));
    assert.equal(log.storage.lastIndex(), 3);
    await log.close();
    const reopened = await RaftLog.open(folder, silentLogger);
    assert.equal(reopened.log.storage.lastIndex(), 3, "stale entries 4-5 did not come back");
    assert.equal(reopened.log.storage.snapshot().metadata.term, 5);
    await reopened.log.close();
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("RaftLog refuses a log that names a missing snapshot", async () => {
  const folder = await Deno.makeTempDir({ prefix: "ukai-raftlog-" });
  try {
    const { log } = await RaftLog.open(folder, silentLogger);
    await log.save(ready({
      snapshot: { metadata: { index: 7, term: 2, confState }, data: new Uint8Array() },
    }));
    await log.close();
    for (const file of Deno.readDirSync(`${folder}/snapshots`)) {
      await Deno.remove(`${folder}/snapshots/${file.name}`);
    }
    await assert.rejects(RaftLog.open(folder, silentLogger), { code: "CHECKSUM_MISMATCH" });
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});
