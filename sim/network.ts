/**
 * The simulated network: decides, for every message, whether it is lost and
 * when each copy arrives. Faults, all drawn from the run's seed:
 *
 * - **delay**: every ordered link (a→b) gets its own delay range inside
 *   `[delayMinMs, delayMaxMs]`, and a message on it takes a uniform delay in
 *   that range, plus, with `spikeProbability`, a spike of up to `spikeMaxMs`.
 *   Independent delays reorder messages.
 * - **loss** with `lossProbability`; **duplication** with
 *   `duplicateProbability` (the copy takes its own delay).
 * - **partitions**: a set of blocked ordered links. `partition()` draws a
 *   symmetric split, an isolated node, or (with `asymmetricShare`) a one-way
 *   block, or isolates a node it is given (the fault injector isolates the
 *   leader with `leaderIsolationShare`); `heal()` lifts it.
 *
 * `calm()` switches to the liveness phase: no loss, no spikes, no partitions
 * (delays and duplicates stay, they cost no progress).
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Rng } from "../base/rng.ts";
import type { NodeId } from "../raft/mod.ts";
import type { NetworkKnobs } from "./knobs.ts";

/** The fate of one message. */
export type Route =
  | { kind: "lost"; reason: "partition" | "loss" }
  | { kind: "delivered"; delaysMs: number[] };

/** The kind of partition in force, for the trace. */
export type PartitionKind = "split" | "isolate" | "oneWay";

interface LinkDelay {
  minMs: number;
  maxMs: number;
}

/**
 * Message fates for a group of nodes.
 *
 * @example
 * ```ts
 * import { Rng } from "../base/rng.ts";
 * import { SimNetwork } from "./network.ts";
 * const network = new SimNetwork(new Rng(1), {
 *   delayMinMs: 1, delayMaxMs: 5, spikeProbability: 0, spikeMaxMs: 0, lossProbability: 0,
 *   duplicateProbability: 0, partitionIntervalMs: 0, partitionDurationMinMs: 1,
 *   partitionDurationMaxMs: 1, asymmetricShare: 0, leaderIsolationShare: 0,
 * });
 * const route = network.route("a", "b");
 * if (route.kind !== "delivered" || route.delaysMs[0]! > 5) throw new Error("bad route");
 * ```
 */
export class SimNetwork {
  readonly #rng: Rng;
  #knobs: NetworkKnobs;
  readonly #links = new Map<string, LinkDelay>();
  #blocked = new Set<string>();
  #partitionDescription = "";

  constructor(rng: Rng, knobs: NetworkKnobs) {
    assert(knobs.delayMinMs >= 1, "network: a message takes at least 1 ms");
    this.#rng = rng;
    this.#knobs = { ...knobs };
  }

  /** True while a partition is in force. */
  get partitioned(): boolean {
    return this.#blocked.size > 0;
  }

  /** A description of the partition in force ("" when none). */
  get partitionDescription(): string {
    return this.#partitionDescription;
  }

  /** True when `from` cannot currently reach `to`. */
  blocked(from: NodeId, to: NodeId): boolean {
    return this.#blocked.has(linkKey(from, to));
  }

  /** Decides the fate of a message from `from` to `to`. */
  route(from: NodeId, to: NodeId): Route {
    assert(from !== to, `network: ${from} sends to itself`);
    if (this.blocked(from, to)) return { kind: "lost", reason: "partition" };
    if (this.#rng.chance(this.#knobs.lossProbability)) return { kind: "lost", reason: "loss" };
    const delaysMs = [this.#delay(from, to)];
    if (this.#rng.chance(this.#knobs.duplicateProbability)) delaysMs.push(this.#delay(from, to));
    return { kind: "delivered", delaysMs };
  }

  /** A delay for a message between a client and a node (no partitions, no duplicates). */
  clientDelay(): number {
    return this.#rng.between(this.#knobs.delayMinMs, this.#knobs.delayMaxMs);
  }

  /** True when a client message is lost (loss applies to clients too). */
  clientLost(): boolean {
    return this.#rng.chance(this.#knobs.lossProbability);
  }

  /**
   * Starts a partition among `nodes` (replacing any in force) and returns its
   * description. Needs at least two nodes. With `isolate`, that node alone is
   * cut off from the others, both ways.
   */
  partition(
    nodes: readonly NodeId[],
    isolate?: NodeId,
  ): { kind: PartitionKind; description: string } {
    assert(nodes.length >= 2, "network: a partition needs two nodes");
    const shuffled = this.#rng.shuffle([...nodes]);
    let kind: PartitionKind = "split";
    if (isolate !== undefined) {
      assert(nodes.includes(isolate), `network: cannot isolate unknown node ${isolate}`);
      kind = "isolate";
      shuffled.splice(shuffled.indexOf(isolate), 1);
      shuffled.unshift(isolate);
    } else if (this.#rng.chance(this.#knobs.asymmetricShare)) {
      kind = "oneWay";
    } else if (this.#rng.chance(0.5)) {
      kind = "isolate";
    }
    const cut = kind === "isolate" ? 1 : this.#rng.between(1, shuffled.length - 1);
    const sideA = shuffled.slice(0, cut).sort();
    const sideB = shuffled.slice(cut).sort();
    this.#blocked = new Set();
    for (const a of sideA) {
      for (const b of sideB) {
        this.#blocked.add(linkKey(a, b));
        if (kind !== "oneWay") this.#blocked.add(linkKey(b, a));
      }
    }
    const arrow = kind === "oneWay" ? "-/->" : "<-/->";
    this.#partitionDescription = `${kind} [${sideA.join(",")}] ${arrow} [${sideB.join(",")}]`;
    return { kind, description: this.#partitionDescription };
  }

  /** Lifts the partition in force. */
  heal(): void {
    this.#blocked = new Set();
    this.#partitionDescription = "";
  }

  /** Liveness phase: heal, and from now on no loss and no delay spikes. */
  calm(): void {
    this.heal();
    this.#knobs = { ...this.#knobs, lossProbability: 0, spikeProbability: 0 };
  }

  #delay(from: NodeId, to: NodeId): number {
    const link = this.#link(from, to);
    let delay = this.#rng.between(link.minMs, link.maxMs);
    if (this.#rng.chance(this.#knobs.spikeProbability)) {
      delay += this.#rng.between(1, Math.max(1, this.#knobs.spikeMaxMs));
    }
    return delay;
  }

  #link(from: NodeId, to: NodeId): LinkDelay {
    const key = linkKey(from, to);
    let link = this.#links.get(key);
    if (link === undefined) {
      const { delayMinMs, delayMaxMs } = this.#knobs;
      const minMs = this.#rng.between(delayMinMs, delayMaxMs);
      link = { minMs, maxMs: this.#rng.between(minMs, delayMaxMs) };
      this.#links.set(key, link);
    }
    return link;
  }
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}>${to}`;
}
