/**
 * A lane fast path for ffi/fuse_lanes_test.ts: serves READs at or past
 * `servedFrom` with the byte `0x5a` (what the memory filesystem never holds)
 * and declines the rest; declines every WRITE. Counts what it did in the
 * shared `counts` cells: reads served, reads declined, writes declined.
 *
 * @module
 */

import type { LaneFastPath } from "../fuse_lanes.ts";

/** The lane's config. */
export interface FixtureConfig {
  readonly counts: SharedArrayBuffer;
  readonly servedFrom: number;
}

export function createLaneFastPath(config: unknown): LaneFastPath {
  const { counts, servedFrom } = config as FixtureConfig;
  const cells = new Int32Array(counts);
  return {
    read(_handle, offset, target) {
      if (offset < servedFrom) {
        Atomics.add(cells, 1, 1);
        return -1;
      }
      target.fill(0x5a);
      Atomics.add(cells, 0, 1);
      return target.length;
    },
    write() {
      Atomics.add(cells, 2, 1);
      return false;
    },
  };
}
