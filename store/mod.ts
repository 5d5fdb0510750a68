/**
 * store/: local persistence.
 *
 * - {@link BlockStore} / {@link ImageBlocks}: block files of image copies
 *   (`ROOT/images/<imageKey>/<%08d>`), synchronous positional I/O on cached
 *   descriptors, durability through `flush()`, atomic whole-block replacement
 *   for resync, quarantine of wrong-size files, the per-image fence epoch.
 * - {@link Wal}: a generic segmented write-ahead log with CRC-framed records,
 *   group commit and torn-tail recovery (for the Raft node).
 * - {@link writeFileAtomic}: crash-safe whole-file replacement (snapshots,
 *   small state files).
 * - {@link writeInPieces}: how a write into a block file is split (for writes
 *   made through {@link ImageBlocks.descriptor}).
 *
 * Contract: every operating failure is a `UkaiError` — NO_SPACE for a full
 * disk, IO for other OS failures, BLOCK_FILE_CORRUPT for a block file of the
 * wrong size, CHECKSUM_MISMATCH for a damaged log or fence, INVALID_ARGUMENT
 * for bad keys, indexes and ranges.
 *
 * @module
 */

export { writeFileAtomic } from "./atomic_file.ts";
export { IMAGE_KEY_LENGTH_MAX, validateImageKey } from "./_block_names.ts";
export {
  BlockStore,
  type BlockStoreOptions,
  OPEN_FILES_MAX_DEFAULT,
  type StoreCapacity,
  SYNC_CONCURRENCY_MAX_DEFAULT,
} from "./block_store.ts";
export { type BlockExtent, ImageBlocks, type PackedBlock } from "./image_blocks.ts";
export { writeInPieces } from "./_write_pieces.ts";
export {
  type ReplayedRecord,
  SEGMENT_BYTES_MAX_DEFAULT,
  type TruncatedTail,
  Wal,
  type WalOpenResult,
  type WalOptions,
  type WalPosition,
  type WalRecord,
  type WalStats,
} from "./wal.ts";
