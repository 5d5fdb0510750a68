/**
 * Snapshot encoding of the metadata state, for Raft log compaction and for
 * nodes that join late. Layout: magic "UKMS", version, a JSON header (nodes,
 * images without their status arrays, recent request results), then every
 * status array run-length encoded (value byte + varint run), then a CRC-32 of
 * all that precedes. A 1 TiB image with 1 MiB blocks and three uniform
 * locations encodes to a few dozen bytes of arrays.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { crc32 } from "../base/checksum.ts";
import { UkaiError } from "../base/errors.ts";
import { ImageRecord, type MoveJob, type OwnerKind } from "./image.ts";
import { type ApplyResult, MetaState, type NodeRecord } from "./state.ts";

const MAGIC = 0x554b4d53; // "UKMS"
const VERSION = 1;

interface ImageHeader {
  name: string;
  uid: number;
  capacity: number;
  blockSize: number;
  createdAtMs: number;
  size: number;
  hypervisors: string[];
  owner: string | null;
  ownerKind: OwnerKind | null;
  epoch: number;
  opens: string[];
  resyncRateBytesPerSecond: number;
  move: MoveJob | null;
  activity: [number, number][];
  locations: string[];
}

interface SnapshotHeader {
  nextImageUid: number;
  nodes: NodeRecord[];
  images: ImageHeader[];
  recentResults: [string, ApplyResult][];
}

/** A growable byte buffer for the encoder. */
class ByteWriter {
  bytes = new Uint8Array(1024);
  length = 0;

  #room(count: number): void {
    if (this.length + count <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + count) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  u32(value: number): void {
    this.#room(4);
    new DataView(this.bytes.buffer).setUint32(this.length, value, true);
    this.length += 4;
  }

  varint(value: number): void {
    this.#room(8);
    while (value >= 0x80) {
      this.bytes[this.length++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    this.bytes[this.length++] = value;
  }

  byte(value: number): void {
    this.#room(1);
    this.bytes[this.length++] = value;
  }

  append(source: Uint8Array): void {
    this.#room(source.length);
    this.bytes.set(source, this.length);
    this.length += source.length;
  }

  result(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

function corrupt(reason: string): never {
  throw new UkaiError("CHECKSUM_MISMATCH", `Metadata snapshot is damaged: ${reason}`);
}

function imageHeader(image: ImageRecord): ImageHeader {
  return {
    name: image.name,
    uid: image.uid,
    capacity: image.capacity,
    blockSize: image.blockSize,
    createdAtMs: image.createdAtMs,
    size: image.size,
    hypervisors: [...image.hypervisors].sort(),
    owner: image.owner,
    ownerKind: image.ownerKind,
    epoch: image.epoch,
    opens: [...image.opens].sort(),
    resyncRateBytesPerSecond: image.resyncRateBytesPerSecond,
    move: image.move,
    activity: [...image.activity].sort((a, b) => a[0] - b[0]),
    locations: image.locationNodes().sort(),
  };
}

function writeRuns(writer: ByteWriter, statuses: Uint8Array): void {
  let start = 0;
  while (start < statuses.length) {
    const value = statuses[start] as number;
    let end = start + 1;
    while (end < statuses.length && statuses[end] === value) end++;
    writer.byte(value);
    writer.varint(end - start);
    start = end;
  }
}

/**
 * Encodes `state` canonically: equal states give equal bytes.
 *
 * @example
 * ```ts
 * import { decodeSnapshot, encodeSnapshot, MetaState } from "./mod.ts";
 * const copy = decodeSnapshot(encodeSnapshot(new MetaState()));
 * if (copy.images.size !== 0) throw new Error("bad");
 * ```
 */
export function encodeSnapshot(state: MetaState): Uint8Array {
  const images = [...state.images.values()].sort((a, b) => a.name.localeCompare(b.name));
  const header: SnapshotHeader = {
    nextImageUid: state.nextImageUid,
    nodes: [...state.nodes.values()].sort((a, b) => a.id.localeCompare(b.id)),
    images: images.map(imageHeader),
    recentResults: [...state.recentResults],
  };
  const writer = new ByteWriter();
  writer.u32(MAGIC);
  writer.u32(VERSION);
  const json = new TextEncoder().encode(JSON.stringify(header));
  writer.u32(json.length);
  writer.append(json);
  for (const [index, image] of images.entries()) {
    for (const node of (header.images[index] as ImageHeader).locations) {
      writeRuns(writer, image.statusView(node) as Uint8Array);
    }
  }
  writer.u32(crc32(writer.bytes.subarray(0, writer.length)));
  return writer.result();
}

/** Reads the encoded bytes back. */
class ByteReader {
  offset = 0;
  constructor(readonly bytes: Uint8Array, readonly end: number) {}

  u32(): number {
    if (this.offset + 4 > this.end) corrupt("truncated");
    const value = new DataView(this.bytes.buffer, this.bytes.byteOffset).getUint32(
      this.offset,
      true,
    );
    this.offset += 4;
    return value;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.offset >= this.end) corrupt("truncated run");
      const byte = this.bytes[this.offset++] as number;
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return value;
      scale *= 128;
    }
    corrupt("run length too long");
  }

  byte(): number {
    if (this.offset >= this.end) corrupt("truncated");
    return this.bytes[this.offset++] as number;
  }
}

function readRuns(reader: ByteReader, blockCount: number): Uint8Array {
  const statuses = new Uint8Array(blockCount);
  let filled = 0;
  while (filled < blockCount) {
    const value = reader.byte();
    const run = reader.varint();
    if (value > 2 || run === 0 || filled + run > blockCount) corrupt("bad status run");
    if (value !== 0) statuses.fill(value, filled, filled + run);
    filled += run;
  }
  return statuses;
}

function restoreImage(reader: ByteReader, header: ImageHeader): ImageRecord {
  const image = new ImageRecord(header);
  image.size = header.size;
  for (const node of header.hypervisors) image.hypervisors.add(node);
  image.owner = header.owner;
  image.ownerKind = header.ownerKind;
  image.epoch = header.epoch;
  for (const node of header.opens) image.opens.add(node);
  image.resyncRateBytesPerSecond = header.resyncRateBytesPerSecond;
  image.move = header.move;
  for (const [block, epoch] of header.activity) image.activity.set(block, epoch);
  for (const node of header.locations) {
    image.restoreStatuses(node, readRuns(reader, image.blockCount));
  }
  return image;
}

/**
 * Decodes bytes made by {@link encodeSnapshot} into a fresh state.
 *
 * @throws {UkaiError} CHECKSUM_MISMATCH when the bytes are damaged
 */
export function decodeSnapshot(bytes: Uint8Array): MetaState {
  if (bytes.length < 16) corrupt("too short");
  const end = bytes.length - 4;
  const stored = new DataView(bytes.buffer, bytes.byteOffset).getUint32(end, true);
  if (crc32(bytes.subarray(0, end)) !== stored) corrupt("checksum mismatch");
  const reader = new ByteReader(bytes, end);
  if (reader.u32() !== MAGIC) corrupt("not a ukai metadata snapshot");
  const version = reader.u32();
  if (version !== VERSION) corrupt(`unknown version ${version}`);
  const jsonLength = reader.u32();
  if (reader.offset + jsonLength > end) corrupt("truncated header");
  const header = JSON.parse(
    new TextDecoder().decode(bytes.subarray(reader.offset, reader.offset + jsonLength)),
  ) as SnapshotHeader;
  reader.offset += jsonLength;
  const state = new MetaState();
  state.nextImageUid = header.nextImageUid;
  for (const node of header.nodes) state.nodes.set(node.id, { ...node });
  for (const imageHeader of header.images) {
    state.images.set(imageHeader.name, restoreImage(reader, imageHeader));
  }
  for (const [requestId, result] of header.recentResults) {
    state.recentResults.set(requestId, result);
  }
  if (reader.offset !== end) corrupt("trailing bytes");
  assert(state.images.size === header.images.length);
  return state;
}
