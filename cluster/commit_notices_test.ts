/** Tests of the commit notices held back for an append that supersedes them. */

import assert from "node:assert/strict";
import { type Message, MessageType, newMessage } from "../raft/mod.ts";
import { COMMIT_NOTICE_HOLD_MS, CommitNotices, isCommitNotice } from "./commit_notices.ts";

/** Timers that fire only when the test says so. */
function manualTimers() {
  const pending = new Map<number, { callback: () => void; ms: number }>();
  let next = 1;
  return {
    pending,
    set: (callback: () => void, ms: number) => {
      pending.set(next, { callback, ms });
      return next++;
    },
    clear: (handle: unknown) => pending.delete(handle as number),
    fire() {
      const due = [...pending.values()];
      pending.clear();
      due.forEach((timer) => timer.callback());
    },
  };
}

/** Notices held with manual timers, and what they sent. */
function heldNotices() {
  const sent: Message[] = [];
  const timers = manualTimers();
  return { sent, timers, notices: new CommitNotices((message) => sent.push(message), timers) };
}

const notice = (to: string, commit: number) =>
  newMessage({ type: MessageType.App, from: "a", to, term: 2, index: 9, commit });
const append = (to: string, commit: number) =>
  newMessage({
    type: MessageType.App,
    from: "a",
    to,
    term: 2,
    index: 9,
    commit,
    entries: [{ index: 10, term: 2, type: "normal", data: new Uint8Array([1]) }],
  });

Deno.test("isCommitNotice picks the leader's appends without entries", () => {
  assert.equal(isCommitNotice(notice("b", 9)), true);
  assert.equal(isCommitNotice(append("b", 9)), false);
  assert.equal(
    isCommitNotice(newMessage({ type: MessageType.Heartbeat, from: "a", to: "b", commit: 9 })),
    false,
  );
});

Deno.test("CommitNotices sends held notices once the hold is over, the newest per follower", () => {
  const { sent, timers, notices } = heldNotices();
  notices.offer(notice("b", 8));
  notices.offer(notice("b", 9));
  notices.offer(notice("c", 9));
  assert.equal(sent.length, 0, "nothing leaves during the hold");
  assert.deepEqual([...timers.pending.values()].map((timer) => timer.ms), [COMMIT_NOTICE_HOLD_MS]);
  timers.fire();
  assert.deepEqual(sent.map((message) => [message.to, message.commit]), [["b", 9], ["c", 9]]);
  notices.offer(notice("b", 10));
  assert.equal(timers.pending.size, 1, "a new hold starts a new timer");
});

Deno.test("CommitNotices drops a notice superseded by an append to the same follower", () => {
  const { sent, timers, notices } = heldNotices();
  notices.offer(notice("b", 9));
  notices.offer(notice("c", 9));
  notices.supersede(append("b", 9));
  notices.supersede(newMessage({ type: MessageType.Heartbeat, from: "a", to: "c", commit: 9 }));
  timers.fire();
  assert.deepEqual(sent.map((message) => message.to), ["c"], "a heartbeat supersedes nothing");
});

Deno.test("CommitNotices.clear() drops the held notices and the timer", () => {
  const { sent, timers, notices } = heldNotices();
  notices.offer(notice("b", 9));
  notices.clear();
  assert.equal(timers.pending.size, 0);
  notices.flush();
  assert.deepEqual(sent, []);
});

Deno.test("CommitNotices sends at once the notice that commits a proposal its follower forwarded", () => {
  const { sent, timers, notices } = heldNotices();
  notices.awaited("b", 9);
  notices.offer(notice("b", 8));
  notices.offer(notice("c", 9));
  assert.equal(sent.length, 0, "a notice short of b's proposal, and c's, are held");
  notices.offer(notice("b", 9));
  assert.deepEqual(sent.map((message) => [message.to, message.commit]), [["b", 9]]);
  notices.offer(notice("b", 10));
  assert.equal(sent.length, 1, "once b has it, b's next notices are held again");
  timers.fire();
  assert.deepEqual(sent.map((message) => [message.to, message.commit]), [
    ["b", 9],
    ["c", 9],
    ["b", 10],
  ]);
  notices.awaited("c", 12);
  notices.supersede(append("c", 12));
  notices.offer(notice("c", 13));
  assert.equal(sent.length, 3, "an append that carried the commit settles c's wait");
});
