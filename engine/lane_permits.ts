/**
 * Permits for FUSE lanes (ffi/fuse_lanes.ts): which blocks a lane thread may
 * read or write straight into this node's block files, without the JS thread.
 *
 * The JS thread grants a permit right after it served a READ or WRITE of that
 * block the synchronous way (`OwnerSession.tryReadNow` / `tryWriteNow`), so a
 * permit stands for exactly the conditions those checked: this node owns the
 * image, its copy is in sync (for a write: the only in-sync copy, the block
 * is in the activity log and no resync holds it), the fence admits the
 * session's epoch, and the block file is open. Whatever may change one of
 * these revokes the image's permits first ({@link LanePermits.revoke}): a
 * metadata change, an out-of-sync mark, an exclusive block lock, a fence
 * raise, a block file leaving the descriptor cache, the session ending, the
 * activity log retiring blocks.
 *
 * Revoking bumps the image's generation (every permit carries the generation
 * it was granted in) and waits until no lane is inside a permitted operation
 * of that image: a lane counts itself in before it reads the generation, so
 * after the wait no lane acts on an old permit.
 *
 * A lane sets its entry's written flag after each write to the block and
 * before it answers. A revoke (after the wait) and every flush
 * ({@link LanePermits.takeWritten}) take the flags; the blocks that had one
 * are recorded as written (dirty for that flush, busy for the activity log).
 * A flag taken before a lane's write finished is set again by that lane, so
 * the next flush sees the write.
 *
 * Permits live in a two-way set-associative table on a SharedArrayBuffer; each
 * entry is written under a sequence number (odd while it changes) so a lane
 * never acts on a torn one. A grant whose two entries both hold live permits
 * of other blocks is not made: that block stays with the JS thread (evicting
 * would mean revoking the other block's image).
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { pread } from "../ffi/libc.ts";
import { writeInPieces } from "../store/mod.ts";
import { LATENCY_BUCKETS_SECONDS, latencyBucketOf } from "./stats.ts";

/** Images with permits at once. */
export const PERMIT_SLOTS = 64;
/** Entries of the permit table (a power of two). */
export const PERMIT_ENTRIES = 16384;

/** What a permit allows. */
export const PermitKind = { read: 1, write: 3 } as const;

// Per slot, Int32 cells: generation, lanes inside, block size, image uid + 1 (0: free), and the
// visible size in 2^32-byte units and the rest (written only while no permit of the slot is live).
const SLOT_CELLS = 8;
const SLOT_GENERATION = 0;
const SLOT_INSIDE = 1;
const SLOT_BLOCK_SIZE = 2;
const SLOT_UID = 3;
const SLOT_SIZE_HIGH = 4;
const SLOT_SIZE_LOW = 5;
const TWO_32 = 2 ** 32;
// Per entry, Int32 cells: sequence, slot + 1, block, kind, fd, generation, written by a lane (1).
const ENTRY_CELLS = 8;
const ENTRY_SEQUENCE = 0;
const ENTRY_SLOT = 1;
const ENTRY_BLOCK = 2;
const ENTRY_KIND = 3;
const ENTRY_FD = 4;
const ENTRY_GENERATION = 5;
const ENTRY_WRITTEN = 6;
// Per slot, BigInt64 counters: read ops, read bytes, write ops, write bytes, then per kind (read,
// write) a latency histogram: the count of each bucket (stats.ts bounds, then +Inf) and the sum in ns.
const BUCKETS = LATENCY_BUCKETS_SECONDS.length + 1;
const HISTOGRAM_CELLS = BUCKETS + 1;
const READ_HISTOGRAM = 4;
const WRITE_HISTOGRAM = READ_HISTOGRAM + HISTOGRAM_CELLS;
const COUNTERS = WRITE_HISTOGRAM + HISTOGRAM_CELLS;

const INT32_CELLS = PERMIT_SLOTS * SLOT_CELLS + PERMIT_ENTRIES * ENTRY_CELLS;

/** The shared memory of a permit table. */
interface PermitViews {
  readonly cells: Int32Array<SharedArrayBuffer>;
  readonly counters: BigInt64Array<SharedArrayBuffer>;
}

const BUFFER_BYTES = INT32_CELLS * 4 + PERMIT_SLOTS * COUNTERS * 8;

function viewsOf(buffer: SharedArrayBuffer): PermitViews {
  return {
    cells: new Int32Array(buffer, 0, INT32_CELLS),
    counters: new BigInt64Array(buffer, INT32_CELLS * 4, PERMIT_SLOTS * COUNTERS),
  };
}

function sizeOf(cells: Int32Array<SharedArrayBuffer>, slotBase: number): number {
  return Atomics.load(cells, slotBase + SLOT_SIZE_HIGH) * TWO_32 +
    (Atomics.load(cells, slotBase + SLOT_SIZE_LOW) >>> 0);
}

/** The cell index of the two entries where block `block` of slot `slot` may be. */
function entryBases(slot: number, block: number): readonly [number, number] {
  const hash = (Math.imul(block, 0x9e3779b1) ^ Math.imul(slot + 1, 0x85ebca6b)) >>> 0;
  const first = hash & (PERMIT_ENTRIES - 1) & ~1;
  const base = PERMIT_SLOTS * SLOT_CELLS;
  return [base + first * ENTRY_CELLS, base + (first + 1) * ENTRY_CELLS];
}

/** Latencies lanes observed: per-bucket counts (stats.ts bounds, then +Inf) and their sum. */
export interface LaneLatencies {
  readonly counts: number[];
  readonly sumSeconds: number;
}

/** I/O counted by lanes since the last {@link LanePermits.takeCounts}. */
export interface LaneCounts {
  readOps: number;
  readBytes: number;
  writeOps: number;
  writeBytes: number;
  readLatency: LaneLatencies;
  writeLatency: LaneLatencies;
}

interface SlotState {
  readonly slot: number;
  /** Records blocks lanes may have written (the image's owner session). */
  readonly absorb: (blocks: ReadonlySet<number>) => void;
  /** The entry of each block with a live write permit (where lanes flag their writes). */
  writes: Map<number, number>;
  /** Live permits by block (kind), to skip granting again. */
  granted: Map<number, number>;
}

/** The JS thread's side: grants, revokes, and what lanes wrote. */
export class LanePermits {
  readonly buffer: SharedArrayBuffer;
  readonly #views: PermitViews;
  readonly #slots = new Map<number, SlotState>();

  constructor() {
    this.buffer = new SharedArrayBuffer(BUFFER_BYTES);
    this.#views = viewsOf(this.buffer);
  }

  /**
   * Gives image `uid` a slot, so its blocks can be granted; `absorb` records
   * blocks lanes may have written (called on every revoke that had some).
   * False when every slot is taken (its I/O stays on the JS thread).
   */
  register(uid: number, blockSize: number, absorb: (blocks: ReadonlySet<number>) => void): boolean {
    this.release(uid); // a session that ended without saying so
    const slot = this.#freeSlot();
    if (slot < 0) return false;
    this.#slots.set(uid, { slot, absorb, writes: new Map(), granted: new Map() });
    const { cells } = this.#views;
    Atomics.store(cells, slot * SLOT_CELLS + SLOT_BLOCK_SIZE, blockSize);
    Atomics.store(cells, slot * SLOT_CELLS + SLOT_UID, uid + 1);
    return true;
  }

  /**
   * Lets lanes serve `kind` on `block` of registered image `uid` through
   * `fd`, within the image's visible `size`. Call only right after serving
   * such a request synchronously, with the conditions it checked unchanged.
   */
  grant(uid: number, size: number, block: number, fd: number, kind: number): void {
    const state = this.#slots.get(uid);
    if (state === undefined || this.granted(uid, block, kind)) return;
    const { cells } = this.#views;
    const slotBase = state.slot * SLOT_CELLS;
    const base = this.#entryFor(state.slot, block);
    if (base === undefined) return;
    if (sizeOf(cells, slotBase) !== size) {
      // The size only changes with the metadata, which revoked every permit of the image.
      assert(state.granted.size === 0, "image size changed under live lane permits");
      Atomics.store(cells, slotBase + SLOT_SIZE_HIGH, Math.floor(size / TWO_32));
      Atomics.store(cells, slotBase + SLOT_SIZE_LOW, size % TWO_32);
    }
    const generation = Atomics.load(cells, slotBase + SLOT_GENERATION);
    const merged = (state.granted.get(block) ?? 0) | kind;
    const sequence = Atomics.add(cells, base + ENTRY_SEQUENCE, 1) + 1;
    assert((sequence & 1) === 1, "permit entry written twice at once");
    if (!state.granted.has(block)) {
      // A new occupant: the previous one's flag was taken when its permit was revoked.
      assert(Atomics.load(cells, base + ENTRY_WRITTEN) === 0, "a revoked permit kept a write");
    }
    Atomics.store(cells, base + ENTRY_SLOT, state.slot + 1);
    Atomics.store(cells, base + ENTRY_BLOCK, block);
    Atomics.store(cells, base + ENTRY_KIND, merged);
    Atomics.store(cells, base + ENTRY_FD, fd);
    Atomics.store(cells, base + ENTRY_GENERATION, generation);
    Atomics.add(cells, base + ENTRY_SEQUENCE, 1);
    state.granted.set(block, merged);
    if ((merged & PermitKind.write) === PermitKind.write) state.writes.set(block, base);
  }

  /** Whether `block` of image `uid` holds a live permit of `kind`. */
  granted(uid: number, block: number, kind: number): boolean {
    return ((this.#slots.get(uid)?.granted.get(block) ?? 0) & kind) === kind;
  }

  /**
   * Ends every permit of image `uid` and returns once no lane uses one; the
   * blocks lanes wrote since the last {@link takeWritten} go to `absorb`.
   */
  revoke(uid: number): void {
    const state = this.#slots.get(uid);
    if (state === undefined || state.granted.size === 0) return;
    const { cells } = this.#views;
    const base = state.slot * SLOT_CELLS;
    Atomics.add(cells, base + SLOT_GENERATION, 1);
    for (;;) {
      const inside = Atomics.load(cells, base + SLOT_INSIDE);
      if (inside === 0) break;
      Atomics.wait(cells, base + SLOT_INSIDE, inside, 1);
    }
    const written = this.#takeWritten(state);
    state.writes = new Map();
    state.granted = new Map();
    if (written.size > 0) state.absorb(written);
  }

  /** {@link revoke} for every image. */
  revokeAll(): void {
    for (const uid of [...this.#slots.keys()]) this.revoke(uid);
  }

  /** Revokes and forgets image `uid` (its session ends). */
  release(uid: number): void {
    const state = this.#slots.get(uid);
    if (state === undefined) return;
    this.revoke(uid);
    Atomics.store(this.#views.cells, state.slot * SLOT_CELLS + SLOT_UID, 0);
    this.#slots.delete(uid);
  }

  /**
   * Blocks of `uid` that lanes wrote since the last call (or revoke), with
   * their flags cleared; a flush records them as written before it starts.
   */
  takeWritten(uid: number): ReadonlySet<number> {
    const state = this.#slots.get(uid);
    return state === undefined ? new Set() : this.#takeWritten(state);
  }

  #takeWritten(state: SlotState): Set<number> {
    const written = new Set<number>();
    for (const [block, base] of state.writes) {
      if (Atomics.exchange(this.#views.cells, base + ENTRY_WRITTEN, 0) === 1) written.add(block);
    }
    return written;
  }

  /** What lanes counted for image `uid` since the last call. */
  takeCounts(uid: number): LaneCounts | undefined {
    const state = this.#slots.get(uid);
    if (state === undefined) return undefined;
    const counters = this.#views.counters;
    const base = state.slot * COUNTERS;
    const take = (index: number) => Number(Atomics.exchange(counters, base + index, 0n));
    const latencies = (first: number): LaneLatencies => ({
      counts: Array.from({ length: BUCKETS }, (_, bucket) => take(first + bucket)),
      sumSeconds: take(first + BUCKETS) / 1e9,
    });
    return {
      readOps: take(0),
      readBytes: take(1),
      writeOps: take(2),
      writeBytes: take(3),
      readLatency: latencies(READ_HISTOGRAM),
      writeLatency: latencies(WRITE_HISTOGRAM),
    };
  }

  /**
   * Where to write block `block` of `slot`: the entry that has it, else one
   * whose permit is not live (free, revoked, or of a released image), else
   * undefined.
   */
  #entryFor(slot: number, block: number): number | undefined {
    const cells = this.#views.cells;
    let reusable: number | undefined;
    for (const base of entryBases(slot, block)) {
      const occupant = Atomics.load(cells, base + ENTRY_SLOT) - 1;
      const occupantBlock = Atomics.load(cells, base + ENTRY_BLOCK);
      if (occupant === slot && occupantBlock === block) return base;
      const owner = occupant < 0 ? undefined : this.#uidOfSlot(occupant);
      const live = owner !== undefined && this.#slots.get(owner)!.granted.has(occupantBlock);
      if (!live) reusable ??= base;
    }
    return reusable;
  }

  #freeSlot(): number {
    const used = new Set([...this.#slots.values()].map((state) => state.slot));
    for (let slot = 0; slot < PERMIT_SLOTS; slot++) if (!used.has(slot)) return slot;
    return -1;
  }

  #uidOfSlot(slot: number): number | undefined {
    for (const [uid, state] of this.#slots) if (state.slot === slot) return uid;
    return undefined;
  }
}

/**
 * A lane's side: serves a read or write of image `uid` when every block it
 * touches has a live permit. Synchronous; declines (-1 / false) rather than
 * wait, and declines after a failed pwrite (the JS thread writes it again and
 * reports the error).
 */
export class LanePermitReader {
  readonly #views: PermitViews;
  /** The slot found last, checked again before each use. */
  #lastSlot = 0;

  constructor(buffer: SharedArrayBuffer) {
    this.#views = viewsOf(buffer);
  }

  /** Reads into `target`; the byte count, or -1 to decline. */
  read(uid: number, offset: number, target: Uint8Array<ArrayBuffer>): number {
    const started = performance.now();
    const slot = this.#slotOf(uid);
    if (slot < 0) return -1;
    const { cells, counters } = this.#views;
    const inside = slot * SLOT_CELLS + SLOT_INSIDE;
    Atomics.add(cells, inside, 1);
    try {
      const permitted = this.#permitted(uid, slot, offset, target.length, PermitKind.read);
      if (permitted === null) return -1;
      const blockSize = Atomics.load(cells, slot * SLOT_CELLS + SLOT_BLOCK_SIZE);
      let done = 0;
      for (const fd of permitted.fds) {
        const position = offset + done;
        const length = Math.min(target.length - done, blockSize - position % blockSize);
        const part = target.subarray(done, done + length);
        if (pread(fd, part, position % blockSize) !== length) return -1;
        done += length;
      }
      Atomics.add(counters, slot * COUNTERS, 1n);
      Atomics.add(counters, slot * COUNTERS + 1, BigInt(target.length));
      this.#observe(slot * COUNTERS + READ_HISTOGRAM, started);
      return target.length;
    } catch {
      return -1;
    } finally {
      this.#leave(inside);
    }
  }

  /** Writes `data`; false to decline. */
  write(uid: number, offset: number, data: Uint8Array<ArrayBuffer>): boolean {
    const started = performance.now();
    const slot = this.#slotOf(uid);
    if (slot < 0) return false;
    const { cells, counters } = this.#views;
    const inside = slot * SLOT_CELLS + SLOT_INSIDE;
    Atomics.add(cells, inside, 1);
    try {
      const permitted = this.#permitted(uid, slot, offset, data.length, PermitKind.write);
      if (permitted === null) return false;
      const blockSize = Atomics.load(cells, slot * SLOT_CELLS + SLOT_BLOCK_SIZE);
      try {
        let done = 0;
        for (const fd of permitted.fds) {
          const position = offset + done;
          const length = Math.min(data.length - done, blockSize - position % blockSize);
          writeInPieces(fd, data.subarray(done, done + length), position % blockSize);
          done += length;
        }
      } finally {
        // Even after a failed piece: the block file may have changed.
        for (const entry of permitted.entries) Atomics.store(cells, entry + ENTRY_WRITTEN, 1);
      }
      Atomics.add(counters, slot * COUNTERS + 2, 1n);
      Atomics.add(counters, slot * COUNTERS + 3, BigInt(data.length));
      this.#observe(slot * COUNTERS + WRITE_HISTOGRAM, started);
      return true;
    } catch {
      return false;
    } finally {
      this.#leave(inside);
    }
  }

  /** The entry of a live permit of `kind` for `block` of `slot` and its fd, or undefined. */
  #permit(
    slot: number,
    block: number,
    generation: number,
    kind: number,
  ): { entry: number; fd: number } | undefined {
    const cells = this.#views.cells;
    for (const base of entryBases(slot, block)) {
      const before = Atomics.load(cells, base + ENTRY_SEQUENCE);
      if ((before & 1) !== 0) continue;
      const ok = Atomics.load(cells, base + ENTRY_SLOT) === slot + 1 &&
        Atomics.load(cells, base + ENTRY_BLOCK) === block &&
        Atomics.load(cells, base + ENTRY_GENERATION) === generation &&
        (Atomics.load(cells, base + ENTRY_KIND) & kind) === kind;
      const fd = Atomics.load(cells, base + ENTRY_FD);
      if (ok && Atomics.load(cells, base + ENTRY_SEQUENCE) === before) return { entry: base, fd };
    }
    return undefined;
  }

  /** Counts an operation that started at `started` (ms) in the histogram at `base`. */
  #observe(base: number, started: number): void {
    const seconds = (performance.now() - started) / 1000;
    const counters = this.#views.counters;
    Atomics.add(counters, base + latencyBucketOf(seconds), 1n);
    Atomics.add(counters, base + BUCKETS, BigInt(Math.round(seconds * 1e9)));
  }

  #leave(inside: number): void {
    if (Atomics.sub(this.#views.cells, inside, 1) === 1) Atomics.notify(this.#views.cells, inside);
  }

  #slotOf(uid: number): number {
    const cells = this.#views.cells;
    if (Atomics.load(cells, this.#lastSlot * SLOT_CELLS + SLOT_UID) === uid + 1) {
      return this.#lastSlot;
    }
    for (let slot = 0; slot < PERMIT_SLOTS; slot++) {
      if (Atomics.load(cells, slot * SLOT_CELLS + SLOT_UID) === uid + 1) {
        this.#lastSlot = slot;
        return slot;
      }
    }
    return -1;
  }

  /**
   * The fd and permit entry of each block `[offset, offset + length)`
   * touches, if every one has a live permit of `kind` and the range lies
   * within the visible size. Called while counted in, so the generation read
   * here stays valid.
   */
  #permitted(
    uid: number,
    slot: number,
    offset: number,
    length: number,
    kind: number,
  ): { fds: number[]; entries: number[] } | null {
    const cells = this.#views.cells;
    const slotBase = slot * SLOT_CELLS;
    const generation = Atomics.load(cells, slotBase + SLOT_GENERATION);
    const blockSize = Atomics.load(cells, slotBase + SLOT_BLOCK_SIZE);
    if (length === 0 || blockSize <= 0) return null;
    const fds: number[] = [];
    const entries: number[] = [];
    for (let block = Math.floor(offset / blockSize); block * blockSize < offset + length; block++) {
      const permit = this.#permit(slot, block, generation, kind);
      if (permit === undefined) return null;
      fds.push(permit.fd);
      entries.push(permit.entry);
    }
    // Read after a live entry: the size was stored before any entry of this generation.
    if (offset + length > sizeOf(cells, slotBase)) return null;
    // The slot may have been released and given to another image since it was looked up: if it
    // still names this image now, after the entries were read, they were this image's.
    if (Atomics.load(cells, slotBase + SLOT_UID) !== uid + 1) return null;
    return { fds, entries };
  }
}
