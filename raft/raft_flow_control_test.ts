/**
 * Flow control towards one follower: the inflight window (by count and by
 * bytes) stops new appends when full, acknowledgements slide it forward,
 * heartbeat responses let one empty probe through, and the per-message
 * size limit splits entries. Modelled on etcd-io/raft's
 * raft_flow_control_test.go.
 */

import assert from "node:assert/strict";
import { entry, makeLeader, msg, newTestRaft, readMessages } from "./_test_util.ts";
import type { Raft } from "./raft.ts";
import { MessageType } from "./types.ts";

/** A leader of {1, 2} whose follower 2 is in replicate state with nothing in flight. */
function replicatingLeader(
  options: { maxInflightMsgs?: number; maxInflightBytes?: number; maxSizePerMsg?: number },
): Raft {
  const r = newTestRaft("1", { voters: ["1", "2"], ...options });
  makeLeader(r);
  readMessages(r);
  const progress = r.tracker.progress.get("2")!;
  progress.maybeUpdate(r.log.lastIndex()); // has the empty entry
  progress.becomeReplicate();
  return r;
}

function appendsTo2(r: Raft) {
  return readMessages(r).filter((m) => m.type === MessageType.App && m.to === "2");
}

Deno.test("a full inflight window stops new appends", () => {
  const r = replicatingLeader({ maxInflightMsgs: 3 });
  const inflights = r.tracker.progress.get("2")!.inflights;
  for (let i = 0; i < 3; i++) {
    r.propose([entry(0, 0, "somedata")]);
    assert.equal(appendsTo2(r).length, 1, `proposal ${i} goes out`);
  }
  assert.equal(inflights.full(), true);
  for (let i = 0; i < 5; i++) {
    r.propose([entry(0, 0, "somedata")]);
    assert.deepEqual(appendsTo2(r), [], "nothing while full");
  }
});

Deno.test("an acknowledgement slides the inflight window forward", () => {
  const r = replicatingLeader({ maxInflightMsgs: 3 });
  const inflights = r.tracker.progress.get("2")!.inflights;
  for (let i = 0; i < 3; i++) r.propose([entry(0, 0, "somedata")]);
  readMessages(r);
  assert.equal(inflights.full(), true);
  // Proposals are at indexes 2, 3 and 4, one message each.
  for (const acked of [2, 3, 4]) {
    r.step(msg(MessageType.AppResp, "2", "1", { term: r.term, index: acked }));
    assert.equal(inflights.full(), false, `ack ${acked} frees a slot`);
    readMessages(r);
    r.propose([entry(0, 0, "more")]);
    assert.equal(appendsTo2(r).length, 1, "exactly one more append");
    assert.equal(inflights.full(), true);
    // A stale acknowledgement frees nothing.
    r.step(msg(MessageType.AppResp, "2", "1", { term: r.term, index: acked - 1 }));
    assert.deepEqual(appendsTo2(r), []);
    assert.equal(inflights.full(), true);
  }
});

Deno.test("a heartbeat response lets one empty append through a full window", () => {
  const r = replicatingLeader({ maxInflightMsgs: 3 });
  for (let i = 0; i < 3; i++) r.propose([entry(0, 0, "somedata")]);
  readMessages(r);
  for (let i = 0; i < 4; i++) {
    r.step(msg(MessageType.HeartbeatResp, "2", "1", { term: r.term }));
    const sent = appendsTo2(r);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.entries.length, 0, "an empty probe, no new entries");
    r.propose([entry(0, 0, "more")]);
    assert.deepEqual(appendsTo2(r), [], "paused again");
  }
});

Deno.test("the inflight byte limit stops appends before the count limit", () => {
  const r = replicatingLeader({ maxInflightMsgs: 100, maxInflightBytes: 20, maxSizePerMsg: 10 });
  const inflights = r.tracker.progress.get("2")!.inflights;
  r.propose([entry(0, 0, "0123456789")]);
  assert.equal(appendsTo2(r).length, 1);
  r.propose([entry(0, 0, "0123456789")]);
  assert.equal(appendsTo2(r).length, 1);
  assert.equal(inflights.bytes, 20);
  assert.equal(inflights.full(), true);
  r.propose([entry(0, 0, "x")]);
  assert.deepEqual(appendsTo2(r), []);
  r.step(msg(MessageType.AppResp, "2", "1", { term: r.term, index: 2 }));
  const [waiting] = appendsTo2(r);
  assert.equal(
    new TextDecoder().decode(waiting?.entries[0]?.data),
    "x",
    "the waiting entry goes out",
  );
  assert.equal(inflights.bytes, 11);
});

Deno.test("appends respect the per-message size limit but always carry one entry", () => {
  const r = newTestRaft("1", { voters: ["1", "2"], maxSizePerMsg: 40 });
  makeLeader(r);
  readMessages(r);
  for (let i = 0; i < 5; i++) r.appendEntries([entry(0, 0, "0123456789")]); // 26 bytes each
  r.appendEntries([entry(0, 0, "x".repeat(100))]);
  r.step(msg(MessageType.AppResp, "2", "1", { term: r.term, index: 1 }));
  const sizes = appendsTo2(r).map((m) => m.entries.length);
  assert.deepEqual(
    sizes,
    [1, 1, 1, 1, 1, 1],
    "26 + 26 > 40: one entry per message; the big one alone",
  );
});
