/**
 * One image's metadata: size and block geometry, who may own it and who does
 * (with the fencing epoch), which nodes hold it open, and per location a
 * status byte per block (absent / in sync / out of sync) with running counts.
 *
 * Status arrays are mutated in place: flipping one block costs O(1) and never
 * copies an array, so a 1 TiB image with 1 MiB blocks (1,048,576 blocks) and
 * three locations stays cheap to change. Readers get the arrays read-only by
 * convention (`statusView`); only the state machine mutates them.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { BlockRange } from "./block_ranges.ts";

/** Status of one block at one location. */
export const BlockStatus = { absent: 0, inSync: 1, outOfSync: 2 } as const;
/** A value of {@link BlockStatus}. */
export type BlockStatusValue = typeof BlockStatus[keyof typeof BlockStatus];

/** Why an image has an owner: a VM's I/O, or a resync with no VM attached. */
export type OwnerKind = "io" | "resync";

/** Per-location block counts, kept up to date on every change. */
export interface LocationCounts {
  inSync: number;
  outOfSync: number;
}

/** A relocation in progress: add `to`, let it sync, then remove `from`. */
export interface MoveJob {
  readonly from: string;
  readonly to: string;
  readonly startedAtMs: number;
}

/** The fixed facts of an image, as given at creation. */
export interface ImageGeometry {
  readonly name: string;
  readonly uid: number;
  readonly capacity: number;
  readonly blockSize: number;
  readonly createdAtMs: number;
}

/** One image. Mutated only by the state machine. */
export class ImageRecord {
  readonly name: string;
  /** Never reused: distinguishes a re-created image from the removed one. */
  readonly uid: number;
  /** Bytes addressable: blockCount × blockSize. */
  readonly capacity: number;
  readonly blockSize: number;
  readonly blockCount: number;
  readonly createdAtMs: number;
  /** Visible file size; invariant: multiple of 512, ≤ capacity. */
  size: number;
  /** Nodes allowed to own the image for VM I/O; empty means every node. */
  readonly hypervisors = new Set<string>();
  owner: string | null = null;
  ownerKind: OwnerKind | null = null;
  /** Bumped on every change of owner; block servers refuse I/O with an older one. */
  epoch = 0;
  /** Nodes that have the image open through their mount. */
  readonly opens = new Set<string>();
  /** Resync rate cap for this image in bytes/s; 0 means the node's default. */
  resyncRateBytesPerSecond = 0;
  move: MoveJob | null = null;
  /**
   * Activity log: blocks that may have writes in flight, with the epoch that
   * added them. A new owner reconciles these before serving I/O.
   */
  readonly activity = new Map<number, number>();
  readonly #statuses = new Map<string, Uint8Array>();
  readonly #counts = new Map<string, LocationCounts>();

  constructor(geometry: ImageGeometry) {
    assert(geometry.capacity % geometry.blockSize === 0, "capacity must be whole blocks");
    this.name = geometry.name;
    this.uid = geometry.uid;
    this.capacity = geometry.capacity;
    this.blockSize = geometry.blockSize;
    this.blockCount = geometry.capacity / geometry.blockSize;
    this.createdAtMs = geometry.createdAtMs;
    this.size = geometry.capacity;
  }

  /** Nodes that are a location of at least one block, in insertion order. */
  locationNodes(): string[] {
    return [...this.#statuses.keys()];
  }

  /** Whether `node` holds a status array (is a location of some block). */
  hasLocation(node: string): boolean {
    return this.#statuses.has(node);
  }

  /** The status of `block` at `node`. */
  statusOf(node: string, block: number): BlockStatusValue {
    const statuses = this.#statuses.get(node);
    return (statuses === undefined ? 0 : statuses[block] ?? 0) as BlockStatusValue;
  }

  /** The status array of `node` (read-only by convention), or undefined. */
  statusView(node: string): Uint8Array | undefined {
    return this.#statuses.get(node);
  }

  /** Running counts for `node`. */
  countsOf(node: string): LocationCounts {
    return { ...(this.#counts.get(node) ?? { inSync: 0, outOfSync: 0 }) };
  }

  /** Nodes whose copy of `block` is in sync. */
  inSyncNodes(block: number): string[] {
    const nodes: string[] = [];
    for (const [node, statuses] of this.#statuses) {
      if (statuses[block] === BlockStatus.inSync) nodes.push(node);
    }
    return nodes;
  }

  /** How many locations hold `block` in sync (no allocation; hot in validations). */
  inSyncCount(block: number): number {
    let count = 0;
    for (const statuses of this.#statuses.values()) {
      if (statuses[block] === BlockStatus.inSync) count++;
    }
    return count;
  }

  /** Every location of `block` with its status. */
  locationsOf(block: number): { node: string; status: BlockStatusValue }[] {
    const result: { node: string; status: BlockStatusValue }[] = [];
    for (const [node, statuses] of this.#statuses) {
      const status = statuses[block] as BlockStatusValue;
      if (status !== BlockStatus.absent) result.push({ node, status });
    }
    return result;
  }

  /** Sets `status` for every block of `range` at `node`, keeping the counts. */
  setStatus(node: string, range: BlockRange, status: BlockStatusValue): void {
    assert(0 <= range.start && range.start <= range.end && range.end <= this.blockCount);
    let statuses = this.#statuses.get(node);
    if (statuses === undefined) {
      if (status === BlockStatus.absent) return;
      statuses = new Uint8Array(this.blockCount);
      this.#statuses.set(node, statuses);
      this.#counts.set(node, { inSync: 0, outOfSync: 0 });
    }
    const counts = this.#counts.get(node) as LocationCounts;
    for (let block = range.start; block < range.end; block++) {
      const old = statuses[block];
      if (old === status) continue;
      if (old === BlockStatus.inSync) counts.inSync--;
      else if (old === BlockStatus.outOfSync) counts.outOfSync--;
      if (status === BlockStatus.inSync) counts.inSync++;
      else if (status === BlockStatus.outOfSync) counts.outOfSync++;
      statuses[block] = status;
    }
    if (counts.inSync === 0 && counts.outOfSync === 0) {
      this.#statuses.delete(node);
      this.#counts.delete(node);
    }
  }

  /** Installs a whole status array for `node` (snapshot restore). */
  restoreStatuses(node: string, statuses: Uint8Array): void {
    assert(statuses.length === this.blockCount, "status array length must equal blockCount");
    const counts = { inSync: 0, outOfSync: 0 };
    for (const status of statuses) {
      if (status === BlockStatus.inSync) counts.inSync++;
      else if (status === BlockStatus.outOfSync) counts.outOfSync++;
      else assert(status === BlockStatus.absent, "unknown block status in snapshot");
    }
    if (counts.inSync + counts.outOfSync === 0) return;
    this.#statuses.set(node, statuses);
    this.#counts.set(node, counts);
  }

  /** Sum of out-of-sync blocks over all locations. */
  outOfSyncTotal(): number {
    let total = 0;
    for (const counts of this.#counts.values()) total += counts.outOfSync;
    return total;
  }

  /** Checks the counters against the arrays (O(blocks × locations); tests and sim). */
  verifyCounts(): void {
    for (const [node, statuses] of this.#statuses) {
      let inSync = 0;
      let outOfSync = 0;
      for (const status of statuses) {
        if (status === BlockStatus.inSync) inSync++;
        if (status === BlockStatus.outOfSync) outOfSync++;
      }
      const counts = this.#counts.get(node);
      assert(counts?.inSync === inSync && counts.outOfSync === outOfSync, `counts of ${node}`);
      assert(inSync + outOfSync > 0, `empty location ${node} kept`);
    }
  }
}
