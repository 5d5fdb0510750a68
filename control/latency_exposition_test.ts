/**
 * Tests of the latency histogram family written from the engine's histograms.
 */

import assert from "node:assert/strict";
import { ImageStats, LATENCY_BUCKETS_SECONDS } from "../engine/stats.ts";
import { LATENCY_METRIC, latencyExposition } from "./latency_exposition.ts";

Deno.test("latencyExposition() writes cumulative buckets, sum and count per image and operation", () => {
  const stats = new ImageStats();
  // 0.0001 sits exactly on a bound and belongs to that bucket (le is "≤").
  for (const seconds of [0.0001, 0.0004, 0.0009, 0.02, 9]) stats.writeLatency.observe(seconds);
  stats.flushLatency.observe(0.003);
  const lines = latencyExposition([["vm1", stats]]).trimEnd().split("\n");

  assert.deepEqual(lines.slice(0, 2), [
    `# HELP ${LATENCY_METRIC} Duration of reads, writes and flushes as the hypervisor sees them`,
    `# TYPE ${LATENCY_METRIC} histogram`,
  ]);
  const write = (suffix: string, extra = "") =>
    lines.find((line) =>
      line.startsWith(`${LATENCY_METRIC}_${suffix}{image="vm1",operation="write"${extra}}`)
    )?.split(" ")[1];
  const expected: Record<string, string> = {
    "0.00005": "0",
    "0.0001": "1",
    "0.00025": "1",
    "0.0005": "2",
    "0.001": "3",
    "0.025": "4",
    "2.5": "4",
    "+Inf": "5",
  };
  for (const [le, count] of Object.entries(expected)) {
    assert.equal(write("bucket", `,le="${le}"`), count, `bucket le=${le}`);
  }
  assert.equal(
    lines.filter((line) => line.includes('operation="write",le=')).length,
    LATENCY_BUCKETS_SECONDS.length + 1,
  );
  assert.equal(Number(write("sum")), 0.0001 + 0.0004 + 0.0009 + 0.02 + 9);
  assert.equal(write("count"), "5");
  assert.ok(lines.includes(`${LATENCY_METRIC}_count{image="vm1",operation="flush"} 1`));
  assert.ok(!lines.some((line) => line.includes('operation="read"')), "no reads, no read series");
});

Deno.test("latencyExposition() escapes label values and writes only the header without I/O", () => {
  const stats = new ImageStats();
  stats.readLatency.observe(0.001);
  const text = latencyExposition([['a"b\\c\nd', stats]]);
  assert.ok(text.includes(`_count{image="a\\"b\\\\c\\nd",operation="read"} 1\n`), text);
  assert.equal(latencyExposition([["idle", new ImageStats()]]).split("\n").length, 3);
});
