/**
 * The per-image latency histogram of `/metrics`, written at scrape time from
 * the engine's own histograms: the I/O path records each operation once
 * (engine/timing.ts), and prom-client cannot export buckets kept elsewhere, so
 * this one family is rendered here in the Prometheus text format.
 *
 * @module
 */

import { type ImageStats, LATENCY_BUCKETS_SECONDS, LATENCY_FIELDS } from "../engine/stats.ts";

/** The histogram's family name. */
export const LATENCY_METRIC = "ukai_image_operation_duration_seconds";
const HELP = "Duration of reads, writes and flushes as the hypervisor sees them";

/** A label value escaped for the text format (backslash, quote, newline). */
function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/**
 * The histogram family for `images` (name and statistics): cumulative
 * buckets, sum and count per image and operation, for every operation that
 * happened at least once.
 */
export function latencyExposition(images: Iterable<[string, ImageStats]>): string {
  const lines = [`# HELP ${LATENCY_METRIC} ${HELP}`, `# TYPE ${LATENCY_METRIC} histogram`];
  for (const [image, stats] of images) {
    for (const [operation, field] of Object.entries(LATENCY_FIELDS)) {
      const histogram = stats[field];
      if (histogram.count === 0) continue;
      const labels = `image="${escapeLabelValue(image)}",operation="${operation}"`;
      histogram.cumulative().forEach((count, bucket) => {
        const bound = LATENCY_BUCKETS_SECONDS[bucket];
        const le = bound === undefined ? "+Inf" : String(bound);
        lines.push(`${LATENCY_METRIC}_bucket{${labels},le="${le}"} ${count}`);
      });
      lines.push(`${LATENCY_METRIC}_sum{${labels}} ${histogram.sumSeconds}`);
      lines.push(`${LATENCY_METRIC}_count{${labels}} ${histogram.count}`);
    }
  }
  return lines.join("\n") + "\n";
}
