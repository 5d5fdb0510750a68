/**
 * The durable half of the Raft storage: hard state and entries in the
 * write-ahead log, snapshots in files, and the in-memory `MemoryStorage`
 * mirror that the Raft core reads. `save()` makes a Ready durable (fsync when
 * it must) and only then updates the mirror; `open()` rebuilds the mirror
 * from the newest snapshot file and the log after a restart or a crash.
 *
 * Log records: HARD_STATE, ENTRIES (a batch), SNAPSHOT (a marker: the log was
 * reset to the snapshot at that index — entries replayed before it are
 * dropped). Compaction writes a snapshot file, starts a new segment holding
 * the marker, the entries after the snapshot and the hard state, then deletes
 * the older segments and snapshot files.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { crc32 } from "../base/checksum.ts";
import { UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import {
  type ConfState,
  decodeEntry,
  decodeHardState,
  decodeSnapshot,
  encodeEntry,
  encodeHardState,
  encodeSnapshot,
  type Entry,
  type HardState,
  MemoryStorage,
  type Ready,
  type Snapshot,
} from "../raft/mod.ts";
import { Wal, type WalRecord, writeFileAtomic } from "../store/mod.ts";

const RecordType = { hardState: 1, entries: 2, snapshot: 3 } as const;
const SNAPSHOT_MAGIC = 0x554b534e; // "UKSN"
/** Snapshot files kept besides the newest, in case the newest is unreadable. */
const SNAPSHOT_FILES_KEPT = 2;

function encodeEntries(entries: readonly Entry[]): Uint8Array {
  const encoded = entries.map(encodeEntry);
  const out = new Uint8Array(encoded.reduce((sum, bytes) => sum + 4 + bytes.length, 0));
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const bytes of encoded) {
    view.setUint32(offset, bytes.length, true);
    out.set(bytes, offset + 4);
    offset += 4 + bytes.length;
  }
  return out;
}

function decodeEntries(payload: Uint8Array): Entry[] {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  const entries: Entry[] = [];
  let offset = 0;
  while (offset < payload.length) {
    const length = view.getUint32(offset, true);
    entries.push(decodeEntry(payload.subarray(offset + 4, offset + 4 + length)));
    offset += 4 + length;
  }
  return entries;
}

function encodeMarker(index: number, term: number): Uint8Array {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(index), true);
  view.setBigUint64(8, BigInt(term), true);
  return bytes;
}

function decodeMarker(payload: Uint8Array): { index: number; term: number } {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  return { index: Number(view.getBigUint64(0, true)), term: Number(view.getBigUint64(8, true)) };
}

function snapshotFileName(index: number): string {
  return `${index.toString(16).padStart(16, "0")}.snap`;
}

function encodeSnapshotFile(snapshot: Snapshot): Uint8Array {
  const body = encodeSnapshot(snapshot);
  const bytes = new Uint8Array(8 + body.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, SNAPSHOT_MAGIC, true);
  view.setUint32(4, crc32(body), true);
  bytes.set(body, 8);
  return bytes;
}

function decodeSnapshotFile(bytes: Uint8Array, path: string): Snapshot {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const body = bytes.subarray(8);
  if (bytes.length < 8 || view.getUint32(0, true) !== SNAPSHOT_MAGIC) {
    throw new UkaiError("CHECKSUM_MISMATCH", `${path} is not a ukai Raft snapshot`);
  }
  if (view.getUint32(4, true) !== crc32(body)) {
    throw new UkaiError("CHECKSUM_MISMATCH", `${path} is damaged (checksum mismatch)`);
  }
  return decodeSnapshot(body);
}

/** What `open` found. */
export interface OpenedRaftLog {
  readonly log: RaftLog;
  /** True when the folder held no Raft state at all (a new node). */
  readonly empty: boolean;
}

/** Durable Raft storage in a folder: `wal/` and `snapshots/`. */
export class RaftLog {
  readonly storage: MemoryStorage;
  readonly #wal: Wal;
  readonly #snapshotFolder: string;
  readonly #logger: Logger;

  private constructor(storage: MemoryStorage, wal: Wal, snapshotFolder: string, logger: Logger) {
    this.storage = storage;
    this.#wal = wal;
    this.#snapshotFolder = snapshotFolder;
    this.#logger = logger;
  }

  /** Opens (or creates) the Raft state in `folder` and rebuilds the mirror. */
  static async open(folder: string, logger: Logger): Promise<OpenedRaftLog> {
    const snapshotFolder = `${folder}/snapshots`;
    await Deno.mkdir(snapshotFolder, { recursive: true });
    const snapshot = await RaftLog.#newestSnapshot(snapshotFolder, logger);
    const opened = await Wal.open(`${folder}/wal`, { logger });
    if (opened.truncatedTail !== null) {
      logger.warn("torn tail of the Raft log cut off", { ...opened.truncatedTail });
    }
    let storage: MemoryStorage;
    try {
      storage = RaftLog.#replay(snapshot, opened.records, snapshotFolder);
    } catch (error) {
      await opened.wal.close();
      throw error;
    }
    const empty = snapshot === null && opened.records.length === 0;
    return { log: new RaftLog(storage, opened.wal, snapshotFolder, logger), empty };
  }

  static #replay(
    snapshot: Snapshot | null,
    records: readonly { type: number; payload: Uint8Array }[],
    snapshotFolder: string,
  ): MemoryStorage {
    let storage = new MemoryStorage();
    if (snapshot !== null) storage.applySnapshot(snapshot);
    for (const record of records) {
      if (record.type === RecordType.hardState) {
        storage.setHardState(decodeHardState(record.payload));
      } else if (record.type === RecordType.entries) {
        storage.append(decodeEntries(record.payload));
      } else if (record.type === RecordType.snapshot) {
        const marker = decodeMarker(record.payload);
        if (snapshot === null || marker.index > snapshot.metadata.index) {
          throw new UkaiError(
            "CHECKSUM_MISMATCH",
            `The Raft log refers to a snapshot at index ${marker.index} that is missing in ${snapshotFolder}`,
          );
        }
        if (marker.index === snapshot.metadata.index) {
          const hardState = storage.initialState().hardState;
          storage = new MemoryStorage();
          storage.applySnapshot(snapshot);
          storage.setHardState(hardState);
        }
      } else {
        throw new UkaiError("CHECKSUM_MISMATCH", `Unknown Raft log record type ${record.type}`);
      }
    }
    return storage;
  }

  static async #newestSnapshot(folder: string, logger: Logger): Promise<Snapshot | null> {
    const names: string[] = [];
    for await (const entry of Deno.readDir(folder)) {
      if (entry.isFile && /^[0-9a-f]{16}\.snap$/.test(entry.name)) names.push(entry.name);
    }
    for (const name of names.sort().reverse()) {
      const path = `${folder}/${name}`;
      try {
        return decodeSnapshotFile(await Deno.readFile(path), path);
      } catch (error) {
        logger.error("unreadable Raft snapshot skipped", { path, error: String(error) });
      }
    }
    return null;
  }

  /**
   * Makes the persistent parts of `ready` durable (fsync when `mustSync`),
   * then updates the mirror. Messages of `ready` may be sent after this.
   */
  async save(ready: Ready): Promise<void> {
    const records: WalRecord[] = [];
    if (ready.snapshot !== undefined) {
      await this.#writeSnapshotFile(ready.snapshot);
      const { index, term } = ready.snapshot.metadata;
      records.push({ type: RecordType.snapshot, payload: encodeMarker(index, term) });
    }
    if (ready.entries.length > 0) {
      records.push({ type: RecordType.entries, payload: encodeEntries(ready.entries) });
    }
    if (ready.hardState !== undefined) {
      records.push({ type: RecordType.hardState, payload: encodeHardState(ready.hardState) });
    }
    if (records.length > 0) await this.#wal.append(records, { sync: ready.mustSync });
    if (ready.snapshot !== undefined) this.storage.applySnapshot(ready.snapshot);
    this.storage.append(ready.entries);
    if (ready.hardState !== undefined) this.storage.setHardState(ready.hardState);
  }

  async #writeSnapshotFile(snapshot: Snapshot): Promise<void> {
    const path = `${this.#snapshotFolder}/${snapshotFileName(snapshot.metadata.index)}`;
    await writeFileAtomic(path, encodeSnapshotFile(snapshot));
  }

  /**
   * Takes a snapshot of the state machine at `index` (applied, durable) and
   * drops the log before it, on disk and in the mirror.
   */
  async compact(index: number, confState: ConfState, data: Uint8Array): Promise<void> {
    assert(index <= this.storage.lastIndex(), "compact beyond the log");
    const snapshot = this.storage.createSnapshot(index, confState, data);
    await this.#writeSnapshotFile(snapshot);
    this.storage.compact(index);
    const segment = this.#wal.rollover();
    const kept = index < this.storage.lastIndex()
      ? this.storage.entries(index + 1, this.storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER)
      : [];
    const hardState: HardState = this.storage.initialState().hardState;
    await this.#wal.append([
      { type: RecordType.snapshot, payload: encodeMarker(index, snapshot.metadata.term) },
      ...(kept.length > 0 ? [{ type: RecordType.entries, payload: encodeEntries(kept) }] : []),
      { type: RecordType.hardState, payload: encodeHardState(hardState) },
    ], { sync: true });
    await this.#wal.removeSegmentsBefore(segment);
    await this.#removeOldSnapshots();
    this.#logger.info("Raft log compacted", { index, keptEntries: kept.length });
  }

  async #removeOldSnapshots(): Promise<void> {
    const names: string[] = [];
    for await (const entry of Deno.readDir(this.#snapshotFolder)) {
      if (entry.isFile && entry.name.endsWith(".snap")) names.push(entry.name);
    }
    for (const name of names.sort().reverse().slice(SNAPSHOT_FILES_KEPT)) {
      await Deno.remove(`${this.#snapshotFolder}/${name}`);
    }
  }

  /** Closes the log. */
  async close(): Promise<void> {
    await this.#wal.close();
  }
}
