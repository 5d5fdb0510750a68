/** Tests of peer health: RTT ordering and the suspension list. */

import assert from "node:assert/strict";
import { ManualClock } from "../base/clock.ts";
import { FAILURES_BEFORE_SUSPENSION, PeerHealth } from "./peer_health.ts";

Deno.test("PeerHealth orders read candidates: self first, then by round-trip time", () => {
  const health = new PeerHealth({ clock: new ManualClock(), suspensionMs: 1000 });
  health.succeeded("far", 80);
  health.succeeded("near", 0.3);
  assert.deepEqual(health.orderForRead(["far", "unknown", "near", "me"], "me"), [
    "me",
    "near",
    "far",
    "unknown",
  ]);
});

Deno.test("PeerHealth suspends a peer after repeated failures, for a while", () => {
  const clock = new ManualClock(5000);
  const health = new PeerHealth({ clock, suspensionMs: 1000 });
  health.succeeded("a", 1);
  health.succeeded("b", 2);
  for (let i = 1; i < FAILURES_BEFORE_SUSPENSION; i++) health.failed("a", "connection refused");
  assert.equal(health.isSuspended("a"), false);
  health.failed("a", "connection refused");
  assert.equal(health.isSuspended("a"), true);
  assert.deepEqual(health.orderForRead(["a", "b"], "me"), ["b", "a"], "suspended peers go last");
  const view = health.views().find((peer) => peer.node === "a");
  assert.equal(view?.suspendedUntilMs, 6000);
  assert.equal(view?.lastError, "connection refused");
  clock.advance(1000);
  assert.equal(health.isSuspended("a"), false, "the suspension ends");
  health.failed("a", "again");
  assert.equal(health.isSuspended("a"), true, "failures still counted");
  health.succeeded("a");
  assert.equal(health.isSuspended("a"), false, "an answer lifts it");
});
