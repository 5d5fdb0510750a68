/**
 * A pure, deterministic Raft core on the design of etcd-io/raft. It does no
 * I/O and reads no clock: time enters through {@link RawNode.tick}, messages
 * through {@link RawNode.step}, randomness through the seeded `Rng` in
 * {@link Config}. Everything it wants done comes out of {@link RawNode.ready}.
 *
 * Features: randomised elections with PreVote and CheckQuorum; a no-op entry
 * per new leader and commitment by counting only in the current term (section 5.4.2);
 * log repair with fast backtracking; flow control (probe / replicate /
 * snapshot, bounded inflights); snapshots and log compaction; learners;
 * single-server membership changes; ReadIndex (safe option); leadership
 * transfer.
 *
 * ## The Ready procedure (the caller's contract)
 *
 * One driver owns the node. Whenever `hasReady()` is true:
 *
 * 1. `const rd = node.ready()`.
 * 2. **Persist**, in this order: if `rd.snapshot`, install it in storage
 *    (`MemoryStorage.applySnapshot` on the mirror); if `rd.hardState`, write
 *    it; append `rd.entries` (they replace any overlapping suffix of the log).
 *    If `rd.mustSync`, fsync before going on. The WAL must be durable here:
 *    messages below promise that term, vote and entries survive a crash.
 * 3. **Send** `rd.messages`, only now. A vote, a vote grant or an
 *    append acknowledgement sent before step 2 is durable breaks Raft's safety.
 *    The leader's appends, heartbeats and snapshots (`sendableBeforePersist`)
 *    may leave earlier, while step 2 runs, so that its own fsync and its
 *    followers' overlap.
 *    If a snapshot cannot be delivered, call `reportSnapshot(id, false)`; when
 *    it is delivered, `reportSnapshot(id, true)`. Call `reportUnreachable(id)`
 *    when the transport gives up on a peer.
 * 4. **Apply**: if `rd.snapshot`, restore the state machine from it; then apply
 *    `rd.committedEntries` in order. The prefix `committedBeforePersist(rd)`
 *    (entries already durable here) may be applied earlier, while step 2
 *    runs. For an entry of type `"confChange"`, decode its data with
 *    `decodeConfChange` and call `applyConfChange()` (then store
 *    the returned `ConfState` with your next snapshot). Serve each of
 *    `rd.readStates` once the applied index reaches its `index`.
 * 5. `node.advance()`.
 *
 * Between `ready()` and `advance()` other calls (`step`, `tick`, `propose`...)
 * are allowed; their output goes into the next Ready, and `hasReady()` stays
 * false until `advance()`. Compact the log (`MemoryStorage.createSnapshot`,
 * `compact`) only up to the applied index.
 *
 * ## Starting
 *
 * A new group: every initial member starts from the same bootstrap,
 * `MemoryStorage.bootstrap({ voters: ["n1", "n2", "n3"], learners: [] }, initialData)`
 * (a snapshot at index 1, term 1 carrying the membership; persist it to the WAL
 * like any installed snapshot), with `applied: 0`. Do not bootstrap a real group
 * with `new MemoryStorage({ confState })`: that membership lives at "index 0",
 * in no entry and no snapshot, so a node joining later could never learn it.
 *
 * A joining node starts with empty storage and `applied: 0`. The leader adds it
 * as a learner (`proposeConfChange({ type: "addLearner", nodeId, context })`),
 * catches it up, and later promotes it (`addNode`). Its log starts after the
 * bootstrap snapshot, so it always receives a snapshot first, and a node only
 * installs a snapshot whose `ConfState` includes it: after applying the change
 * that added a node, make a fresh snapshot (`createSnapshot` at the applied
 * index, with the `ConfState` returned by `applyConfChange`), or let
 * `Storage.snapshot()` build one on demand.
 *
 * On restart, rebuild the storage mirror from the WAL (snapshot, hard state,
 * entries) and pass the applied index of the restored state machine as
 * `applied`; committed entries after it come back in `committedEntries`.
 *
 * ## Testing
 *
 * `raft/testing/network.ts` (not exported here) is an in-memory network of
 * RawNodes that follows this procedure, with seeded loss, reordering,
 * partitions and restarts, for behaviour tests and simulators.
 * `Config.testingKnobs` plants known safety bugs for checker self-tests.
 *
 * ## Refusals
 *
 * Nothing here throws for operating conditions: `propose`, `proposeConfChange`
 * and `readIndex` return a {@link ProposeResult} / {@link ReadIndexResult}
 * (`{ kind: "dropped", reason }` when refused; see {@link DropReason}), and
 * `step` returns a {@link StepResult}. Broken invariants (bugs, corrupted
 * storage) fail an `assert` and crash. Storage implementations throw
 * {@link StorageError}; the codec throws {@link RaftCodecError}.
 *
 * @example
 * ```ts
 * import { MemoryStorage, RawNode } from "./mod.ts";
 * import { Rng } from "../base/rng.ts";
 *
 * const storage = new MemoryStorage({ confState: { voters: ["n1"], learners: [] } });
 * const node = new RawNode({
 *   id: "n1", storage, applied: 0, maxSizePerMsg: 1 << 20, maxInflightMsgs: 256,
 *   checkQuorum: true, preVote: true, rng: new Rng(42),
 * });
 * node.campaign();
 * node.propose(new TextEncoder().encode("hello"));
 * const applied: string[] = [];
 * while (node.hasReady()) {
 *   const rd = node.ready();
 *   if (rd.snapshot) storage.applySnapshot(rd.snapshot);
 *   if (rd.hardState) storage.setHardState(rd.hardState);
 *   storage.append(rd.entries); // fsync here when rd.mustSync
 *   // send rd.messages here (none: a single node)
 *   for (const entry of rd.committedEntries) {
 *     if (entry.data.length > 0) applied.push(new TextDecoder().decode(entry.data));
 *   }
 *   node.advance();
 * }
 * if (applied[0] !== "hello") throw new Error("not applied");
 * ```
 *
 * @module
 */

export {
  CODEC_VERSION,
  decodeConfChange,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  encodeConfChange,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
  RaftCodecError,
} from "./codec.ts";
export {
  type Config,
  ELECTION_TICKS_DEFAULT,
  HEARTBEAT_TICKS_DEFAULT,
  NODE_ID_BYTES_MAX,
  RaftConfigError,
  type TestingKnobs,
  validateConfig,
} from "./config.ts";
export type { Dropped, DropReason, ProposeResult, ReadIndexResult } from "./raft.ts";
export {
  committedBeforePersist,
  type ProgressStatus,
  RawNode,
  type Ready,
  sendableBeforePersist,
  type Status,
  type StepResult,
} from "./raw_node.ts";
export { READ_INDEX_PENDING_MAX } from "./read_only.ts";
export {
  isStorageError,
  MemoryStorage,
  type Storage,
  StorageError,
  type StorageErrorKind,
} from "./storage.ts";
export {
  type ConfChange,
  type ConfState,
  type Entry,
  type EntryType,
  type HardState,
  type Message,
  MessageType,
  newMessage,
  NO_LIMIT,
  NO_NODE,
  type NodeId,
  type ProgressStateType,
  type RaftStateType,
  type ReadState,
  type Snapshot,
  type SnapshotMetadata,
  type SoftState,
} from "./types.ts";
export { messageInvalid } from "./validate.ts";
