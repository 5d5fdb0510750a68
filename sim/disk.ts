/**
 * A node's simulated disk: an append-only WAL file (records from `wal.ts`)
 * with a clear line between what was written and what was fsynced.
 *
 * - `write(record)` appends bytes that are *not* durable yet.
 * - `fsync()` makes everything written so far durable.
 * - `crash(rng)` keeps the durable prefix; with `tornWriteProbability` a
 *   random byte prefix of the unsynced tail survives too (whole records and
 *   possibly half of one, as a real disk may persist part of a write).
 * - `recover()` replays the file, truncating a torn or corrupt tail, and
 *   returns the {@link LogState} a restarting node starts from.
 * - `rewrite(record)` replaces the whole file atomically and durably (write a
 *   new file, fsync, rename): log compaction.
 *
 * `durable()` is the replay of the fsynced prefix, kept up to date
 * incrementally; the durability checker compares every sent message with it.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Rng } from "../base/rng.ts";
import { decodeWalRecords, encodeWalRecord, LogState, type WalRecord } from "./wal.ts";

/** Most records before the node must compact the file (bounded memory per disk). */
export const DISK_RECORDS_MAX = 4_096;

interface StoredRecord {
  bytes: Uint8Array;
  /** The decoded record (undefined for a torn tail, which holds only bytes). */
  record: WalRecord | undefined;
}

/** What a crash left on the disk. */
export interface CrashOutcome {
  unsyncedRecordsLost: number;
  unsyncedRecordsKept: number;
  tornBytes: number;
}

/**
 * One node's disk.
 *
 * @example
 * ```ts
 * import { Rng } from "../base/rng.ts";
 * import { SimDisk } from "./disk.ts";
 * const disk = new SimDisk();
 * disk.write({ hardState: { term: 2, vote: "a", commit: 0 }, entries: [] });
 * disk.crash(new Rng(1), 0);
 * if (disk.recover().hardState.term !== 0) throw new Error("an unsynced write survived");
 * ```
 */
export class SimDisk {
  #records: StoredRecord[] = [];
  #durableCount = 0;
  #durable = new LogState();

  /** Records in the file (durable or not). */
  get recordCount(): number {
    return this.#records.length;
  }

  /** Records written but not yet fsynced. */
  get unsyncedCount(): number {
    return this.#records.length - this.#durableCount;
  }

  /** The log as it would be recovered from the fsynced prefix alone. Do not mutate. */
  durable(): LogState {
    return this.#durable;
  }

  /** Appends a record; it is not durable until the next `fsync()`. */
  write(record: WalRecord): void {
    assert(this.#records.length < DISK_RECORDS_MAX, "disk: too many records; compact first");
    this.#records.push({ bytes: encodeWalRecord(record), record });
  }

  /** Makes every record written so far durable. */
  fsync(): void {
    for (let i = this.#durableCount; i < this.#records.length; i++) {
      const stored = this.#records[i]!;
      assert(stored.record !== undefined, "disk: fsync over a torn record");
      this.#durable.apply(stored.record);
    }
    this.#durableCount = this.#records.length;
  }

  /**
   * Power loss: everything not fsynced is lost, except that with
   * `tornWriteProbability` a random byte prefix of the unsynced tail stays.
   */
  crash(rng: Rng, tornWriteProbability: number): CrashOutcome {
    const unsynced = this.#records.slice(this.#durableCount);
    this.#records = this.#records.slice(0, this.#durableCount);
    const outcome = { unsyncedRecordsLost: unsynced.length, unsyncedRecordsKept: 0, tornBytes: 0 };
    if (unsynced.length === 0 || !rng.chance(tornWriteProbability)) return outcome;
    let budget = rng.between(0, totalBytes(unsynced));
    for (const stored of unsynced) {
      if (budget <= 0) break;
      if (budget >= stored.bytes.length) {
        this.#records.push(stored);
        outcome.unsyncedRecordsKept++;
        budget -= stored.bytes.length;
      } else {
        this.#records.push({ bytes: stored.bytes.slice(0, budget), record: undefined });
        outcome.tornBytes = budget;
        budget = 0;
      }
    }
    outcome.unsyncedRecordsLost = unsynced.length - outcome.unsyncedRecordsKept;
    return outcome;
  }

  /**
   * Replays the file from its bytes, truncates a torn or corrupt tail, and
   * returns the recovered log (all of which is now durable).
   */
  recover(): LogState {
    const bytes = new Uint8Array(totalBytes(this.#records));
    let offset = 0;
    for (const stored of this.#records) {
      bytes.set(stored.bytes, offset);
      offset += stored.bytes.length;
    }
    const { records, validBytes } = decodeWalRecords(bytes);
    const tornTail = bytes.length - validBytes;
    assert(tornTail === 0 || this.#records.at(-1)?.record === undefined, "disk: corrupt record");
    this.#records = records.map((record) => ({ bytes: encodeWalRecord(record), record }));
    this.#durableCount = this.#records.length;
    this.#durable = new LogState();
    for (const record of records) this.#durable.apply(record);
    return this.#durable.clone();
  }

  /** Replaces the whole file with `record`, atomically and durably (compaction). */
  rewrite(record: WalRecord): void {
    this.#records = [{ bytes: encodeWalRecord(record), record }];
    this.#durableCount = 1;
    this.#durable = new LogState();
    this.#durable.apply(record);
  }
}

function totalBytes(records: readonly StoredRecord[]): number {
  let total = 0;
  for (const stored of records) total += stored.bytes.length;
  return total;
}
