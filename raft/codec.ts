/**
 * Compact binary encodings of {@link Message}, {@link Entry}, {@link HardState},
 * {@link ConfChange} and {@link Snapshot}, for the transport and the WAL.
 *
 * Numbers are unsigned LEB128 varints (canonical, at most 2^53 - 1); byte
 * strings and node ids are a varint length followed by the bytes; every
 * top-level encoding starts with a version byte. Decoding checks every length
 * and bound against the input before allocating, rejects trailing bytes, and
 * throws only {@link RaftCodecError}. Integrity (checksums) is the job of the
 * framing around these bytes.
 *
 * @example
 * ```ts
 * import { decodeHardState, encodeHardState } from "./codec.ts";
 * const bytes = encodeHardState({ term: 3, vote: "n1", commit: 7 });
 * if (decodeHardState(bytes).commit !== 7) throw new Error("round trip failed");
 * ```
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { NODE_ID_BYTES_MAX } from "./config.ts";
import type {
  ConfChange,
  ConfState,
  Entry,
  EntryType,
  HardState,
  Message,
  Snapshot,
} from "./types.ts";
import { MessageType } from "./types.ts";
import { messageInvalid } from "./validate.ts";

/** Thrown when bytes do not decode: truncated, overlong, out of range or malformed. */
export class RaftCodecError extends Error {
  override name = "RaftCodecError";
}

/** The version byte every encoding starts with. */
export const CODEC_VERSION = 1;

const MESSAGE_TYPES: readonly MessageType[] = Object.values(MessageType);
const ENTRY_TYPES: readonly EntryType[] = ["normal", "confChange"];
const CONF_CHANGE_TYPES: readonly ConfChange["type"][] = ["addNode", "addLearner", "removeNode"];
/** Smallest encoded entry: term, index, type and an empty data length, one byte each. */
const ENTRY_BYTES_MIN = 4;
const FLAG_REJECT = 1;
const FLAG_SNAPSHOT = 2;
const FLAG_CONTEXT = 4;
const FLAGS_KNOWN = FLAG_REJECT | FLAG_SNAPSHOT | FLAG_CONTEXT;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes a message (with its entries, snapshot and context). */
export function encodeMessage(message: Message): Uint8Array {
  const writer = new Writer();
  writer.u8(CODEC_VERSION);
  writer.u8(MESSAGE_TYPES.indexOf(message.type));
  let flags = message.reject ? FLAG_REJECT : 0;
  if (message.snapshot !== undefined) flags |= FLAG_SNAPSHOT;
  if (message.context !== undefined) flags |= FLAG_CONTEXT;
  writer.u8(flags);
  writer.string(message.from);
  writer.string(message.to);
  for (
    const n of [message.term, message.logTerm, message.index, message.commit, message.rejectHint]
  ) {
    writer.varint(n);
  }
  writer.varint(message.entries.length);
  for (const entry of message.entries) writeEntry(writer, entry);
  if (message.snapshot !== undefined) writeSnapshot(writer, message.snapshot);
  if (message.context !== undefined) writer.bytes(message.context);
  return writer.finish();
}

/**
 * Decodes a message and checks it with `messageInvalid`.
 * @throws {RaftCodecError} on any malformed input.
 */
export function decodeMessage(bytes: Uint8Array): Message {
  return decodeWhole(bytes, (reader) => {
    const type = MESSAGE_TYPES[reader.u8()];
    if (type === undefined) throw new RaftCodecError("unknown message type");
    const flags = reader.u8();
    if ((flags & ~FLAGS_KNOWN) !== 0) throw new RaftCodecError("unknown message flags");
    const from = reader.string();
    const to = reader.string();
    const [term, logTerm, index, commit, rejectHint] = [1, 2, 3, 4, 5].map(() => reader.varint());
    const entryCount = reader.count(ENTRY_BYTES_MIN);
    const entries: Entry[] = [];
    for (let i = 0; i < entryCount; i++) entries.push(readEntry(reader));
    const message: Message = {
      type,
      from,
      to,
      term: term!,
      logTerm: logTerm!,
      index: index!,
      entries,
      commit: commit!,
      reject: (flags & FLAG_REJECT) !== 0,
      rejectHint: rejectHint!,
    };
    if ((flags & FLAG_SNAPSHOT) !== 0) message.snapshot = readSnapshot(reader);
    if ((flags & FLAG_CONTEXT) !== 0) message.context = reader.bytes();
    const problem = messageInvalid(message);
    if (problem !== null) throw new RaftCodecError(`invalid message: ${problem}`);
    return message;
  });
}

/** Encodes one log entry (for the WAL). */
export function encodeEntry(entry: Entry): Uint8Array {
  const writer = new Writer();
  writer.u8(CODEC_VERSION);
  writeEntry(writer, entry);
  return writer.finish();
}

/** @throws {RaftCodecError} on any malformed input. */
export function decodeEntry(bytes: Uint8Array): Entry {
  return decodeWhole(bytes, readEntry);
}

/** Encodes the hard state (for the WAL). */
export function encodeHardState(hardState: HardState): Uint8Array {
  const writer = new Writer();
  writer.u8(CODEC_VERSION);
  writer.varint(hardState.term);
  writer.string(hardState.vote);
  writer.varint(hardState.commit);
  return writer.finish();
}

/** @throws {RaftCodecError} on any malformed input. */
export function decodeHardState(bytes: Uint8Array): HardState {
  return decodeWhole(bytes, (reader) => {
    const term = reader.varint();
    const vote = reader.string();
    const commit = reader.varint();
    return { term, vote, commit };
  });
}

/** Encodes a membership change (the data of a `confChange` entry). */
export function encodeConfChange(change: ConfChange): Uint8Array {
  const writer = new Writer();
  writer.u8(CODEC_VERSION);
  writer.u8(CONF_CHANGE_TYPES.indexOf(change.type));
  writer.string(change.nodeId);
  writer.bytes(change.context);
  return writer.finish();
}

/** @throws {RaftCodecError} on any malformed input. */
export function decodeConfChange(bytes: Uint8Array): ConfChange {
  return decodeWhole(bytes, (reader) => {
    const type = CONF_CHANGE_TYPES[reader.u8()];
    if (type === undefined) throw new RaftCodecError("unknown conf change type");
    const nodeId = reader.string();
    if (nodeId === "") throw new RaftCodecError("conf change without a node id");
    return { type, nodeId, context: reader.bytes() };
  });
}

/** Encodes a snapshot (metadata and data). */
export function encodeSnapshot(snapshot: Snapshot): Uint8Array {
  const writer = new Writer();
  writer.u8(CODEC_VERSION);
  writeSnapshot(writer, snapshot);
  return writer.finish();
}

/** @throws {RaftCodecError} on any malformed input. */
export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  return decodeWhole(bytes, readSnapshot);
}

function writeEntry(writer: Writer, entry: Entry): void {
  writer.varint(entry.term);
  writer.varint(entry.index);
  writer.u8(ENTRY_TYPES.indexOf(entry.type));
  writer.bytes(entry.data);
}

function readEntry(reader: Reader): Entry {
  const term = reader.varint();
  const index = reader.varint();
  const type = ENTRY_TYPES[reader.u8()];
  if (type === undefined) throw new RaftCodecError("unknown entry type");
  return { term, index, type, data: reader.bytes() };
}

function writeSnapshot(writer: Writer, snapshot: Snapshot): void {
  const { index, term, confState } = snapshot.metadata;
  writer.varint(index);
  writer.varint(term);
  for (const ids of [confState.voters, confState.learners]) {
    writer.varint(ids.length);
    for (const id of ids) writer.string(id);
  }
  writer.bytes(snapshot.data);
}

function readSnapshot(reader: Reader): Snapshot {
  const index = reader.varint();
  const term = reader.varint();
  const readIds = () => {
    const count = reader.count(2);
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push(reader.string());
    return ids;
  };
  const confState: ConfState = { voters: readIds(), learners: readIds() };
  const members = [...confState.voters, ...confState.learners];
  if (new Set(members).size !== members.length || members.includes("")) {
    throw new RaftCodecError("snapshot membership has duplicate or empty ids");
  }
  return { metadata: { index, term, confState }, data: reader.bytes() };
}

function decodeWhole<T>(bytes: Uint8Array, read: (reader: Reader) => T): T {
  const reader = new Reader(bytes);
  const version = reader.u8();
  if (version !== CODEC_VERSION) throw new RaftCodecError(`unknown codec version ${version}`);
  const value = read(reader);
  if (!reader.done()) throw new RaftCodecError("trailing bytes after the encoding");
  return value;
}

/** An append-only byte buffer. */
class Writer {
  #buffer = new Uint8Array(64);
  #length = 0;

  u8(value: number): void {
    assert(Number.isInteger(value) && value >= 0 && value <= 0xff, `codec: bad byte ${value}`);
    this.#reserve(1);
    this.#buffer[this.#length++] = value;
  }

  varint(value: number): void {
    assert(
      Number.isSafeInteger(value) && value >= 0,
      `codec: ${value} is not a safe unsigned integer`,
    );
    let rest = value;
    while (rest >= 0x80) {
      this.u8((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    this.u8(rest);
  }

  bytes(value: Uint8Array): void {
    this.varint(value.length);
    this.#reserve(value.length);
    this.#buffer.set(value, this.#length);
    this.#length += value.length;
  }

  string(value: string): void {
    const encoded = textEncoder.encode(value);
    assert(
      encoded.length <= NODE_ID_BYTES_MAX,
      `codec: node id longer than ${NODE_ID_BYTES_MAX} bytes`,
    );
    this.bytes(encoded);
  }

  finish(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }

  #reserve(extra: number): void {
    if (this.#length + extra <= this.#buffer.length) return;
    const grown = new Uint8Array(Math.max(this.#buffer.length * 2, this.#length + extra));
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
  }
}

/** A bounds-checked cursor over the input; every failure is a {@link RaftCodecError}. */
class Reader {
  readonly #bytes: Uint8Array;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  done(): boolean {
    return this.#offset === this.#bytes.length;
  }

  u8(): number {
    const value = this.#bytes[this.#offset];
    if (value === undefined) throw new RaftCodecError("truncated input");
    this.#offset++;
    return value;
  }

  /** A canonical varint no larger than `Number.MAX_SAFE_INTEGER`. */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const byte = this.u8();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (byte === 0 && i > 0) throw new RaftCodecError("non-canonical varint");
        if (!Number.isSafeInteger(value)) throw new RaftCodecError("varint exceeds 2^53 - 1");
        return value;
      }
      scale *= 0x80;
    }
    throw new RaftCodecError("varint longer than 8 bytes");
  }

  /** A count of items each at least `itemBytesMin` long, checked against the input left. */
  count(itemBytesMin: number): number {
    const count = this.varint();
    if (count * itemBytesMin > this.#bytes.length - this.#offset) {
      throw new RaftCodecError(`count ${count} exceeds the remaining input`);
    }
    return count;
  }

  bytes(): Uint8Array {
    const length = this.varint();
    if (length > this.#bytes.length - this.#offset) throw new RaftCodecError("truncated bytes");
    const value = this.#bytes.slice(this.#offset, this.#offset + length);
    this.#offset += length;
    return value;
  }

  string(): string {
    const length = this.varint();
    if (length > NODE_ID_BYTES_MAX) throw new RaftCodecError("node id too long");
    if (length > this.#bytes.length - this.#offset) throw new RaftCodecError("truncated node id");
    const raw = this.#bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    try {
      return textDecoder.decode(raw);
    } catch {
      throw new RaftCodecError("node id is not valid UTF-8");
    }
  }
}
