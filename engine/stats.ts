/**
 * I/O statistics per image on this node: operations and bytes read and
 * written, reads served by the local copy versus remote ones, resync bytes,
 * errors, and latency histograms with fixed bucket bounds (the shape
 * Prometheus expects). Counters only grow; the control API and `/metrics`
 * read them.
 *
 * @module
 */

/** Upper bounds of the latency buckets, in seconds (the last bucket is +Inf). */
export const LATENCY_BUCKETS_SECONDS = [
  0.00005,
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
] as const;

/** A latency histogram: per-bucket counts (not cumulative), sum and count. */
export class LatencyHistogram {
  readonly counts = new Array<number>(LATENCY_BUCKETS_SECONDS.length + 1).fill(0);
  sumSeconds = 0;
  count = 0;

  /** Records one observation. */
  observe(seconds: number): void {
    let bucket = LATENCY_BUCKETS_SECONDS.findIndex((bound) => seconds <= bound);
    if (bucket === -1) bucket = LATENCY_BUCKETS_SECONDS.length;
    this.counts[bucket] = (this.counts[bucket] ?? 0) + 1;
    this.sumSeconds += seconds;
    this.count++;
  }

  /** Cumulative counts per bound, the last one for +Inf. */
  cumulative(): number[] {
    let running = 0;
    return this.counts.map((count) => (running += count));
  }

  /** The bound below which `quantile` of the observations fall (bucket precision). */
  quantileSeconds(quantile: number): number | null {
    if (this.count === 0) return null;
    const wanted = quantile * this.count;
    const cumulative = this.cumulative();
    const bucket = cumulative.findIndex((count) => count >= wanted);
    return LATENCY_BUCKETS_SECONDS[bucket] ?? Infinity;
  }
}

/** Counters of one image on this node. */
export class ImageStats {
  readOps = 0;
  readBytes = 0;
  writeOps = 0;
  writeBytes = 0;
  discardOps = 0;
  flushOps = 0;
  localReadBytes = 0;
  remoteReadBytes = 0;
  forwardedReadOps = 0;
  resyncBytes = 0;
  resyncBlocks = 0;
  errors = 0;
  readonly readLatency = new LatencyHistogram();
  readonly writeLatency = new LatencyHistogram();
  readonly flushLatency = new LatencyHistogram();
}

/** The kinds of operation whose latency is recorded. */
export type TimedOperation = "read" | "write" | "flush";

/** Statistics of every image this node did I/O for. */
export class StatsRegistry {
  readonly #images = new Map<string, ImageStats>();

  /** The counters of `name`, created on first use. */
  image(name: string): ImageStats {
    let stats = this.#images.get(name);
    if (stats === undefined) {
      stats = new ImageStats();
      this.#images.set(name, stats);
    }
    return stats;
  }

  /** Every image's counters, sorted by name. */
  entries(): [string, ImageStats][] {
    return [...this.#images].sort(([a], [b]) => a.localeCompare(b));
  }

  /** Forgets a removed image. */
  forget(name: string): void {
    this.#images.delete(name);
  }
}
