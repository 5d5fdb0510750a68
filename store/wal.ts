/**
 * A generic write-ahead log: an append-only sequence of typed records in a
 * folder of segment files (`%016x.wal`, rolled over at a size limit), each
 * record framed with its length and a CRC-32 (`_wal_format.ts`). The Raft node
 * keeps its entries and hard state here.
 *
 * Appends write synchronously (one pwrite per batch, in call order) and are
 * made durable by one fdatasync per *group*: appends that arrive while an
 * fdatasync runs are covered together by the next one, and each promise
 * resolves only once its own records are durable.
 *
 * Appends land in zeroed space written ahead of them, so that their
 * fdatasync changes no file system metadata (`_wal_segments.ts` says why).
 *
 * A new segment is written under a temporary name (`%016x.wal.tmp`) and gets
 * its real name only when it and every segment before it are fdatasynced, so
 * after a crash only the last named segment can have a torn tail, and a
 * temporary segment never held an acknowledged record (it is deleted on open).
 * Recovery rules: see `_wal_replay.ts`.
 *
 * @module
 */

import { MESSAGE_SIZE_MAX } from "../constants.ts";
import { assert } from "../base/assert.ts";
import { UkaiError } from "../base/errors.ts";
import { type Logger, silentLogger } from "../base/log.ts";
import { closeFile, fdatasync, ftruncate, pwrite } from "../ffi/libc.ts";
import { folderOf, fsyncDirectory, isNotFound, storeError } from "./_fs.ts";
import { encodeRecords, framedBytes, SEGMENT_HEADER_BYTES, type WalRecord } from "./_wal_format.ts";
import {
  type ReplayedRecord,
  replayLog,
  segmentFileName,
  type TruncatedTail,
} from "./_wal_replay.ts";
import {
  createFirstSegment,
  createSegmentFile,
  cutZeroedSpace,
  reopenLastSegment,
  type Segment,
  segmentOf,
  writeZeroedSpace,
} from "./_wal_segments.ts";

export type { ReplayedRecord, TruncatedTail, WalRecord };

/** Default segment size at which the log rolls over to a new segment. */
export const SEGMENT_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

/** How a log is opened. */
export interface WalOptions {
  /** A batch that would grow the current segment past this starts a new one. */
  segmentBytesMax?: number;
  /** Largest payload of one record (default: the transport's message limit). */
  recordBytesMax?: number;
  logger?: Logger;
  /** Replaces fdatasync(2) (tests count or delay syncs with it). */
  syncFile?: (fd: number) => Promise<void>;
}

/** The end of the log: where the next record will be written. */
export interface WalPosition {
  segmentId: number;
  byteOffset: number;
}

/** Counters since open. */
export interface WalStats {
  /** Calls of `append` that wrote records. */
  appendCount: number;
  recordCount: number;
  bytesAppended: number;
  /** Group commits: rounds of fdatasync that covered one or more appends. */
  syncCount: number;
}

/** What `Wal.open` returns: the log, ready for appends, and what it held. */
export interface WalOpenResult {
  wal: Wal;
  /** Every valid record, oldest first. */
  records: ReplayedRecord[];
  /** The torn tail cut off the last segment, if there was one. */
  truncatedTail: TruncatedTail | null;
}

interface SyncWaiter {
  sequence: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** An open write-ahead log. */
export class Wal {
  readonly folder: string;
  readonly #segmentBytesMax: number;
  readonly #recordBytesMax: number;
  readonly #logger: Logger;
  readonly #syncFile: (fd: number) => Promise<void>;
  #current: Segment;
  /** Earlier segments still open: written, not yet fully synced, named and closed. */
  #older: Segment[] = [];
  #firstSegmentId: number;
  /** Counts changes that need an fsync (appends, new segments). */
  #writeSequence = 0;
  /** Every change up to this sequence number is durable. */
  #durableSequence = 0;
  /** Appends waiting for durability, in sequence order. */
  #waiters: SyncWaiter[] = [];
  #syncing = false;
  #syncLoop: Promise<void> = Promise.resolve();
  /** Set when an fdatasync or a rollback failed: the log refuses further use. */
  #failure: UkaiError | null = null;
  #closed = false;
  readonly #stats: WalStats = { appendCount: 0, recordCount: 0, bytesAppended: 0, syncCount: 0 };

  private constructor(
    folder: string,
    options: Required<WalOptions>,
    current: Segment,
    firstSegmentId: number,
  ) {
    this.folder = folder;
    this.#segmentBytesMax = options.segmentBytesMax;
    this.#recordBytesMax = options.recordBytesMax;
    this.#logger = options.logger;
    this.#syncFile = options.syncFile;
    this.#current = current;
    this.#firstSegmentId = firstSegmentId;
  }

  /**
   * Opens (or creates) the log in `folder`: replays every segment, cuts off a
   * torn tail of the last one (reported in the result and the log), deletes
   * leftover temporary segments, and returns the log ready for appends.
   *
   * @throws {UkaiError} CHECKSUM_MISMATCH when the log is corrupt (the message
   * names the file and the offset), NO_SPACE, IO
   * @example
   * ```ts
   * import { Wal } from "./wal.ts";
   * const folder = await Deno.makeTempDir();
   * const { wal } = await Wal.open(folder);
   * await wal.append([{ type: 1, payload: new Uint8Array([42]) }], { sync: true });
   * await wal.close();
   * const { wal: again, records } = await Wal.open(folder);
   * if (records.length !== 1) throw new Error("lost a record");
   * await again.close();
   * await Deno.remove(folder, { recursive: true });
   * ```
   */
  static async open(folder: string, options: WalOptions = {}): Promise<WalOpenResult> {
    const settings = {
      segmentBytesMax: options.segmentBytesMax ?? SEGMENT_BYTES_MAX_DEFAULT,
      recordBytesMax: options.recordBytesMax ?? MESSAGE_SIZE_MAX,
      logger: options.logger ?? silentLogger,
      syncFile: options.syncFile ?? fdatasync,
    };
    assert(settings.segmentBytesMax > SEGMENT_HEADER_BYTES, "segmentBytesMax is too small");
    assert(settings.recordBytesMax >= 0 && settings.recordBytesMax < 2 ** 32);
    try {
      await Deno.mkdir(folder, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw storeError(error, `Cannot create ${folder}`);
    }
    await fsyncDirectory(folderOf(folder));
    const replay = await replayLog(folder, settings.recordBytesMax);
    for (const path of replay.temporaryPaths) {
      settings.logger.info("removing a temporary log segment left by a crash", { path });
      try {
        Deno.removeSync(path);
      } catch (error) {
        throw storeError(error, `Cannot remove ${path}`);
      }
    }
    const lastId = replay.segmentIds.at(-1);
    let current: Segment;
    if (lastId === undefined) {
      current = await createFirstSegment(folder, settings.syncFile);
    } else {
      current = await reopenLastSegment(folder, lastId, replay.lastSegmentBytes, settings.syncFile);
      if (replay.truncatedTail !== null) {
        const { path, byteOffset, bytesRemoved, reason } = replay.truncatedTail;
        settings.logger.warn("cut a torn tail off the write-ahead log", {
          path,
          byteOffset,
          bytesRemoved,
          reason,
        });
      }
    }
    if (replay.temporaryPaths.length > 0) await fsyncDirectory(folder);
    const wal = new Wal(folder, settings, current, replay.segmentIds[0] ?? current.id);
    return { wal, records: replay.records, truncatedTail: replay.truncatedTail };
  }

  /**
   * Appends `records` as one write, in call order. With `sync`, resolves only
   * once these records (and everything before them) are durable; concurrent
   * synced appends share one fdatasync. Without `sync`, resolves at once (the
   * records become durable with the next synced append, `sync()` or `close()`).
   *
   * @throws {UkaiError} INVALID_ARGUMENT for a bad type (1-255) or an oversized
   * payload, NO_SPACE (nothing of the batch stays in the log), IO (the log is
   * then unusable: close it and open it again)
   */
  async append(records: readonly WalRecord[], options: { sync?: boolean } = {}): Promise<void> {
    this.#checkUsable();
    if (records.length > 0) {
      this.#checkRecords(records);
      const byteLength = framedBytes(records);
      const current = this.#current;
      if (
        current.size > SEGMENT_HEADER_BYTES && current.size + byteLength > this.#segmentBytesMax
      ) {
        this.#startSegment();
      }
      const buffer = new Uint8Array(byteLength);
      encodeRecords(records, buffer, 0);
      this.#write(buffer);
      this.#writeSequence += 1;
      this.#stats.appendCount += 1;
      this.#stats.recordCount += records.length;
      this.#stats.bytesAppended += byteLength;
    }
    if (options.sync === true) await this.#waitDurable(this.#writeSequence);
  }

  /**
   * Resolves once everything appended before the call is durable.
   *
   * @throws {UkaiError} IO when an fdatasync fails
   */
  async sync(): Promise<void> {
    this.#checkUsable();
    await this.#waitDurable(this.#writeSequence);
  }

  /**
   * Starts a new segment now (later appends go there) and returns its id.
   * Segments before it can be removed with {@link removeSegmentsBefore} once a
   * snapshot covers their records.
   *
   * @throws {UkaiError} NO_SPACE, IO
   */
  rollover(): number {
    this.#checkUsable();
    return this.#startSegment();
  }

  /**
   * Deletes every segment whose id is below `segmentId` (after making the log
   * durable up to now), durably.
   *
   * @returns how many segment files were deleted
   * @throws {UkaiError} INVALID_ARGUMENT when `segmentId` is beyond the current segment, IO
   */
  async removeSegmentsBefore(segmentId: number): Promise<number> {
    this.#checkUsable();
    if (!Number.isSafeInteger(segmentId) || segmentId > this.#current.id) {
      throw new UkaiError(
        "INVALID_ARGUMENT",
        `Cannot remove log segments before ${segmentId}: the current segment is ${this.#current.id}`,
      );
    }
    await this.sync();
    assert(this.#older.every((segment) => segment.id >= segmentId), "removing an open segment");
    let removed = 0;
    for (let id = this.#firstSegmentId; id < segmentId; id++) {
      const path = `${this.folder}/${segmentFileName(id)}`;
      try {
        await Deno.remove(path);
        removed += 1;
      } catch (error) {
        if (!isNotFound(error)) throw storeError(error, `Cannot remove ${path}`);
      }
    }
    this.#firstSegmentId = Math.max(this.#firstSegmentId, segmentId);
    if (removed > 0) await fsyncDirectory(this.folder);
    return removed;
  }

  /** The end of the log: the current segment and its length. */
  position(): WalPosition {
    return { segmentId: this.#current.id, byteOffset: this.#current.size };
  }

  /** Counters since open (a copy). */
  stats(): WalStats {
    return { ...this.#stats };
  }

  /**
   * Makes everything durable and closes the files. If the log had failed,
   * only closes them.
   *
   * @throws {UkaiError} IO when the final fdatasync fails
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    let failure: unknown = null;
    if (this.#failure === null) {
      try {
        // A cleanly closed log ends at its last record.
        if (cutZeroedSpace(this.#current)) this.#writeSequence += 1;
        await this.sync();
      } catch (error) {
        failure = error;
      }
    }
    this.#closed = true;
    await this.#syncLoop;
    for (const segment of [...this.#older, this.#current]) closeFile(segment.fd);
    this.#older = [];
    if (failure !== null) throw failure;
  }

  // ---- internals ----

  #checkUsable(): void {
    assert(!this.#closed, "write-ahead log used after close");
    if (this.#failure !== null) throw this.#failure;
  }

  #checkRecords(records: readonly WalRecord[]): void {
    for (const { type, payload } of records) {
      if (!Number.isInteger(type) || type < 1 || type > 255) {
        throw new UkaiError("INVALID_ARGUMENT", `Log record type ${type} is not in 1-255`);
      }
      if (payload.length > this.#recordBytesMax) {
        throw new UkaiError(
          "INVALID_ARGUMENT",
          `Log record of ${payload.length} bytes exceeds the limit of ${this.#recordBytesMax}`,
        );
      }
    }
  }

  /** Writes at the end of the current segment; on failure takes a partial write back. */
  #write(buffer: Uint8Array<ArrayBuffer>): void {
    const segment = this.#current;
    const offset = segment.size;
    writeZeroedSpace(segment, offset + buffer.length, this.#segmentBytesMax);
    try {
      pwrite(segment.fd, buffer, offset);
    } catch (error) {
      try {
        ftruncate(segment.fd, offset);
        segment.fileBytes = offset;
        segment.cut = true;
      } catch (truncateError) {
        this.#failure = storeError(
          truncateError,
          `Cannot take back a failed append to ${this.#segmentPath(segment)}`,
        );
      }
      throw storeError(error, `Cannot append to ${this.#segmentPath(segment)}`);
    }
    segment.size += buffer.length;
    segment.fileBytes = Math.max(segment.fileBytes, segment.size);
  }

  #startSegment(): number {
    // Only the last segment may end in zeros: cut this one to its records
    // before the next one can be named (the same sync round makes it durable).
    try {
      cutZeroedSpace(this.#current);
    } catch (error) {
      throw storeError(
        error,
        `Cannot cut the zeroed space off ${this.#segmentPath(this.#current)}`,
      );
    }
    const id = this.#current.id + 1;
    const fd = createSegmentFile(this.folder, id);
    this.#older.push(this.#current);
    this.#current = segmentOf(id, fd, SEGMENT_HEADER_BYTES, false);
    // The new segment must be synced and named before anything after it is durable.
    this.#writeSequence += 1;
    return id;
  }

  #segmentPath(segment: Segment): string {
    const name = segmentFileName(segment.id);
    return `${this.folder}/${segment.named ? name : `${name}.tmp`}`;
  }

  #waitDurable(sequence: number): Promise<void> {
    if (sequence <= this.#durableSequence) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiters.push({ sequence, resolve, reject });
      if (!this.#syncing) this.#syncLoop = this.#runSyncLoop();
    });
  }

  /** Syncs in rounds while anyone waits; never rejects (failures go to the waiters). */
  async #runSyncLoop(): Promise<void> {
    this.#syncing = true;
    try {
      while (this.#waiters.length > 0) {
        const target = this.#writeSequence;
        await this.#syncRound();
        this.#durableSequence = target;
        const done = this.#waiters.findIndex((waiter) => waiter.sequence > target);
        const resolved = this.#waiters.splice(0, done === -1 ? this.#waiters.length : done);
        for (const waiter of resolved) waiter.resolve();
      }
    } catch (error) {
      this.#failure = new UkaiError(
        "IO",
        `Cannot sync the write-ahead log in ${this.folder}: appends since the last successful ` +
          `sync may be lost; close the log and open it again (${String(error)})`,
        { cause: error },
      );
      this.#logger.error("write-ahead log sync failed", { folder: this.folder });
      const failed = this.#waiters.splice(0);
      for (const waiter of failed) waiter.reject(this.#failure);
    } finally {
      this.#syncing = false;
    }
  }

  /** One group commit: fdatasync every segment with unsynced bytes, then name new segments. */
  async #syncRound(): Promise<void> {
    const segments = [...this.#older, this.#current];
    const sizes = segments.map((segment) => segment.size);
    const unsynced = segments.filter((segment, index) =>
      (sizes[index] ?? 0) > segment.syncedSize || !segment.named || segment.cut
    );
    const cut = unsynced.filter((segment) => segment.cut);
    if (unsynced.length > 0) {
      await Promise.all(unsynced.map((segment) => this.#syncFile(segment.fd)));
      this.#stats.syncCount += 1;
    }
    segments.forEach((segment, index) => {
      segment.syncedSize = Math.max(segment.syncedSize, sizes[index] ?? 0);
    });
    for (const segment of cut) segment.cut = false;
    // Every segment here is complete up to `sizes` and synced, so each may now take its name.
    let renamed = false;
    for (const segment of segments) {
      if (segment.named) continue;
      const path = `${this.folder}/${segmentFileName(segment.id)}`;
      Deno.renameSync(`${path}.tmp`, path);
      segment.named = true;
      renamed = true;
    }
    if (renamed) await fsyncDirectory(this.folder);
    this.#older = this.#older.filter((segment) => {
      if (!segment.named || segment.syncedSize < segment.size || segment.cut) return true;
      closeFile(segment.fd);
      return false;
    });
  }
}
