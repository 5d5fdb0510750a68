/**
 * Durability bookkeeping for one file or folder: whether it has changes that
 * are not yet fsynced, and one fsync at a time.
 *
 * Callers mark changes with {@link SyncTracker.markDirty} and ask for
 * durability with {@link SyncTracker.request}, which answers for exactly the
 * changes marked before the call: it waits for the fsync in flight (which
 * covers changes made before it started) and, if there were changes after
 * that, for one more fsync queued behind it. Concurrent requests share those
 * two fsyncs. A failed fsync is reported to every request that waited for it;
 * if none did (a background sync), it is kept until the next flush takes it
 * with {@link SyncTracker.takeFailure}. The changes then stay dirty, so the
 * next request syncs again.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Limiter } from "./_limiter.ts";

const NO_ERROR: Promise<Error | null> = Promise.resolve(null);

/** What a tracker needs from its owner. */
export interface SyncTrackerOptions {
  /** The fsync itself (fdatasync of a file, fsync of a folder). */
  sync: () => Promise<void>;
  /** Bounds how many fsyncs run at once across the store. */
  limiter: Limiter;
  /** Called after every fsync, successful or not, and when a failure is taken. */
  settled: () => void;
}

/** Dirty flag plus serialised fsyncs for one file or folder. */
export class SyncTracker {
  readonly #options: SyncTrackerOptions;
  /** Changes were made since the running fsync started (or since the last one). */
  #dirty = false;
  /** The fsync in flight (waiting for a limiter slot or running). */
  #running: Promise<Error | null> | null = null;
  /** The fsync that starts when `#running` ends. Invariant: non-null only while dirty. */
  #queued: Promise<Error | null> | null = null;
  /** A failed fsync that no request waited for. */
  #unreportedFailure: Error | null = null;

  constructor(options: SyncTrackerOptions) {
    this.#options = options;
  }

  /** Whether changes were made that no fsync has started to cover. */
  get dirty(): boolean {
    return this.#dirty;
  }

  /** No fsync is running or queued. */
  get idle(): boolean {
    return this.#running === null && this.#queued === null;
  }

  /** Something is left to do or to report: dirty, an fsync in flight, or a failure. */
  get needsSync(): boolean {
    return this.#dirty || !this.idle || this.#unreportedFailure !== null;
  }

  /** Records a change that a later fsync must cover. */
  markDirty(): void {
    this.#dirty = true;
  }

  /**
   * Waits until every change marked before this call is durable. Resolves to
   * null on success or to the error of an fsync that should have covered them;
   * never rejects.
   */
  request(): Promise<Error | null> {
    const running = this.#running;
    if (!this.#dirty) return running ?? NO_ERROR;
    this.#queued ??= this.#startAfter(running);
    const queued = this.#queued;
    if (running === null) return queued;
    return Promise.all([running, queued]).then(([first, second]) => first ?? second);
  }

  /** Resolves once no fsync is running or queued. */
  async whenIdle(): Promise<void> {
    while (!this.idle) {
      await (this.#queued ?? this.#running);
    }
  }

  /** Returns and clears a failure that no request has seen yet. */
  takeFailure(): Error | null {
    const failure = this.#unreportedFailure;
    this.#unreportedFailure = null;
    if (failure !== null) this.#options.settled();
    return failure;
  }

  #startAfter(previous: Promise<Error | null> | null): Promise<Error | null> {
    const sync: Promise<Error | null> = (previous ?? NO_ERROR).then(() => this.#run(sync));
    return sync;
  }

  async #run(self: Promise<Error | null>): Promise<Error | null> {
    assert(this.#queued === self && this.#running === null, "fsyncs of one file overlap");
    this.#queued = null;
    this.#running = self;
    let failure: Error | null = null;
    try {
      await this.#options.limiter.run(() => {
        // Everything marked until the fsync starts is covered by it.
        this.#dirty = false;
        return this.#options.sync();
      });
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
      this.#dirty = true;
      this.#unreportedFailure = failure;
    }
    this.#running = null;
    this.#options.settled();
    return failure;
  }
}
