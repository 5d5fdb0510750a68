/**
 * The simulated write-ahead log format and its replay. One record holds
 * everything one Ready asks to persist (snapshot, hard state, entries), so a
 * Ready is written atomically or not at all; a record is framed as
 * `[u32 payload length][u32 CRC-32 of payload][payload]`, and replay stops at
 * the first record that is short or fails its checksum (a torn tail), exactly
 * as a real WAL recovery would.
 *
 * Replay semantics, applied in order: a snapshot replaces the whole log; a
 * hard state replaces the previous one; entries replace any overlapping
 * suffix (entries at or before the snapshot are ignored). A compacted WAL is
 * the single record `{snapshot, hardState, entries after the snapshot}`.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { crc32 } from "../base/checksum.ts";
import {
  decodeEntry,
  decodeHardState,
  decodeSnapshot,
  encodeEntry,
  encodeHardState,
  encodeSnapshot,
  type Entry,
  type HardState,
  NO_NODE,
  type Snapshot,
} from "../raft/mod.ts";
import { concatBytes } from "../base/bytes.ts";

/** What one Ready persists (or a whole compacted WAL). */
export interface WalRecord {
  snapshot?: Snapshot;
  hardState?: HardState;
  entries: Entry[];
}

const FRAME_HEADER_BYTES = 8;
const FLAG_SNAPSHOT = 1;
const FLAG_HARD_STATE = 2;
/** Most entries in one record (a Ready never carries more in the simulator). */
export const WAL_RECORD_ENTRIES_MAX = 100_000;

/** Encodes and frames one record. */
export function encodeWalRecord(record: WalRecord): Uint8Array {
  assert(record.entries.length <= WAL_RECORD_ENTRIES_MAX, "wal: record has too many entries");
  const parts: Uint8Array[] = [];
  let flags = 0;
  if (record.snapshot !== undefined) flags |= FLAG_SNAPSHOT;
  if (record.hardState !== undefined) flags |= FLAG_HARD_STATE;
  parts.push(Uint8Array.of(flags));
  if (record.snapshot !== undefined) parts.push(...lengthPrefixed(encodeSnapshot(record.snapshot)));
  if (record.hardState !== undefined) {
    parts.push(...lengthPrefixed(encodeHardState(record.hardState)));
  }
  parts.push(u32(record.entries.length));
  for (const entry of record.entries) parts.push(...lengthPrefixed(encodeEntry(entry)));
  const payload = concatBytes(parts);
  return concatBytes([u32(payload.length), u32(crc32(payload)), payload]);
}

/**
 * Decodes the records at the start of `bytes`, stopping at the first torn or
 * corrupt one. Returns the records and how many bytes they span (the rest is
 * the tail a recovery truncates).
 */
export function decodeWalRecords(bytes: Uint8Array): { records: WalRecord[]; validBytes: number } {
  const records: WalRecord[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  const recordsMax = bytes.length / FRAME_HEADER_BYTES;
  while (offset + FRAME_HEADER_BYTES <= bytes.length && records.length < recordsMax) {
    const length = view.getUint32(offset, true);
    const checksum = view.getUint32(offset + 4, true);
    const start = offset + FRAME_HEADER_BYTES;
    if (start + length > bytes.length) break;
    const payload = bytes.subarray(start, start + length);
    if (crc32(payload) !== checksum) break;
    records.push(decodePayload(payload));
    offset = start + length;
  }
  return { records, validBytes: offset };
}

function decodePayload(payload: Uint8Array): WalRecord {
  const reader = new Reader(payload);
  const flags = reader.u8();
  const record: WalRecord = { entries: [] };
  if ((flags & FLAG_SNAPSHOT) !== 0) record.snapshot = decodeSnapshot(reader.prefixed());
  if ((flags & FLAG_HARD_STATE) !== 0) record.hardState = decodeHardState(reader.prefixed());
  const count = reader.u32();
  assert(count <= WAL_RECORD_ENTRIES_MAX, "wal: entry count out of range");
  for (let i = 0; i < count; i++) record.entries.push(decodeEntry(reader.prefixed()));
  assert(reader.done(), "wal: trailing bytes in a record");
  return record;
}

/**
 * The log a WAL describes: the latest snapshot (index 0 = none), the latest
 * hard state, and the entries after the snapshot.
 *
 * Invariant: `entries[i].index === snapshotIndex() + 1 + i`.
 */
export class LogState {
  snapshot: Snapshot | undefined;
  hardState: HardState = { term: 0, vote: NO_NODE, commit: 0 };
  entries: Entry[] = [];

  /** Applies one record (see the module doc for the rules). */
  apply(record: WalRecord): void {
    if (record.snapshot !== undefined) {
      this.snapshot = record.snapshot;
      this.entries = [];
    }
    if (record.hardState !== undefined) this.hardState = { ...record.hardState };
    const snapshotIndex = this.snapshotIndex();
    const fresh = record.entries.filter((entry) => entry.index > snapshotIndex);
    const first = fresh[0];
    if (first !== undefined) {
      assert(first.index <= this.lastIndex() + 1, `wal: gap before entry ${first.index}`);
      this.entries = [...this.entries.slice(0, first.index - snapshotIndex - 1), ...fresh];
    }
    this.#invariants();
  }

  /** The index covered by the snapshot (0 when there is none). */
  snapshotIndex(): number {
    return this.snapshot?.metadata.index ?? 0;
  }

  /** The index of the last entry (the snapshot's when there are none). */
  lastIndex(): number {
    return this.snapshotIndex() + this.entries.length;
  }

  /** The term at `index`: of an entry, of the snapshot, or undefined (compacted or absent). */
  term(index: number): number | undefined {
    const snapshotIndex = this.snapshotIndex();
    if (index === snapshotIndex) return this.snapshot?.metadata.term ?? 0;
    if (index < snapshotIndex) return undefined;
    return this.entries[index - snapshotIndex - 1]?.term;
  }

  /** A copy sharing the (immutable) entries and snapshot. */
  clone(): LogState {
    const copy = new LogState();
    copy.snapshot = this.snapshot;
    copy.hardState = { ...this.hardState };
    copy.entries = [...this.entries];
    return copy;
  }

  #invariants(): void {
    const first = this.entries[0];
    if (first === undefined) return;
    assert(first.index === this.snapshotIndex() + 1, "wal: entries do not follow the snapshot");
    const last = this.entries[this.entries.length - 1]!;
    assert(last.index === this.lastIndex(), "wal: entries are not consecutive");
  }
}

/** Replays `records` into a fresh {@link LogState}. */
export function replay(records: readonly WalRecord[]): LogState {
  const state = new LogState();
  for (const record of records) state.apply(record);
  return state;
}

function u32(value: number): Uint8Array {
  assert(Number.isSafeInteger(value) && value >= 0 && value <= 0xffffffff, "wal: u32 range");
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}

function lengthPrefixed(bytes: Uint8Array): Uint8Array[] {
  return [u32(bytes.length), bytes];
}

class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u8(): number {
    assert(this.#offset + 1 <= this.#bytes.length, "wal: record too short");
    return this.#bytes[this.#offset++]!;
  }

  u32(): number {
    assert(this.#offset + 4 <= this.#bytes.length, "wal: record too short");
    const value = this.#view.getUint32(this.#offset, true);
    this.#offset += 4;
    return value;
  }

  prefixed(): Uint8Array {
    const length = this.u32();
    assert(this.#offset + length <= this.#bytes.length, "wal: field overruns the record");
    const slice = this.#bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return slice;
  }

  done(): boolean {
    return this.#offset === this.#bytes.length;
  }
}
