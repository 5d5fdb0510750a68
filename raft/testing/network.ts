/**
 * An in-memory network of {@link RawNode}s for behaviour tests and
 * simulators. Each peer follows the Ready procedure exactly (persist into a
 * {@link MemoryStorage}, then send, then apply, then advance); delivery is
 * synchronous and deterministic for a given seed. Faults: `cut(a, b)`,
 * `isolate(id)`, `drop(from, to, probability)`, `ignore(type)`, `dropIf(predicate)`,
 * `reorder(probability)`, undone by `recover()`; a peer declared `down`
 * swallows everything sent to it (a black hole).
 *
 * @example
 * ```ts
 * import { Network } from "./network.ts";
 * const network = new Network({ seed: 1, peers: ["a", "b", "c"] });
 * network.campaign("a");
 * network.propose("a", new TextEncoder().encode("x"));
 * if (network.peer("c").appliedData().length !== 1) throw new Error("not replicated");
 * ```
 *
 * @module
 */

import { assert } from "../../base/assert.ts";
import { Rng } from "../../base/rng.ts";
import { decodeConfChange } from "../codec.ts";
import type { Config, TestingKnobs } from "../config.ts";
import type { ProposeResult, ReadIndexResult } from "../raft.ts";
import { RawNode, type Status, type StepResult } from "../raw_node.ts";
import { MemoryStorage } from "../storage.ts";
import { MessageType } from "../types.ts";
import type {
  ConfChange,
  ConfState,
  Entry,
  Message,
  NodeId,
  ReadState,
  SoftState,
} from "../types.ts";

/** Most message deliveries in one `stabilize()`; more means a livelock in the test. */
export const DELIVERIES_PER_STABILIZE_MAX = 200_000;

/** Per-node settings the network passes to each RawNode (all optional). */
export interface PeerConfig {
  electionTicks?: number;
  heartbeatTicks?: number;
  checkQuorum?: boolean;
  preVote?: boolean;
  maxSizePerMsg?: number;
  maxInflightMsgs?: number;
  maxInflightBytes?: number;
  maxUncommittedEntriesSize?: number;
  stepDownOnRemoval?: boolean;
  testingKnobs?: TestingKnobs;
}

/** How to build one peer. A bare id means: default storage with the network's membership. */
export interface PeerSpec {
  id: NodeId;
  /** Start from this storage (e.g. a prepared log); default: empty with the network's membership. */
  storage?: MemoryStorage;
  /** A black hole: a member that never answers. */
  down?: boolean;
  /** Overrides of the network-wide config. */
  config?: PeerConfig;
}

/** One running peer: its node, its storage and what it applied. */
export class NetworkPeer {
  readonly id: NodeId;
  node: RawNode;
  readonly storage: MemoryStorage;
  readonly config: Config;
  /** Every committed entry applied, in order (since start or last snapshot restore). */
  applied: Entry[] = [];
  /** Index of the last applied entry or snapshot. */
  appliedIndex = 0;
  /** Membership after the last applied change or snapshot. */
  confState: ConfState;
  /** Every ReadState received, in order. */
  readStates: ReadState[] = [];
  /** Every soft-state change seen. */
  softStates: SoftState[] = [];
  /** Snapshots installed from the leader. */
  snapshotsInstalled = 0;

  constructor(id: NodeId, storage: MemoryStorage, config: Config) {
    this.id = id;
    this.storage = storage;
    this.config = config;
    this.node = new RawNode(config);
    this.confState = storage.initialState().confState;
    // A storage that starts from a snapshot has that snapshot applied.
    this.appliedIndex = Math.max(config.applied, storage.firstIndex() - 1);
  }

  /** The data of the applied normal entries that are not empty, decoded as UTF-8. */
  appliedData(): string[] {
    const decoder = new TextDecoder();
    return this.applied
      .filter((entry) => entry.type === "normal" && entry.data.length > 0)
      .map((entry) => decoder.decode(entry.data));
  }

  /** Every entry in storage (after the snapshot). */
  storedEntries(): Entry[] {
    const first = this.storage.firstIndex();
    const last = this.storage.lastIndex();
    return last < first ? [] : this.storage.entries(first, last + 1, Number.MAX_SAFE_INTEGER);
  }

  /** Runs the Ready procedure until the node has nothing more to do; returns the messages. */
  processReady(): Message[] {
    const out: Message[] = [];
    while (this.node.hasReady()) {
      const ready = this.node.ready();
      if (ready.softState !== undefined) this.softStates.push(ready.softState);
      // 1. Persist (this in-memory storage is "fsynced" at once).
      if (ready.snapshot !== undefined) this.storage.applySnapshot(ready.snapshot);
      if (ready.hardState !== undefined) this.storage.setHardState(ready.hardState);
      this.storage.append(ready.entries);
      // 2. Send.
      out.push(...ready.messages);
      // 3. Apply.
      if (ready.snapshot !== undefined) {
        this.confState = ready.snapshot.metadata.confState;
        this.appliedIndex = ready.snapshot.metadata.index;
        this.applied = [];
        this.snapshotsInstalled++;
      }
      for (const entry of ready.committedEntries) this.#apply(entry);
      this.readStates.push(...ready.readStates);
      // 4. Advance.
      this.node.advance();
    }
    return out;
  }

  /** Restarts the node from its storage, as after a crash (everything was persisted). */
  restart(): void {
    this.node = new RawNode({ ...this.config, applied: this.appliedIndex });
  }

  /** Makes a snapshot at the applied index and compacts the log up to `compactTo` (default: it). */
  snapshotAndCompact(compactTo = this.appliedIndex): void {
    const data = new TextEncoder().encode(`state@${this.appliedIndex}`);
    this.storage.createSnapshot(this.appliedIndex, this.confState, data);
    this.storage.compact(compactTo);
  }

  #apply(entry: Entry): void {
    assert(
      entry.index === this.appliedIndex + 1,
      `${this.id} applies ${entry.index} after ${this.appliedIndex}`,
    );
    if (entry.type === "confChange") {
      this.confState = this.node.applyConfChange(decodeConfChange(entry.data));
    }
    this.applied.push(entry);
    this.appliedIndex = entry.index;
  }
}

/** Options of a {@link Network}. */
export interface NetworkOptions {
  /** Seeds every random choice (drops, reordering, election jitter). */
  seed?: number;
  /** Or pass an Rng directly (takes precedence over `seed`). */
  rng?: Rng;
  peers: (NodeId | PeerSpec)[];
  /** Ids among `peers` that start as learners. */
  learners?: NodeId[];
  /** Network-wide node config (each peer may override). */
  config?: PeerConfig;
}

/** A deterministic in-memory network of RawNodes. */
export class Network {
  readonly rng: Rng;
  readonly peers = new Map<NodeId, NetworkPeer>();
  /** Ids that are members but black holes. */
  readonly down = new Set<NodeId>();
  /** Messages waiting for delivery, oldest first. */
  queue: Message[] = [];
  /** Every gateway refusal seen when stepping (the test may inspect them). */
  readonly refusals: { message: Message; result: StepResult }[] = [];
  /** Count of messages delivered (stepped) so far. */
  delivered = 0;
  readonly #config: PeerConfig;
  #cuts = new Set<string>();
  #isolated = new Set<NodeId>();
  #dropRates = new Map<string, number>();
  #ignored = new Set<MessageType>();
  #dropPredicates: ((message: Message) => boolean)[] = [];
  #reorderProbability = 0;

  constructor(options: NetworkOptions) {
    this.rng = options.rng ?? new Rng(options.seed ?? 0);
    this.#config = options.config ?? {};
    const specs = options.peers.map((peer) => typeof peer === "string" ? { id: peer } : peer);
    const learners = options.learners ?? [];
    const voters = specs.map((spec) => spec.id).filter((id) => !learners.includes(id));
    for (const spec of specs) {
      if (spec.down === true) {
        this.down.add(spec.id);
        continue;
      }
      const storage = spec.storage ?? new MemoryStorage({ confState: { voters, learners } });
      this.addPeer(spec.id, storage, spec.config);
    }
  }

  /** Adds (or replaces) a running peer, e.g. a node joining the group with empty storage. */
  addPeer(id: NodeId, storage = new MemoryStorage(), overrides: PeerConfig = {}): NetworkPeer {
    const merged = { ...this.#config, ...overrides };
    const config: Config = {
      id,
      storage,
      applied: 0,
      electionTicks: merged.electionTicks ?? 10,
      heartbeatTicks: merged.heartbeatTicks ?? 1,
      maxSizePerMsg: merged.maxSizePerMsg ?? Number.MAX_SAFE_INTEGER,
      maxInflightMsgs: merged.maxInflightMsgs ?? 256,
      checkQuorum: merged.checkQuorum ?? false,
      preVote: merged.preVote ?? false,
      rng: this.rng.fork(),
    };
    if (merged.maxInflightBytes !== undefined) config.maxInflightBytes = merged.maxInflightBytes;
    if (merged.maxUncommittedEntriesSize !== undefined) {
      config.maxUncommittedEntriesSize = merged.maxUncommittedEntriesSize;
    }
    if (merged.stepDownOnRemoval !== undefined) config.stepDownOnRemoval = merged.stepDownOnRemoval;
    if (merged.testingKnobs !== undefined) config.testingKnobs = merged.testingKnobs;
    const peer = new NetworkPeer(id, storage, config);
    this.peers.set(id, peer);
    this.down.delete(id);
    return peer;
  }

  /** The running peer `id` (asserts it exists). */
  peer(id: NodeId): NetworkPeer {
    const peer = this.peers.get(id);
    assert(peer !== undefined, `no running peer ${id}`);
    return peer;
  }

  /** The RawNode of peer `id`. */
  node(id: NodeId): RawNode {
    return this.peer(id).node;
  }

  status(id: NodeId): Status {
    return this.node(id).status();
  }

  /** The ids of the peers that currently believe they lead. */
  leaders(): NodeId[] {
    return [...this.peers.keys()].filter((id) => this.status(id).state === "leader").sort();
  }

  // ---- faults ------------------------------------------------------------

  /** Drops every message between `a` and `b`, both ways. */
  cut(a: NodeId, b: NodeId): void {
    this.#cuts.add(pairKey(a, b));
    this.#cuts.add(pairKey(b, a));
  }

  /** Drops every message to or from `id`. */
  isolate(id: NodeId): void {
    this.#isolated.add(id);
  }

  /** Drops messages from `from` to `to` with `probability` (seeded). */
  drop(from: NodeId, to: NodeId, probability: number): void {
    assert(probability >= 0 && probability <= 1, "drop probability must be in [0, 1]");
    this.#dropRates.set(pairKey(from, to), probability);
  }

  /** Drops every message of `type`. */
  ignore(type: MessageType): void {
    this.#ignored.add(type);
  }

  /** Drops every message for which `predicate` is true (finer than `ignore`). */
  dropIf(predicate: (message: Message) => boolean): void {
    this.#dropPredicates.push(predicate);
  }

  /** Delivers a random queued message instead of the oldest with `probability`. */
  reorder(probability: number): void {
    assert(probability >= 0 && probability <= 1, "reorder probability must be in [0, 1]");
    this.#reorderProbability = probability;
  }

  /** Heals every fault (cuts, isolation, drops, ignored types, predicates, reordering). */
  recover(): void {
    this.#dropPredicates = [];
    this.#cuts.clear();
    this.#isolated.clear();
    this.#dropRates.clear();
    this.#ignored.clear();
    this.#reorderProbability = 0;
  }

  /** True when the faults let `message` through (drops are decided here, with the rng). */
  passes(message: Message): boolean {
    if (this.down.has(message.to) || !this.peers.has(message.to)) return false;
    if (this.#isolated.has(message.from) || this.#isolated.has(message.to)) return false;
    if (this.#cuts.has(pairKey(message.from, message.to))) return false;
    if (this.#ignored.has(message.type)) return false;
    if (this.#dropPredicates.some((predicate) => predicate(message))) return false;
    const rate = this.#dropRates.get(pairKey(message.from, message.to)) ?? 0;
    return rate === 0 || !this.rng.chance(rate);
  }

  // ---- driving -----------------------------------------------------------

  /** Queues `messages` and delivers until the network is quiet. */
  send(...messages: Message[]): void {
    this.queue.push(...messages);
    this.stabilize();
  }

  /** Processes every Ready and delivers messages until nothing is left to do. */
  stabilize(): void {
    this.collect();
    let deliveries = 0;
    while (this.queue.length > 0) {
      assert(++deliveries <= DELIVERIES_PER_STABILIZE_MAX, "network does not settle (livelock?)");
      this.deliverOne();
    }
  }

  /** Runs every peer's Ready procedure and queues what they send. */
  collect(): void {
    for (const id of [...this.peers.keys()].sort()) {
      this.queue.push(...this.peer(id).processReady());
    }
  }

  /** Delivers one queued message (the oldest, or a random one when reordering). */
  deliverOne(): void {
    const reorder = this.#reorderProbability > 0 && this.rng.chance(this.#reorderProbability);
    const at = reorder ? this.rng.int(this.queue.length) : 0;
    const [message] = this.queue.splice(at, 1);
    if (message === undefined) return;
    if (!this.passes(message)) {
      if (message.type === MessageType.Snap) this.#reportSnapshot(message, false);
      return;
    }
    const peer = this.peer(message.to);
    const result = peer.node.step(message);
    this.delivered++;
    if (result.kind === "rejected") this.refusals.push({ message, result });
    this.queue.push(...peer.processReady());
    if (message.type === MessageType.Snap) this.#reportSnapshot(message, true);
  }

  /** Tells the sender of a snapshot how it went, as a transport would. */
  #reportSnapshot(message: Message, delivered: boolean): void {
    const sender = this.peers.get(message.from);
    if (sender === undefined) return;
    sender.node.reportSnapshot(message.to, delivered);
    this.queue.push(...sender.processReady());
  }

  /** Removes and returns the queued messages (optionally only those matching `filter`). */
  takeMessages(filter: (message: Message) => boolean = () => true): Message[] {
    this.collect();
    const taken = this.queue.filter(filter);
    this.queue = this.queue.filter((message) => !filter(message));
    return taken;
  }

  /** Ticks peer `id` `count` times, then stabilizes. */
  tick(id: NodeId, count = 1): void {
    for (let i = 0; i < count; i++) this.node(id).tick();
    this.stabilize();
  }

  /** Ticks every running peer `count` times (stabilizing after each round). */
  tickAll(count = 1): void {
    for (let i = 0; i < count; i++) {
      for (const id of [...this.peers.keys()].sort()) this.node(id).tick();
      this.stabilize();
    }
  }

  /** Peer `id` campaigns; the network then settles. */
  campaign(id: NodeId): void {
    this.node(id).campaign();
    this.stabilize();
  }

  /** Proposes `data` at peer `id`; the network then settles. */
  propose(id: NodeId, data: Uint8Array | string): ProposeResult {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const result = this.node(id).propose(bytes);
    this.stabilize();
    return result;
  }

  /** Proposes a membership change at peer `id`; the network then settles. */
  proposeConfChange(id: NodeId, change: Omit<ConfChange, "context">): ProposeResult {
    const result = this.node(id).proposeConfChange({ ...change, context: new Uint8Array() });
    this.stabilize();
    return result;
  }

  /** Requests a read at peer `id`; the network then settles. */
  readIndex(id: NodeId, context: Uint8Array | string): ReadIndexResult {
    const bytes = typeof context === "string" ? new TextEncoder().encode(context) : context;
    const result = this.node(id).readIndex(bytes);
    this.stabilize();
    return result;
  }

  /** Asks peer `id` to transfer leadership to `to`; the network then settles. */
  transferLeader(id: NodeId, to: NodeId): void {
    this.node(id).transferLeader(to);
    this.stabilize();
  }
}

function pairKey(from: NodeId, to: NodeId): string {
  return `${from}\u0000${to}`;
}
