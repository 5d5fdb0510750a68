/**
 * Command handlers for where blocks live: add a location (its blocks start out
 * of sync), remove one (refused for blocks whose only in-sync copy it is),
 * mark blocks in or out of sync (the owner, at its epoch), and the image move
 * that adds a location, waits for it and removes the old one.
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import { LOCATIONS_PER_IMAGE_MAX } from "../constants.ts";
import { type BlockRange, normalizeRanges, rangesOfIndexes } from "./block_ranges.ts";
import type { BlockMark, Command } from "./commands.ts";
import { BlockStatus, type ImageRecord } from "./image.ts";
import type { MetaState } from "./state.ts";

type Of<T extends Command["type"]> = Extract<Command, { type: T }>;

function wholeOrRange(image: ImageRecord, range: BlockRange | undefined): BlockRange {
  const chosen = range ?? { start: 0, end: image.blockCount };
  if (chosen.end > image.blockCount) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Block range ${chosen.start}-${chosen.end - 1} is outside image "${image.name}" (blocks 0-${
        image.blockCount - 1
      })`,
    );
  }
  return chosen;
}

export function checkEpoch(image: ImageRecord, epoch: number, action: string): void {
  if (epoch !== image.epoch) {
    throw new UkaiError(
      "STALE_EPOCH",
      `Cannot ${action} for image "${image.name}" at epoch ${epoch}: it is at epoch ${image.epoch}`,
    );
  }
}

/** Adds `node` as an out-of-sync location of every block of `range` it does not hold yet. */
function addLocation(image: ImageRecord, node: string, range: BlockRange): number {
  if (!image.hasLocation(node) && image.locationNodes().length >= LOCATIONS_PER_IMAGE_MAX) {
    throw new UkaiError(
      "CONFLICT",
      `Image "${image.name}" already has ${LOCATIONS_PER_IMAGE_MAX} locations`,
    );
  }
  const absent: number[] = [];
  for (let block = range.start; block < range.end; block++) {
    if (image.statusOf(node, block) === BlockStatus.absent) absent.push(block);
  }
  for (const run of rangesOfIndexes(absent)) image.setStatus(node, run, BlockStatus.outOfSync);
  return absent.length;
}

/** location.add: new blocks start out of sync; blocks already held are unchanged. */
export function applyLocationAdd(state: MetaState, command: Of<"location.add">) {
  const image = state.image(command.name);
  state.node(command.node);
  const range = wholeOrRange(image, command.range);
  const addedBlocks = addLocation(image, command.node, range);
  return { name: image.name, node: command.node, addedBlocks };
}

/** Blocks in `range` whose only in-sync copy is at `node`. */
function onlyCopies(image: ImageRecord, node: string, range: BlockRange): number[] {
  const statuses = image.statusView(node);
  if (statuses === undefined) return [];
  const blocks: number[] = [];
  for (let block = range.start; block < range.end; block++) {
    if (statuses[block] !== BlockStatus.inSync) continue;
    if (image.inSyncCount(block) === 1) blocks.push(block);
  }
  return blocks;
}

/** Removes `node` from `range`; returns the ranges it held (their block files go). */
function removeLocation(image: ImageRecord, node: string, range: BlockRange): BlockRange[] {
  if (!image.hasLocation(node)) {
    throw new UkaiError(
      "NOT_A_LOCATION",
      `Node "${node}" is not a location of image "${image.name}"`,
    );
  }
  const lastCopies = onlyCopies(image, node, range);
  if (lastCopies.length > 0) {
    const ranges = rangesOfIndexes(lastCopies);
    const shown = ranges.slice(0, 20).map((r) =>
      r.end - r.start === 1 ? `${r.start}` : `${r.start}-${r.end - 1}`
    );
    throw new UkaiError(
      "LAST_IN_SYNC_LOCATION",
      `Cannot remove location "${node}" of image "${image.name}": it holds the only in-sync copy of blocks ${
        shown.join(", ")
      }${ranges.length > 20 ? ", …" : ""}`,
      { details: { blocks: ranges.map((r) => [r.start, r.end]) } },
    );
  }
  const held: number[] = [];
  for (let block = range.start; block < range.end; block++) {
    if (image.statusOf(node, block) !== BlockStatus.absent) held.push(block);
  }
  image.setStatus(node, range, BlockStatus.absent);
  return rangesOfIndexes(held);
}

/** location.remove: refused (with the block list) for blocks whose only in-sync copy it is. */
export function applyLocationRemove(state: MetaState, command: Of<"location.remove">) {
  const image = state.image(command.name);
  const range = wholeOrRange(image, command.range);
  const removed = removeLocation(image, command.node, range);
  return {
    name: image.name,
    uid: image.uid,
    node: command.node,
    removed: removed.map((r) => [r.start, r.end]),
  };
}

function checkMarks(image: ImageRecord, marks: readonly BlockMark[]): void {
  for (const mark of marks) {
    for (const range of mark.ranges) {
      wholeOrRange(image, range);
      for (let block = range.start; block < range.end; block++) {
        if (image.statusOf(mark.node, block) === BlockStatus.absent) {
          throw new UkaiError(
            "NOT_A_LOCATION",
            `Cannot mark block ${block} of image "${image.name}" at "${mark.node}": not a location`,
          );
        }
      }
    }
  }
}

/** Blocks that `marks` would leave without any in-sync copy. */
function blocksLeftWithoutCopy(image: ImageRecord, marks: readonly BlockMark[]): number[] {
  const outOfSync = new Map<string, BlockRange[]>();
  const inSync = new Map<string, BlockRange[]>();
  for (const mark of marks) {
    const target = mark.status === "outOfSync" ? outOfSync : inSync;
    target.set(mark.node, [...(target.get(mark.node) ?? []), ...mark.ranges]);
  }
  const covers = (ranges: BlockRange[] | undefined, block: number) =>
    ranges?.some((range) => range.start <= block && block < range.end) ?? false;
  const orphaned: number[] = [];
  for (const range of normalizeRanges([...outOfSync.values()].flat())) {
    for (let block = range.start; block < range.end; block++) {
      const survivors = image.locationsOf(block).filter(({ node, status }) =>
        covers(inSync.get(node), block) ||
        (status === BlockStatus.inSync && !covers(outOfSync.get(node), block))
      );
      if (survivors.length === 0) orphaned.push(block);
    }
  }
  return orphaned;
}

/**
 * blocks.mark: the owner (at its epoch) records copies that missed writes, or
 * that a resync brought back, and may retire activity-log entries at once.
 * Refused whole if it would leave a block with no in-sync copy.
 */
export function applyBlocksMark(state: MetaState, command: Of<"blocks.mark">) {
  const image = state.image(command.name);
  checkEpoch(image, command.epoch, "mark blocks");
  checkMarks(image, command.marks);
  const orphaned = blocksLeftWithoutCopy(image, command.marks);
  if (orphaned.length > 0) {
    throw new UkaiError(
      "NO_IN_SYNC_LOCATION",
      `Cannot mark blocks of image "${image.name}" out of sync: blocks ${
        orphaned.slice(0, 10).join(", ")
      } would have no in-sync copy`,
      { details: { blocks: orphaned.slice(0, 1000) } },
    );
  }
  let changed = 0;
  for (const mark of command.marks) {
    const status = mark.status === "inSync" ? BlockStatus.inSync : BlockStatus.outOfSync;
    for (const range of mark.ranges) {
      image.setStatus(mark.node, range, status);
      changed += range.end - range.start;
    }
  }
  for (const block of command.retireActivity) image.activity.delete(block);
  return { name: image.name, changed };
}

/** move.start: records the move and adds `to` wherever `from` is a location. */
export function applyMoveStart(state: MetaState, command: Of<"move.start">) {
  const image = state.image(command.name);
  state.node(command.to);
  if (image.move !== null) {
    if (image.move.from === command.from && image.move.to === command.to) {
      return { name: image.name, addedBlocks: 0, resumed: true };
    }
    throw new UkaiError(
      "CONFLICT",
      `Image "${image.name}" is already moving from "${image.move.from}" to "${image.move.to}"`,
    );
  }
  if (command.from === command.to) {
    throw new UkaiError("INVALID_ARGUMENT", "A move needs two different nodes");
  }
  const from = image.statusView(command.from);
  if (from === undefined) {
    throw new UkaiError(
      "NOT_A_LOCATION",
      `Node "${command.from}" is not a location of image "${image.name}"`,
    );
  }
  const held: number[] = [];
  for (let block = 0; block < image.blockCount; block++) {
    if (from[block] !== BlockStatus.absent) held.push(block);
  }
  let addedBlocks = 0;
  for (const range of rangesOfIndexes(held)) {
    addedBlocks += addLocation(image, command.to, range);
  }
  image.move = { from: command.from, to: command.to, startedAtMs: command.startedAtMs };
  return { name: image.name, addedBlocks, resumed: false };
}

/** move.finish: removes the old location (refused while it holds a last copy) and ends the move. */
export function applyMoveFinish(state: MetaState, command: Of<"move.finish">) {
  const image = state.image(command.name);
  const move = image.move;
  if (move === null) {
    throw new UkaiError("NOT_FOUND", `Image "${image.name}" is not being moved`);
  }
  const removed = image.hasLocation(move.from)
    ? removeLocation(image, move.from, { start: 0, end: image.blockCount })
    : [];
  image.move = null;
  return {
    name: image.name,
    uid: image.uid,
    node: move.from,
    removed: removed.map((r) => [r.start, r.end]),
  };
}

/** move.cancel: forgets the move; the new location stays. */
export function applyMoveCancel(state: MetaState, command: Of<"move.cancel">) {
  const image = state.image(command.name);
  if (image.move === null) {
    throw new UkaiError("NOT_FOUND", `Image "${image.name}" is not being moved`);
  }
  image.move = null;
  return { name: image.name };
}
