/**
 * JSON views of the metadata for the control API and `ukai … --json`: stable
 * field names, per-location block states compressed into ranges so a million
 * blocks print as a few lines.
 *
 * @module
 */

import { runsOf } from "./block_ranges.ts";
import { BlockStatus, type ImageRecord } from "./image.ts";
import type { MetaState, NodeRecord } from "./state.ts";

const STATUS_NAME = ["absent", "inSync", "outOfSync"] as const;

/** A location of an image: counts and ranges of block states. */
export interface LocationView {
  node: string;
  inSyncBlocks: number;
  outOfSyncBlocks: number;
  /** Block ranges `[start, end)` with their state, absent ranges left out. */
  ranges: { start: number; end: number; state: "inSync" | "outOfSync" }[];
}

/** An image as the control API shows it. */
export interface ImageView {
  name: string;
  uid: number;
  size: number;
  capacity: number;
  blockSize: number;
  blockCount: number;
  createdAtMs: number;
  owner: string | null;
  ownerKind: "io" | "resync" | null;
  epoch: number;
  hypervisors: string[];
  opens: string[];
  resyncRateBytesPerSecond: number;
  move: { from: string; to: string; startedAtMs: number } | null;
  activeBlocks: number;
  outOfSyncBlocks: number;
  locations: LocationView[];
}

/** The view of one location of `image`. */
export function locationView(image: ImageRecord, node: string): LocationView {
  const statuses = image.statusView(node) ?? new Uint8Array(image.blockCount);
  const counts = image.countsOf(node);
  return {
    node,
    inSyncBlocks: counts.inSync,
    outOfSyncBlocks: counts.outOfSync,
    ranges: runsOf(statuses)
      .filter((run) => run.value !== BlockStatus.absent)
      .map((run) => ({
        start: run.start,
        end: run.end,
        state: STATUS_NAME[run.value] as "inSync" | "outOfSync",
      })),
  };
}

/** The view of `image`. */
export function imageView(image: ImageRecord): ImageView {
  return {
    name: image.name,
    uid: image.uid,
    size: image.size,
    capacity: image.capacity,
    blockSize: image.blockSize,
    blockCount: image.blockCount,
    createdAtMs: image.createdAtMs,
    owner: image.owner,
    ownerKind: image.ownerKind,
    epoch: image.epoch,
    hypervisors: [...image.hypervisors].sort(),
    opens: [...image.opens].sort(),
    resyncRateBytesPerSecond: image.resyncRateBytesPerSecond,
    move: image.move === null ? null : { ...image.move },
    activeBlocks: image.activity.size,
    outOfSyncBlocks: image.outOfSyncTotal(),
    locations: image.locationNodes().sort().map((node) => locationView(image, node)),
  };
}

/** Every image, sorted by name. */
export function imageViews(state: MetaState): ImageView[] {
  return [...state.images.values()].sort((a, b) => a.name.localeCompare(b.name)).map(imageView);
}

/** Every node, sorted by id. */
export function nodeViews(state: MetaState): NodeRecord[] {
  return [...state.nodes.values()].sort((a, b) => a.id.localeCompare(b.id)).map((node) => ({
    ...node,
  }));
}
