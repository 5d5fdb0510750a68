/**
 * JSON views of the engine's statistics for `ukai image stats` and `status`:
 * counters as they are, latency histograms as counts, sums and p50/p99
 * bounds (bucket precision).
 *
 * @module
 */

import type { ImageStats, LatencyHistogram } from "../engine/stats.ts";

function latency(histogram: LatencyHistogram) {
  const ms = (seconds: number | null) =>
    seconds === null ? null : Number.isFinite(seconds) ? seconds * 1000 : null;
  return {
    count: histogram.count,
    meanMs: histogram.count === 0 ? null : (histogram.sumSeconds / histogram.count) * 1000,
    p50Ms: ms(histogram.quantileSeconds(0.5)),
    p99Ms: ms(histogram.quantileSeconds(0.99)),
  };
}

/** The statistics of one image on this node. */
export function imageStatsView(name: string, stats: ImageStats) {
  return {
    image: name,
    readOps: stats.readOps,
    readBytes: stats.readBytes,
    writeOps: stats.writeOps,
    writeBytes: stats.writeBytes,
    discardOps: stats.discardOps,
    flushOps: stats.flushOps,
    localReadBytes: stats.localReadBytes,
    remoteReadBytes: stats.remoteReadBytes,
    forwardedReadOps: stats.forwardedReadOps,
    resyncBytes: stats.resyncBytes,
    resyncBlocks: stats.resyncBlocks,
    errors: stats.errors,
    readLatency: latency(stats.readLatency),
    writeLatency: latency(stats.writeLatency),
    flushLatency: latency(stats.flushLatency),
  };
}
