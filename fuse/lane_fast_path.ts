/**
 * The fast path FUSE lanes run (ffi/fuse_lanes.ts) for a ukai mount: a READ
 * or WRITE of an open image whose blocks all hold lane permits
 * (engine/lane_permits.ts) is served on the lane's thread, straight from or
 * into this node's block files; anything else goes to the JS thread.
 *
 * Lanes learn which image an open file handle refers to from a table the JS
 * thread keeps on a SharedArrayBuffer ({@link LaneHandles}); files opened
 * with O_DSYNC are never served here (their writes must be flushed first).
 *
 * @module
 */

import { LanePermitReader } from "../engine/lane_permits.ts";
import type { LaneFastPath } from "../ffi/fuse_lanes.ts";

/** Entries of the handle table (a power of two). */
const HANDLE_ENTRIES = 4096;
// Per entry, Int32 cells: handle, image uid + 1, durable (1) or not (0).
const HANDLE_CELLS = 4;
const CELL_HANDLE = 0;
const CELL_UID = 1;
const CELL_DURABLE = 2;
const HANDLE_MAX = 2 ** 31 - 1;

/** What a lane is started with. */
export interface LaneFastPathConfig {
  readonly handles: SharedArrayBuffer;
  readonly permits: SharedArrayBuffer;
}

/** The JS thread's side of the handle table. */
export class LaneHandles {
  readonly buffer = new SharedArrayBuffer(HANDLE_ENTRIES * HANDLE_CELLS * 4);
  readonly #cells = new Int32Array(this.buffer);

  /** Tells lanes that `handle` is image `uid` (a handle that does not fit stays off the fast path). */
  register(handle: number, uid: number, durable: boolean): void {
    if (handle <= 0 || handle > HANDLE_MAX || uid + 1 > HANDLE_MAX) return;
    const base = (handle & (HANDLE_ENTRIES - 1)) * HANDLE_CELLS;
    Atomics.store(this.#cells, base + CELL_HANDLE, 0);
    Atomics.store(this.#cells, base + CELL_UID, uid + 1);
    Atomics.store(this.#cells, base + CELL_DURABLE, durable ? 1 : 0);
    Atomics.store(this.#cells, base + CELL_HANDLE, handle);
  }

  /** Forgets `handle` (released). */
  unregister(handle: number): void {
    if (handle <= 0 || handle > HANDLE_MAX) return;
    const base = (handle & (HANDLE_ENTRIES - 1)) * HANDLE_CELLS;
    Atomics.compareExchange(this.#cells, base + CELL_HANDLE, handle, 0);
  }
}

/** The image uid of `handle` for a lane, or -1 (unknown, or durable and `forWrite`). */
function imageOf(cells: Int32Array<SharedArrayBuffer>, handle: number, forWrite: boolean): number {
  if (handle <= 0 || handle > HANDLE_MAX) return -1;
  const base = (handle & (HANDLE_ENTRIES - 1)) * HANDLE_CELLS;
  if (Atomics.load(cells, base + CELL_HANDLE) !== handle) return -1;
  const uid = Atomics.load(cells, base + CELL_UID) - 1;
  const durable = Atomics.load(cells, base + CELL_DURABLE) === 1;
  // The handle is written last and never reused, so seeing it again vouches for the cells read.
  if (Atomics.load(cells, base + CELL_HANDLE) !== handle) return -1;
  return durable && forWrite ? -1 : uid;
}

/** Called by each lane with the config the JS thread started it with. */
export function createLaneFastPath(config: unknown): LaneFastPath {
  const { handles, permits } = config as LaneFastPathConfig;
  const cells = new Int32Array(handles);
  const reader = new LanePermitReader(permits);
  return {
    read(handle, offset, target) {
      const uid = imageOf(cells, handle, false);
      return uid < 0 ? -1 : reader.read(uid, offset, target);
    },
    write(handle, offset, data) {
      const uid = imageOf(cells, handle, true);
      return uid >= 0 && reader.write(uid, offset, data);
    },
  };
}
