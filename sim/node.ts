/**
 * The node driver: one simulated Raft node around a {@link RawNode}, following
 * the Ready procedure of `raft/mod.ts` with a simulated disk and network:
 *
 * 1. `ready()`; write snapshot + hard state + entries as one WAL record and
 *    mirror them into the `MemoryStorage` the core reads;
 * 2. if `mustSync`, wait for a simulated fsync (the node keeps ticking and
 *    stepping meanwhile; their output waits for the next Ready);
 * 3. send the messages; 4. apply the snapshot and committed entries, serve
 *    confirmed reads; 5. `advance()`; then compact if due.
 *
 * Crash points sit where persistence bugs hide: after a vote grant is sent,
 * between append and fsync, between fsync and send, during a snapshot
 * install, during a membership change. A restart rebuilds the mirror and the
 * state machine from the durable WAL alone and passes the restored applied
 * index, as the real node layer does.
 *
 * Three planted bugs live here (the others are raft `testingKnobs`):
 * `forgetVoteOnRestart`, `sendBeforeFsync` and `readBeforeApplied`.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Rng } from "../base/rng.ts";
import {
  committedBeforePersist,
  type ConfChange,
  type Config,
  type ConfState,
  decodeConfChange,
  type Entry,
  MemoryStorage,
  type Message,
  MessageType,
  NO_LIMIT,
  NO_NODE,
  type NodeId,
  type ProposeResult,
  RawNode,
  type ReadIndexResult,
  type Ready,
  sendableBeforePersist,
  type Status,
  type StepResult,
} from "../raft/mod.ts";
import { type CrashOutcome, DISK_RECORDS_MAX, SimDisk } from "./disk.ts";
import type { CrashPoint, Knobs } from "./knobs.ts";
import { decodeCommand, type KvApplyOutcome, type KvCommand, KvStateMachine } from "./kv.ts";
import type { WalRecord } from "./wal.ts";

/** Most Readys handled in one pump (each Ready is finite work; more means a loop). */
export const READYS_PER_PUMP_MAX = 1_000;
/** Most confirmed reads a node holds until its applied index catches up. */
export const PENDING_READS_MAX = 256;

/** What a node reports to the world around it (the cluster implements it). */
export interface NodeEnvironment {
  readonly knobs: Knobs;
  /** A message leaves `node` now. */
  send(node: SimNode, message: Message): void;
  /** Calls `node.fsyncDone(incarnation)` after a simulated fsync delay. */
  scheduleFsync(node: SimNode): void;
  /** `node` reached `point`: true when it must crash right here (the environment crashes it). */
  crashPoint(node: SimNode, point: CrashPoint): boolean;
  /**
   * `node` is about to write `record` (its mirror still holds the log before
   * it); `status` is the core's state, which the write does not change.
   */
  persisting(node: SimNode, record: WalRecord, status: Status): void;
  /** `node` wrote `record`: its mirror now equals the core's log. */
  persisted(node: SimNode, record: WalRecord, status: Status): void;
  /**
   * What `node` wrote with the core in `status` is durable now (the mirror has
   * not changed since): from here on its commit index stands.
   */
  durable(node: SimNode, status: Status): void;
  /** `node` applied `entry`; its state machine now has fingerprint `stateHash`. */
  applied(node: SimNode, entry: Entry, stateHash: number): void;
  /** `node` applied a client command with this outcome. */
  commandApplied(node: SimNode, command: KvCommand, outcome: KvApplyOutcome): void;
  /** `node` restored its state machine from a snapshot at `index`. */
  snapshotRestored(node: SimNode, index: number, stateHash: number): void;
  /** A read confirmed with `context` may now be served from `node`'s state machine. */
  readReady(node: SimNode, context: Uint8Array): void;
  /** A line for the trace. */
  traceLine(line: string): void;
}

/** A Ready taken from the core, and the core's status when it was written. */
interface WrittenReady {
  ready: Ready;
  /** Undefined when the Ready had nothing to write. */
  status: Status | undefined;
}

interface PendingRead {
  index: number;
  context: Uint8Array;
}

interface SnapshotWish {
  index: number;
  confState: ConfState;
  data: Uint8Array;
}

/** Whether a node runs: `crashed` may restart; `stopped` was removed from the group for good. */
export type NodeLiveness = "running" | "crashed" | "stopped";

/** One simulated node. */
export class SimNode {
  readonly id: NodeId;
  readonly disk = new SimDisk();
  #environment: NodeEnvironment;
  #rng: Rng;
  #liveness: NodeLiveness = "crashed";
  #incarnation = 0;
  #raw: RawNode | undefined;
  #mirror = new MemoryStorage();
  #kv = new KvStateMachine();
  #appliedIndex = 0;
  #confState: ConfState = { voters: [], learners: [] };
  #outstanding: WrittenReady | undefined;
  #reads: PendingRead[] = [];
  #snapshotWish: SnapshotWish | undefined;

  constructor(id: NodeId, environment: NodeEnvironment, rng: Rng) {
    this.id = id;
    this.#environment = environment;
    this.#rng = rng;
  }

  /** Running, crashed or stopped. */
  get liveness(): NodeLiveness {
    return this.#liveness;
  }

  /** Increases at every start; events of an older incarnation are stale. */
  get incarnation(): number {
    return this.#incarnation;
  }

  /** The in-memory mirror of the WAL that the core reads. */
  get mirror(): MemoryStorage {
    return this.#mirror;
  }

  /** The state machine. */
  get kv(): KvStateMachine {
    return this.#kv;
  }

  /** The index of the last applied entry or snapshot. */
  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** True while a Ready waits for its fsync. */
  get awaitingFsync(): boolean {
    return this.#outstanding !== undefined;
  }

  /** The core's status (the node must be running). */
  status(): Status {
    return this.#node().status();
  }

  /**
   * (Re)starts from the durable WAL: rebuilds the mirror, restores the state
   * machine from the snapshot, and passes the snapshot index as `applied`.
   */
  start(): void {
    assert(this.#liveness === "crashed", `${this.id}: start while ${this.#liveness}`);
    const log = this.disk.recover();
    const hardState = { ...log.hardState };
    if (this.#environment.knobs.bugs.forgetVoteOnRestart) hardState.vote = NO_NODE;
    const mirror = new MemoryStorage();
    if (log.snapshotIndex() > 0) mirror.applySnapshot(log.snapshot!);
    mirror.setHardState(hardState);
    mirror.append(log.entries);
    this.#mirror = mirror;
    this.#kv = KvStateMachine.restore(log.snapshot?.data ?? new Uint8Array());
    this.#appliedIndex = log.snapshotIndex();
    this.#confState = log.snapshot?.metadata.confState ?? { voters: [], learners: [] };
    this.#outstanding = undefined;
    this.#reads = [];
    this.#snapshotWish = undefined;
    this.#incarnation++;
    this.#raw = new RawNode(this.#config());
    this.#liveness = "running";
    this.#environment.traceLine(
      `${this.id} start #${this.#incarnation}: snapshot ${log.snapshotIndex()} ` +
        `last ${log.lastIndex()} term ${hardState.term} vote "${hardState.vote}"`,
    );
  }

  /** Power loss: volatile state is gone; the disk keeps what was fsynced (maybe a torn tail). */
  crash(why: string): CrashOutcome {
    assert(this.#liveness === "running", `${this.id}: crash while ${this.#liveness}`);
    const outcome = this.disk.crash(this.#rng, this.#environment.knobs.disk.tornWriteProbability);
    this.#drop("crashed");
    this.#environment.traceLine(
      `${this.id} CRASH (${why}): lost ${outcome.unsyncedRecordsLost} unsynced records, ` +
        `kept ${outcome.unsyncedRecordsKept}, torn ${outcome.tornBytes} bytes`,
    );
    return outcome;
  }

  /** Shuts the node down for good (it was removed from the group). */
  stop(): void {
    assert(this.#liveness !== "stopped", `${this.id}: stopped twice`);
    this.#drop("stopped");
    this.#environment.traceLine(`${this.id} stopped (removed)`);
  }

  /** One Raft tick. */
  tick(): void {
    this.#node().tick();
    this.#pump();
  }

  /** Steps a message from the network; returns the core's gateway verdict. */
  receive(message: Message): StepResult {
    const result = this.#node().step(message);
    this.#pump();
    return result;
  }

  /** Proposes a client command. */
  propose(data: Uint8Array): ProposeResult {
    const result = this.#node().propose(data);
    this.#pump();
    return result;
  }

  /** Proposes a membership change. */
  proposeConfChange(change: ConfChange): ProposeResult {
    const result = this.#node().proposeConfChange(change);
    this.#pump();
    return result;
  }

  /** Requests a linearizable read point. */
  readIndex(context: Uint8Array): ReadIndexResult {
    const result = this.#node().readIndex(context);
    this.#pump();
    return result;
  }

  /** Asks this node (the leader) to hand leadership to `to`. */
  transferLeader(to: NodeId): void {
    this.#node().transferLeader(to);
    this.#pump();
  }

  /** The transport reports how a snapshot to `to` went. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    this.#node().reportSnapshot(to, ok);
    this.#pump();
  }

  /** The transport could not reach `to`. */
  reportUnreachable(to: NodeId): void {
    this.#node().reportUnreachable(to);
    this.#pump();
  }

  /** The fsync issued for the outstanding Ready completed (ignored if stale). */
  fsyncDone(incarnation: number): void {
    if (this.#liveness !== "running" || incarnation !== this.#incarnation) return;
    const written = this.#outstanding;
    assert(written !== undefined, `${this.id}: fsync completion without a Ready`);
    this.disk.fsync();
    this.#markDurable(written);
    if (this.#crashAt("afterFsyncBeforeSend")) return;
    if (written.ready.snapshot !== undefined && this.#crashAt("duringSnapshotInstall")) return;
    this.#complete(written);
    this.#pump();
  }

  #node(): RawNode {
    assert(this.#raw !== undefined && this.#liveness === "running", `${this.id} is not running`);
    return this.#raw;
  }

  #drop(liveness: NodeLiveness): void {
    this.#liveness = liveness;
    this.#raw = undefined;
    this.#outstanding = undefined;
    this.#reads = [];
    this.#snapshotWish = undefined;
  }

  #config(): Config {
    const { raft, bugs } = this.#environment.knobs;
    return {
      id: this.id,
      storage: this.#mirror,
      applied: this.#appliedIndex,
      electionTicks: raft.electionTicks,
      heartbeatTicks: raft.heartbeatTicks,
      maxSizePerMsg: raft.maxSizePerMsg,
      maxInflightMsgs: raft.maxInflightMsgs,
      // 0 = no limit; a limit must hold at least one full message.
      maxInflightBytes: raft.maxInflightBytes === 0
        ? 0
        : Math.max(raft.maxInflightBytes, raft.maxSizePerMsg),
      maxUncommittedEntriesSize: raft.maxUncommittedEntriesSize,
      checkQuorum: raft.checkQuorum,
      preVote: raft.preVote,
      rng: this.#rng.fork(),
      ...(raft.maxCommittedSizePerReady > 0
        ? { maxCommittedSizePerReady: raft.maxCommittedSizePerReady }
        : {}),
      testingKnobs: {
        skipLogTermVoteCheck: bugs.skipLogTermVoteCheck,
        commitByCountingAnyTerm: bugs.commitByCountingAnyTerm,
      },
    };
  }

  #crashAt(point: CrashPoint): boolean {
    return this.#environment.crashPoint(this, point);
  }

  /** Handles Readys until there is none, one waits for fsync, or the node crashed. */
  #pump(): void {
    for (let handled = 0; handled < READYS_PER_PUMP_MAX; handled++) {
      const raw = this.#raw;
      if (raw === undefined || this.#outstanding !== undefined || !raw.hasReady()) {
        this.#invariants();
        return;
      }
      const written = this.#persist(raw.ready());
      if (written === undefined) return;
      if (written.ready.mustSync) {
        this.#outstanding = written;
        this.#environment.scheduleFsync(this);
        return;
      }
      this.#markDurable(written); // nothing that must be fsynced: written is enough
      this.#complete(written);
    }
    assert(false, `${this.id}: more than ${READYS_PER_PUMP_MAX} Readys in one pump`);
  }

  /** Step 2 (without the fsync), applying early what was durable before. Undefined when the node crashed at a crash point. */
  #persist(ready: Ready): WrittenReady | undefined {
    // The leader's appends leave now, overlapping its fsync; the planted bug sends everything.
    const early = this.#environment.knobs.bugs.sendBeforeFsync
      ? ready.messages
      : ready.messages.filter((message) => sendableBeforePersist(message, ready));
    this.#send(early);
    // Entries durable before this Ready are applied while it is written (no crash point in them).
    for (const entry of committedBeforePersist(ready)) this.#apply(entry);
    const record: WalRecord = { entries: ready.entries };
    if (ready.snapshot !== undefined) record.snapshot = ready.snapshot;
    if (ready.hardState !== undefined) record.hardState = ready.hardState;
    const writes = record.snapshot !== undefined || record.hardState !== undefined ||
      record.entries.length > 0;
    if (!writes) return { ready, status: undefined };
    const status = this.#node().status();
    this.#environment.persisting(this, record, status);
    this.disk.write(record);
    if (ready.snapshot !== undefined) this.#mirror.applySnapshot(ready.snapshot);
    if (ready.hardState !== undefined) this.#mirror.setHardState(ready.hardState);
    this.#mirror.append(ready.entries);
    this.#environment.persisted(this, record, status);
    if (ready.snapshot !== undefined && this.#crashAt("duringSnapshotInstall")) return undefined;
    if (ready.mustSync && this.#crashAt("afterAppendBeforeFsync")) return undefined;
    const changesMembership = ready.entries.some((entry) => entry.type === "confChange");
    if (changesMembership && this.#crashAt("duringMembershipChange")) return undefined;
    return { ready, status };
  }

  /** Steps 3 to 5 (the Ready is durable now): send, apply, advance, then compact if due. */
  #complete(written: WrittenReady): void {
    const ready = written.ready;
    if (!this.#environment.knobs.bugs.sendBeforeFsync) {
      this.#send(ready.messages.filter((message) => !sendableBeforePersist(message, ready)));
    }
    const grantsVote = ready.messages.some((message) =>
      message.type === MessageType.VoteResp && !message.reject
    );
    if (grantsVote && this.#crashAt("afterVoteGrant")) return;
    if (ready.snapshot !== undefined) this.#restoreSnapshot(ready);
    for (const entry of ready.committedEntries) {
      if (entry.index > this.#appliedIndex && !this.#apply(entry)) return;
    }
    for (const readState of ready.readStates) this.#queueRead(readState);
    this.#serveReads();
    this.#node().advance();
    this.#outstanding = undefined;
    this.#maybeCompact();
  }

  #markDurable(written: WrittenReady): void {
    if (written.status !== undefined) this.#environment.durable(this, written.status);
  }

  #invariants(): void {
    if (this.#liveness !== "running") {
      assert(this.#raw === undefined && this.#outstanding === undefined, `${this.id}: stale core`);
      return;
    }
    const snapshotIndex = this.#mirror.snapshot().metadata.index;
    assert(this.#raw !== undefined, `${this.id}: running without a core`);
    // An installed snapshot is applied only once durable: until then it may lead.
    assert(
      this.#outstanding !== undefined || snapshotIndex <= this.#appliedIndex,
      `${this.id}: snapshot past the applied index`,
    );
    assert(this.#appliedIndex <= this.#mirror.lastIndex(), `${this.id}: applied past the log`);
    assert(
      this.#outstanding === undefined || this.disk.unsyncedCount > 0,
      `${this.id}: waits for an fsync with nothing to sync`,
    );
  }

  #send(messages: readonly Message[]): void {
    for (const message of messages) this.#environment.send(this, message);
  }

  #restoreSnapshot(ready: Ready): void {
    const snapshot = ready.snapshot!;
    this.#kv = KvStateMachine.restore(snapshot.data);
    this.#appliedIndex = snapshot.metadata.index;
    this.#confState = snapshot.metadata.confState;
    this.#environment.snapshotRestored(this, snapshot.metadata.index, this.#kv.hash());
  }

  /** Applies one committed entry. False when the node crashed during a membership change. */
  #apply(entry: Entry): boolean {
    assert(
      entry.index === this.#appliedIndex + 1,
      `${this.id}: applies ${entry.index} after ${this.#appliedIndex}`,
    );
    if (entry.type === "confChange") {
      const change = decodeConfChange(entry.data);
      this.#confState = this.#node().applyConfChange(change);
      this.#environment.traceLine(
        `${this.id} applies ${change.type} ${change.nodeId} at ${entry.index}: ` +
          `voters [${this.#confState.voters}] learners [${this.#confState.learners}]`,
      );
    } else if (entry.data.length > 0) {
      const command = decodeCommand(entry.data);
      this.#environment.commandApplied(this, command, this.#kv.apply(command));
    }
    this.#appliedIndex = entry.index;
    this.#environment.applied(this, entry, this.#kv.hash());
    const sinceSnapshot = entry.index - this.#mirror.snapshot().metadata.index;
    const snapshotDue = sinceSnapshot >= this.#environment.knobs.cluster.snapshotEveryEntries;
    if (entry.type === "confChange" || snapshotDue) {
      // A joining node only installs a snapshot that includes it: snapshot after every change.
      this.#snapshotWish = {
        index: entry.index,
        confState: this.#confState,
        data: this.#kv.snapshot(),
      };
    }
    return entry.type !== "confChange" || !this.#crashAt("duringMembershipChange");
  }

  #queueRead(readState: { index: number; context: Uint8Array }): void {
    if (this.#reads.length >= PENDING_READS_MAX) this.#reads.shift();
    this.#reads.push({ index: readState.index, context: readState.context });
  }

  #serveReads(): void {
    // The planted bug serves a confirmed read at once, from a state machine that may lag.
    const servable = this.#environment.knobs.bugs.readBeforeApplied ? Infinity : this.#appliedIndex;
    const ready = this.#reads.filter((read) => read.index <= servable);
    if (ready.length === 0) return;
    this.#reads = this.#reads.filter((read) => read.index > servable);
    for (const read of ready) this.#environment.readReady(this, read.context);
  }

  /** After `advance()`: snapshot at the wished index and compact, or compact a long WAL. */
  #maybeCompact(): void {
    const wish = this.#snapshotWish;
    this.#snapshotWish = undefined;
    const mirror = this.#mirror;
    if (wish !== undefined && wish.index > mirror.snapshot().metadata.index) {
      mirror.createSnapshot(wish.index, wish.confState, wish.data);
      mirror.compact(wish.index);
    } else if (this.disk.recordCount < DISK_RECORDS_MAX / 2) {
      return;
    }
    const first = mirror.firstIndex();
    const last = mirror.lastIndex();
    const record: WalRecord = {
      hardState: mirror.initialState().hardState,
      entries: last >= first ? mirror.entries(first, last + 1, NO_LIMIT) : [],
    };
    if (mirror.snapshot().metadata.index > 0) record.snapshot = mirror.snapshot();
    this.disk.rewrite(record);
  }
}
