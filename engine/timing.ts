/**
 * Records what every I/O operation costs: latency into the image's
 * histograms (which `/metrics` reads at scrape time), errors into its counters, and where
 * reads were served from. Wraps both the asynchronous path and the
 * synchronous hot path so they are measured the same way.
 *
 * @module
 */

import type { Clock } from "../base/clock.ts";
import { LATENCY_FIELDS, type StatsRegistry, type TimedOperation } from "./stats.ts";

/** Measures operations for one node. */
export class OperationTimer {
  constructor(
    readonly nodeId: string,
    readonly stats: StatsRegistry,
    readonly clock: Clock,
  ) {}

  /** Records the latency of an operation that started at `started` (monotonic ms). */
  observe(name: string, operation: TimedOperation, started: number): void {
    const seconds = (this.clock.monotonicMs() - started) / 1000;
    this.stats.image(name)[LATENCY_FIELDS[operation]].observe(seconds);
  }

  /** Runs asynchronous `work`, recording its latency and failure. */
  async timed<T>(name: string, operation: TimedOperation, work: () => Promise<T>): Promise<T> {
    const started = this.clock.monotonicMs();
    try {
      return await work();
    } catch (error) {
      this.stats.image(name).errors++;
      throw error;
    } finally {
      this.observe(name, operation, started);
    }
  }

  /**
   * Runs a synchronous hot-path attempt: true when it did the whole
   * operation (recorded like any other), false when the caller must take the
   * asynchronous path.
   */
  now(name: string, operation: TimedOperation, attempt: () => boolean): boolean {
    const started = this.clock.monotonicMs();
    try {
      if (!attempt()) return false;
    } catch (error) {
      this.stats.image(name).errors++;
      this.observe(name, operation, started);
      throw error;
    }
    this.observe(name, operation, started);
    return true;
  }

  /** Counts `bytes` of `name` read from `node`'s copy. */
  countRead(name: string, node: string, bytes: number): void {
    const stats = this.stats.image(name);
    if (node === this.nodeId) stats.localReadBytes += bytes;
    else stats.remoteReadBytes += bytes;
  }
}
