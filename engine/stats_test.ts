/**
 * Tests of the I/O statistics: latency summaries at bucket precision and the
 * check of a summary that arrives from a peer.
 */

import assert from "node:assert/strict";
import { UkaiError } from "../base/errors.ts";
import {
  checkStatsSummary,
  ImageStats,
  LATENCY_BUCKETS_SECONDS,
  latencyBucketOf,
  LatencyHistogram,
  StatsRegistry,
} from "./stats.ts";

Deno.test("ImageStats.summary() gives counters and latency bounds in milliseconds", () => {
  const stats = new ImageStats();
  stats.writeOps = 3;
  stats.writeBytes = 12288;
  for (const seconds of [0.0004, 0.0009, 0.02]) stats.writeLatency.observe(seconds);
  const summary = stats.summary();
  assert.equal(summary.writeOps, 3);
  assert.equal(summary.writeBytes, 12288);
  assert.deepEqual(summary.readLatency, { count: 0, meanMs: null, p50Ms: null, p99Ms: null });
  assert.equal(summary.writeLatency.count, 3);
  assert.equal(summary.writeLatency.p50Ms, 1, "the median falls in the ≤1 ms bucket");
  assert.equal(summary.writeLatency.p99Ms, 25);
  assert.ok(Math.abs((summary.writeLatency.meanMs ?? 0) - 7.1) < 1e-9);
});

Deno.test("StatsRegistry.summaryOf() answers zeros for an image without I/O and registers nothing", () => {
  const registry = new StatsRegistry();
  assert.equal(registry.summaryOf("vm1").readOps, 0);
  assert.deepEqual(registry.entries(), []);
});

Deno.test("checkStatsSummary() accepts a summary and names the first bad field", () => {
  const good = new ImageStats().summary();
  assert.deepEqual(checkStatsSummary({ ...good }), good);
  for (
    const [bad, field] of [
      [{ ...good, readOps: -1 }, "readOps"],
      [{ ...good, errors: "3" }, "errors"],
      [
        { ...good, flushLatency: { count: 1, meanMs: "x", p50Ms: null, p99Ms: null } },
        "flushLatency",
      ],
      [{ ...good, writeLatency: null }, "writeLatency"],
    ] as const
  ) {
    assert.throws(
      () => checkStatsSummary(bad),
      (error: unknown) =>
        error instanceof UkaiError && error.code === "PROTOCOL" &&
        error.message.includes(`"${field}"`),
    );
  }
});

Deno.test("LatencyHistogram.merge() adds buckets counted elsewhere (FUSE lanes) like observations", () => {
  const observed = new LatencyHistogram();
  const merged = new LatencyHistogram();
  const lane = new Array<number>(LATENCY_BUCKETS_SECONDS.length + 1).fill(0);
  for (const seconds of [0.00003, 0.0002, 0.0002, 0.004, 30]) {
    observed.observe(seconds);
    lane[latencyBucketOf(seconds)]!++;
  }
  merged.observe(0.0002);
  merged.merge(lane, 0.00003 + 0.0002 + 0.0002 + 0.004 + 30);
  observed.observe(0.0002);
  assert.deepEqual(merged.counts, observed.counts);
  assert.equal(merged.count, 6);
  assert.ok(Math.abs(merged.sumSeconds - observed.sumSeconds) < 1e-9);
  assert.deepEqual(merged.summary(), observed.summary());
  assert.equal(latencyBucketOf(30), LATENCY_BUCKETS_SECONDS.length, "past the last bound: +Inf");
});
