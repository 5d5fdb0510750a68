/**
 * ukai's metadata: nodes, images, per-block locations with in-sync /
 * out-of-sync status, ownership epochs and the activity log; the validated
 * commands that change them; the deterministic state machine that applies
 * them; snapshots; and the `MetaStore` port that Raft implements.
 *
 * Contract: `applyCommand` is deterministic — the same commands in the same
 * order give byte-identical snapshots on every node — and a refused command
 * changes nothing.
 *
 * @module
 */

export {
  type BlockRange,
  normalizeRanges,
  rangesOfIndexes,
  rangesWhere,
  runsOf,
} from "./block_ranges.ts";
export {
  type BlockMark,
  type Command,
  type CommandType,
  decodeCommand,
  encodeCommand,
  type NodeRole,
  parseCommand,
} from "./commands.ts";
export {
  BlockStatus,
  type BlockStatusValue,
  ImageRecord,
  type MoveJob,
  type OwnerKind,
} from "./image.ts";
export { ACTIVITY_BLOCKS_MAX } from "./apply_ownership.ts";
export { MemoryMetaStore } from "./memory_store.ts";
export type { MetaEvent, MetaStore, ProposeOptions } from "./meta_store.ts";
export { checkAddress, checkImageName, checkNodeId, imageStoreKey } from "./names.ts";
export { decodeSnapshot, encodeSnapshot } from "./snapshot.ts";
export { type ApplyResult, MetaState, type NodeRecord, REQUEST_RESULTS_MAX } from "./state.ts";
export { applyCommand, resultValue } from "./state_machine.ts";
export { type ImageView, imageView, imageViews, type LocationView, nodeViews } from "./views.ts";
