/**
 * I/O statistics per image on this node: operations and bytes read and
 * written, reads served by the local copy versus remote ones, resync bytes,
 * errors, and latency histograms with fixed bucket bounds (the shape
 * Prometheus expects). Counters only grow; the control API and `/metrics`
 * read them, and peers ask for a node's summary (`ukai image stats`).
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";

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

/** The bucket of a latency of `seconds`: the first bound it does not exceed, else the last (+Inf). */
export function latencyBucketOf(seconds: number): number {
  let bucket = 0;
  for (const bound of LATENCY_BUCKETS_SECONDS) {
    if (seconds <= bound) break;
    bucket++;
  }
  return bucket;
}

/** A latency histogram: per-bucket counts (not cumulative), sum and count. */
export class LatencyHistogram {
  readonly counts = new Array<number>(LATENCY_BUCKETS_SECONDS.length + 1).fill(0);
  sumSeconds = 0;
  count = 0;

  /** Records one observation. */
  observe(seconds: number): void {
    const bucket = latencyBucketOf(seconds);
    this.counts[bucket] = (this.counts[bucket] ?? 0) + 1;
    this.sumSeconds += seconds;
    this.count++;
  }

  /** Adds observations made elsewhere: per-bucket `counts` (as {@link counts}) and their sum. */
  merge(counts: readonly number[], sumSeconds: number): void {
    for (const [bucket, count] of counts.entries()) {
      this.counts[bucket] = (this.counts[bucket] ?? 0) + count;
      this.count += count;
    }
    this.sumSeconds += sumSeconds;
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

  /** Count, mean and p50/p99 bounds in ms (null when empty or past the last bound). */
  summary(): LatencySummary {
    const ms = (seconds: number | null) =>
      seconds === null || !Number.isFinite(seconds) ? null : seconds * 1000;
    return {
      count: this.count,
      meanMs: this.count === 0 ? null : (this.sumSeconds / this.count) * 1000,
      p50Ms: ms(this.quantileSeconds(0.5)),
      p99Ms: ms(this.quantileSeconds(0.99)),
    };
  }
}

/** A latency histogram summed up for people and scripts. */
export interface LatencySummary {
  readonly count: number;
  readonly meanMs: number | null;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

/** The counters of {@link ImageStats}, in the order they are shown. */
export const IMAGE_COUNTER_NAMES = [
  "readOps",
  "readBytes",
  "writeOps",
  "writeBytes",
  "discardOps",
  "flushOps",
  "localReadBytes",
  "remoteReadBytes",
  "forwardedReadOps",
  "resyncBytes",
  "resyncBlocks",
  "errors",
] as const;

/** The name of a counter. */
export type ImageCounterName = (typeof IMAGE_COUNTER_NAMES)[number];

/** The kinds of operation whose latency is recorded. */
export type TimedOperation = "read" | "write" | "flush";

/** The latency histograms of {@link ImageStats}. */
type LatencyField = "readLatency" | "writeLatency" | "flushLatency";

/** The histogram of {@link ImageStats} that records each kind of operation. */
export const LATENCY_FIELDS: Readonly<Record<TimedOperation, LatencyField>> = {
  read: "readLatency",
  write: "writeLatency",
  flush: "flushLatency",
};

const TIMED_HISTOGRAMS = Object.values(LATENCY_FIELDS);

/** An image's statistics on one node as plain JSON: counters and latency summaries. */
export type ImageStatsSummary =
  & Record<ImageCounterName, number>
  & Record<LatencyField, LatencySummary>;

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

  /** The counters and latency summaries as plain JSON. */
  summary(): ImageStatsSummary {
    const counters = Object.fromEntries(IMAGE_COUNTER_NAMES.map((name) => [name, this[name]]));
    const latencies = Object.fromEntries(
      TIMED_HISTOGRAMS.map((name) => [name, this[name].summary()]),
    );
    return { ...counters, ...latencies } as ImageStatsSummary;
  }
}

/**
 * Checks a summary that arrived from a peer.
 *
 * @throws {UkaiError} PROTOCOL naming the first field that is not as expected
 */
export function checkStatsSummary(value: Readonly<Record<string, unknown>>): ImageStatsSummary {
  const isCount = (field: unknown) =>
    typeof field === "number" && Number.isSafeInteger(field) && field >= 0;
  const isBound = (field: unknown) =>
    field === null || (typeof field === "number" && Number.isFinite(field) && field >= 0);
  for (const name of IMAGE_COUNTER_NAMES) {
    if (!isCount(value[name])) {
      throw new UkaiError("PROTOCOL", `Stats field "${name}" is not a count`);
    }
  }
  for (const name of TIMED_HISTOGRAMS) {
    const latency = value[name] as Record<string, unknown> | null | undefined;
    const valid = typeof latency === "object" && latency !== null && isCount(latency.count) &&
      isBound(latency.meanMs) && isBound(latency.p50Ms) && isBound(latency.p99Ms);
    if (!valid) throw new UkaiError("PROTOCOL", `Stats field "${name}" is not a latency summary`);
  }
  return value as unknown as ImageStatsSummary;
}

/** Statistics of every image this node did I/O for. */
export class StatsRegistry {
  readonly #images = new Map<string, ImageStats>();
  /** Brings in counts kept elsewhere (FUSE lanes) before they are read. */
  collect: () => void = () => {};

  /** The counters of `name`, created on first use. */
  image(name: string): ImageStats {
    let stats = this.#images.get(name);
    if (stats === undefined) {
      stats = new ImageStats();
      this.#images.set(name, stats);
    }
    return stats;
  }

  /** The summary of `name`'s counters (all zero when it had no I/O here). */
  summaryOf(name: string): ImageStatsSummary {
    this.collect();
    return (this.#images.get(name) ?? new ImageStats()).summary();
  }

  /** Every image's counters, sorted by name. */
  entries(): [string, ImageStats][] {
    this.collect();
    return [...this.#images].sort(([a], [b]) => a.localeCompare(b));
  }

  /** Forgets a removed image. */
  forget(name: string): void {
    this.#images.delete(name);
  }
}
