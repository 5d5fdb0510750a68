/**
 * What a new owner must mark before it does any I/O (design rules 3 and 4),
 * as a pure function of the image, the locations that did not answer the
 * fence, and the activity log it inherited:
 *
 * - every in-sync copy at an unreachable location goes out of sync (it was
 *   not fenced, so a deposed owner might still write to it) — unless no
 *   reachable in-sync copy of that block exists, in which case nothing can
 *   be marked and the block waits;
 * - for every block in the activity log, one reachable in-sync copy is kept
 *   (this node's own when it has one) and the other reachable ones go out of
 *   sync, so the resync makes them identical to it; the entry is retired.
 *   An entry whose copies are all unreachable stays for a later owner.
 *
 * @module
 */

import { type BlockMark, BlockStatus, type ImageRecord, rangesOfIndexes } from "../meta/mod.ts";

/** The marks and activity-log retirements of a takeover. */
export interface TakeoverPlan {
  readonly marks: BlockMark[];
  readonly retireActivity: number[];
}

/** Plans a takeover of `image` by `self`. */
export function planTakeover(
  image: ImageRecord,
  self: string,
  unreachable: ReadonlySet<string>,
  activity: readonly number[],
): TakeoverPlan {
  const outOfSync = new Map<string, number[]>();
  const mark = (node: string, block: number) => {
    const blocks = outOfSync.get(node) ?? [];
    blocks.push(block);
    outOfSync.set(node, blocks);
  };
  const reachableInSync = (block: number) =>
    image.inSyncNodes(block).filter((node) => !unreachable.has(node));

  for (const node of unreachable) {
    const statuses = image.statusView(node);
    if (statuses === undefined) continue;
    let block = statuses.indexOf(BlockStatus.inSync);
    while (block !== -1) {
      if (reachableInSync(block).length > 0) mark(node, block);
      block = statuses.indexOf(BlockStatus.inSync, block + 1);
    }
  }

  const retireActivity: number[] = [];
  for (const block of [...activity].sort((a, b) => a - b)) {
    const reachable = reachableInSync(block);
    if (reachable.length === 0) continue;
    const source = reachable.includes(self) ? self : reachable[0] as string;
    for (const node of reachable) if (node !== source) mark(node, block);
    retireActivity.push(block);
  }

  const marks: BlockMark[] = [...outOfSync].sort(([a], [b]) => a.localeCompare(b)).map((
    [node, blocks],
  ) => ({ node, ranges: rangesOfIndexes(blocks), status: "outOfSync" }));
  return { marks, retireActivity };
}
