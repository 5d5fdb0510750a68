/**
 * The simulated group: the nodes, the network between them, the scheduler
 * that drives both, and the safety checkers fed from every node. The cluster
 * implements the node driver's environment: it routes sent messages through
 * the network (encoded with the real codec, as on the wire), schedules
 * fsyncs, ticks and restarts, and reports what nodes persist and apply to the
 * checkers. Faults, clients and membership changes are separate modules that
 * act through its methods.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Rng } from "../base/rng.ts";
import {
  type ConfState,
  decodeMessage,
  encodeMessage,
  type Entry,
  MemoryStorage,
  type Message,
  MessageType,
  type NodeId,
  type Status,
} from "../raft/mod.ts";
import { type CheckerName, SafetyCheckers, type Violation } from "./checkers/mod.ts";
import type { SimEvent } from "./events.ts";
import type { CrashPoint, Knobs } from "./knobs.ts";
import { type KvApplyOutcome, type KvCommand, KvStateMachine } from "./kv.ts";
import { SimNetwork } from "./network.ts";
import { type NodeEnvironment, SimNode } from "./node.ts";
import { Scheduler } from "./scheduler.ts";
import type { Trace } from "./trace.ts";
import type { WalRecord } from "./wal.ts";

/** The phase of a run: faults on, or healing toward convergence. */
export type Phase = "safety" | "liveness";

/** What the clients want to hear from nodes. */
export interface ClientListener {
  commandApplied(node: SimNode, command: KvCommand, outcome: KvApplyOutcome): void;
  readReady(node: SimNode, context: Uint8Array): void;
}

/** What a run exercised. */
export interface ClusterStats {
  crashes: number;
  crashPoints: number;
  tornTails: number;
  snapshotsInstalled: number;
  messagesSent: number;
  messagesLost: number;
  membershipChanges: number;
  leaderRemovals: number;
}

/** Decides whether a node crashes at a crash point (the fault injector). */
export type CrashPointPolicy = (node: SimNode, point: CrashPoint) => boolean;

/** Share of partition drops that the transport reports as `unreachable`. */
const UNREACHABLE_REPORT_PROBABILITY = 0.2;

/** The simulated group. */
export class Cluster implements NodeEnvironment {
  readonly knobs: Knobs;
  readonly scheduler = new Scheduler<SimEvent>();
  readonly network: SimNetwork;
  readonly trace: Trace;
  phase: Phase = "safety";
  /** Ids of the initial voters. */
  readonly initialVoters: NodeId[];
  /** Ids that may join later, in order of use. */
  readonly spareIds: NodeId[];
  clientListener: ClientListener | undefined;
  crashPointPolicy: CrashPointPolicy = () => false;
  readonly #rng: Rng;
  readonly #nodes = new Map<NodeId, SimNode>();
  readonly #checkers: SafetyCheckers;
  readonly #violations: Violation[] = [];
  readonly #touched = new Set<SimNode>();
  readonly #leaderTermsTraced = new Map<NodeId, number>();
  /** Counters for the run summary (what a seed exercised). */
  readonly stats: ClusterStats = {
    crashes: 0,
    crashPoints: 0,
    tornTails: 0,
    snapshotsInstalled: 0,
    messagesSent: 0,
    messagesLost: 0,
    membershipChanges: 0,
    leaderRemovals: 0,
  };

  constructor(knobs: Knobs, rng: Rng, trace: Trace) {
    this.knobs = knobs;
    this.#rng = rng.fork();
    this.network = new SimNetwork(rng.fork(), knobs.network);
    this.trace = trace;
    this.#checkers = new SafetyCheckers((checker, message) => this.report(checker, message));
    const ids = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => `n${from + i}`);
    this.initialVoters = ids(1, knobs.cluster.voterCount);
    this.spareIds = ids(knobs.cluster.voterCount + 1, knobs.cluster.spareCount);
    const confState: ConfState = { voters: [...this.initialVoters], learners: [] };
    const bootstrap = MemoryStorage.bootstrap(confState, new KvStateMachine().snapshot());
    for (const id of this.initialVoters) {
      const node = this.#createNode(id);
      node.disk.write({
        snapshot: bootstrap.snapshot(),
        hardState: bootstrap.initialState().hardState,
        entries: [],
      });
      node.disk.fsync();
      this.startNode(node);
    }
  }

  // ---- nodes ---------------------------------------------------------------

  /** Every node ever created, in creation order. */
  nodes(): SimNode[] {
    return [...this.#nodes.values()];
  }

  /** The node `id` (asserts it exists). */
  node(id: NodeId): SimNode {
    const node = this.#nodes.get(id);
    assert(node !== undefined, `cluster: no node ${id}`);
    return node;
  }

  /** The node `id`, if it was ever created. */
  maybeNode(id: NodeId): SimNode | undefined {
    return this.#nodes.get(id);
  }

  /** Running nodes, in creation order. */
  runningNodes(): SimNode[] {
    return this.nodes().filter((node) => node.liveness === "running");
  }

  /** The running leader with the highest term, if any. */
  leader(): SimNode | undefined {
    let best: { node: SimNode; term: number } | undefined;
    for (const node of this.runningNodes()) {
      const status = node.status();
      if (status.state !== "leader") continue;
      if (best === undefined || status.term > best.term) best = { node, term: status.term };
    }
    return best?.node;
  }

  /** Creates a joining node with an empty disk and starts it. */
  addNode(id: NodeId): SimNode {
    assert(!this.#nodes.has(id), `cluster: node ${id} exists already (ids are never reused)`);
    const node = this.#createNode(id);
    this.startNode(node);
    return node;
  }

  /** Starts (or restarts) a crashed node from its disk. */
  startNode(node: SimNode): void {
    node.start();
    this.#checkers.onStart(node);
    this.touch(node);
    this.scheduler.after(this.#rng.between(1, this.knobs.cluster.tickMs), {
      kind: "tick",
      node: node.id,
      incarnation: node.incarnation,
    });
  }

  /** Crashes a running node now and schedules its restart (in the safety phase). */
  crashNode(node: SimNode, why: string): void {
    const outcome = node.crash(why);
    this.stats.crashes++;
    if (outcome.tornBytes > 0) this.stats.tornTails++;
    this.#checkers.onStop(node);
    const { restartDelayMinMs, restartDelayMaxMs } = this.knobs.crash;
    const delay = this.phase === "safety"
      ? this.#rng.between(restartDelayMinMs, restartDelayMaxMs)
      : 1;
    this.scheduler.after(delay, { kind: "restart", node: node.id });
  }

  /** Removes a node from the simulation for good (it left the group). */
  stopNode(node: SimNode): void {
    node.stop();
    this.#checkers.onStop(node);
  }

  /** One line per node state (role, term, log end, commit, applied) for the trace. */
  describeNodes(): string {
    return this.nodes().map((node) => {
      if (node.liveness !== "running") return `${node.id}:${node.liveness}`;
      const status = node.status();
      const last = node.mirror.lastIndex();
      return `${node.id}:${status.state[0]}${status.term} ${last}/${node.mirror.term(last)} ` +
        `c${status.commit} a${node.appliedIndex}`;
    }).join(" ");
  }

  /** Marks `node` as acted upon in this step (it is observed after the step). */
  touch(node: SimNode): void {
    this.#touched.add(node);
  }

  // ---- events --------------------------------------------------------------

  /** Handles node and network events; false for events of other modules. */
  handle(event: SimEvent): boolean {
    switch (event.kind) {
      case "tick":
        this.#onTick(event.node, event.incarnation);
        return true;
      case "fsyncDone": {
        const node = this.node(event.node);
        this.touch(node);
        node.fsyncDone(event.incarnation);
        return true;
      }
      case "deliver":
        this.#onDeliver(event.from, event.to, event.bytes);
        return true;
      case "snapshotStatus":
      case "unreachable":
        this.#onTransportReport(event);
        return true;
      case "restart": {
        const node = this.node(event.node);
        if (node.liveness === "crashed") this.startNode(node);
        return true;
      }
      default:
        return false;
    }
  }

  /** After every step: observe the nodes it touched (roles and terms). */
  afterStep(): void {
    for (const node of this.#touched) {
      if (node.liveness === "running") this.#observe(node, node.status());
    }
    this.#touched.clear();
  }

  #observe(node: SimNode, status: Status): void {
    this.#checkers.observe(node, status);
    if (status.state === "leader" && this.#leaderTermsTraced.get(node.id) !== status.term) {
      this.#leaderTermsTraced.set(node.id, status.term);
      const last = node.mirror.lastIndex();
      this.traceLine(
        `${node.id} leads term ${status.term}: log ${last}/${node.mirror.term(last)} ` +
          `commit ${status.commit}`,
      );
    }
  }

  /** Records a failed property (the run stops at the end of the step). */
  report(checker: CheckerName, message: string): void {
    const seen = this.#violations.some((known) =>
      known.checker === checker && known.message === message
    );
    if (seen) return; // the same failure seen again by a later hook of the same step
    this.#violations.push({ checker, message, timeMs: this.scheduler.now });
    this.trace.add(this.scheduler.now, `VIOLATION ${checker}: ${message}`);
  }

  /** Failures found so far. */
  violations(): readonly Violation[] {
    return this.#violations;
  }

  #onTick(id: NodeId, incarnation: number): void {
    const node = this.node(id);
    if (node.liveness !== "running" || node.incarnation !== incarnation) return;
    this.touch(node);
    node.tick();
    if (node.liveness !== "running" || node.incarnation !== incarnation) return;
    const { tickMs, tickJitterMs } = this.knobs.cluster;
    this.scheduler.after(tickMs + this.#rng.between(0, tickJitterMs), {
      kind: "tick",
      node: id,
      incarnation,
    });
  }

  #onDeliver(from: NodeId, to: NodeId, bytes: Uint8Array): void {
    const node = this.#nodes.get(to);
    const message = decodeMessage(bytes);
    if (node === undefined || node.liveness !== "running") {
      if (message.type === MessageType.Snap) this.#reportSnapshotLater(from, to, false);
      return;
    }
    this.touch(node);
    const result = node.receive(message);
    if (result.kind === "rejected" && result.reason !== "unknownPeer") {
      // A peer's own message refused at the gateway: malformed by its sender (or misrouted).
      const checker = result.reason === "invalidMessage" ? "raftAssertion" : "simulatorAssertion";
      this.report(
        checker,
        `${to} refuses ${summarize(message)}: ${result.reason}: ${result.detail}`,
      );
    }
    if (message.type === MessageType.Snap) this.#reportSnapshotLater(from, to, true);
  }

  #onTransportReport(
    event: Extract<SimEvent, { kind: "snapshotStatus" | "unreachable" }>,
  ): void {
    const node = this.node(event.node);
    if (node.liveness !== "running" || node.incarnation !== event.incarnation) return;
    this.touch(node);
    if (event.kind === "snapshotStatus") node.reportSnapshot(event.target, event.ok);
    else node.reportUnreachable(event.target);
  }

  #reportSnapshotLater(from: NodeId, to: NodeId, ok: boolean): void {
    const sender = this.#nodes.get(from);
    if (sender === undefined || sender.liveness !== "running") return;
    this.scheduler.after(this.network.clientDelay(), {
      kind: "snapshotStatus",
      node: from,
      incarnation: sender.incarnation,
      target: to,
      ok,
    });
  }

  #createNode(id: NodeId): SimNode {
    const node = new SimNode(id, this, this.#rng.fork());
    this.#nodes.set(id, node);
    return node;
  }

  // ---- NodeEnvironment -----------------------------------------------------

  send(node: SimNode, message: Message): void {
    this.#checkers.sending(node, message, node.disk.durable());
    // Forwarded proposals and reads keep their original sender in `from`:
    // the network carries them from the node that sends them now.
    const via = node.id === message.from ? "" : ` via ${node.id}`;
    const summary = summarize(message) + via;
    const route = this.network.route(node.id, message.to);
    this.stats.messagesSent++;
    if (route.kind === "lost") {
      this.stats.messagesLost++;
      if (message.type === MessageType.Snap) {
        this.#reportSnapshotLater(node.id, message.to, false);
      } else if (route.reason === "partition" && this.#rng.chance(UNREACHABLE_REPORT_PROBABILITY)) {
        this.scheduler.after(1, {
          kind: "unreachable",
          node: node.id,
          incarnation: node.incarnation,
          target: message.to,
        });
      }
      return;
    }
    const bytes = encodeMessage(message);
    for (const delay of route.delaysMs) {
      this.scheduler.after(delay, {
        kind: "deliver",
        from: node.id,
        to: message.to,
        bytes,
        summary,
      });
    }
  }

  scheduleFsync(node: SimNode): void {
    const { fsyncDelayMinMs, fsyncDelayMaxMs } = this.knobs.disk;
    this.scheduler.after(this.#rng.between(fsyncDelayMinMs, fsyncDelayMaxMs), {
      kind: "fsyncDone",
      node: node.id,
      incarnation: node.incarnation,
    });
  }

  crashPoint(node: SimNode, point: CrashPoint): boolean {
    if (this.phase !== "safety" || !this.crashPointPolicy(node, point)) return false;
    this.stats.crashPoints++;
    this.crashNode(node, `crash point ${point}`);
    return true;
  }

  persisting(node: SimNode, record: WalRecord, status: Status): void {
    this.#checkers.persisting(node, record, status);
  }

  persisted(node: SimNode, _record: WalRecord, status: Status): void {
    this.#checkers.persisted(node, status);
    this.#observe(node, status);
  }

  durable(node: SimNode, status: Status): void {
    this.#checkers.durable(node, status);
  }

  applied(node: SimNode, entry: Entry, stateHash: number): void {
    this.#checkers.applied(node, entry, stateHash);
  }

  commandApplied(node: SimNode, command: KvCommand, outcome: KvApplyOutcome): void {
    this.clientListener?.commandApplied(node, command, outcome);
  }

  snapshotRestored(node: SimNode, index: number, stateHash: number): void {
    this.stats.snapshotsInstalled++;
    this.trace.add(this.scheduler.now, `${node.id} restores snapshot ${index}`);
    this.#checkers.snapshotRestored(node, index, stateHash);
  }

  readReady(node: SimNode, context: Uint8Array): void {
    this.clientListener?.readReady(node, context);
  }

  traceLine(line: string): void {
    this.trace.add(this.scheduler.now, line);
  }
}

/** A one-line description of a message for the trace. */
export function summarize(message: Message): string {
  let text = `${message.type} ${message.from}->${message.to} t${message.term}`;
  if (message.index !== 0 || message.logTerm !== 0) text += ` i${message.index}/${message.logTerm}`;
  if (message.entries.length > 0) text += ` e${message.entries.length}`;
  if (message.commit !== 0) text += ` c${message.commit}`;
  if (message.reject) text += ` reject(${message.rejectHint})`;
  if (message.snapshot !== undefined) text += ` snap${message.snapshot.metadata.index}`;
  return text;
}
