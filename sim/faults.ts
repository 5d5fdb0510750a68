/**
 * The fault injector: random crashes, partitions that heal on their own,
 * and the crash-point policy of the node driver, all drawn from the run's
 * seed and bounded by the budgets in `knobs.ts`. In the liveness phase it
 * injects nothing, and `calm()` restarts every crashed node.
 *
 * @module
 */

import type { Rng } from "../base/rng.ts";
import type { Cluster } from "./cluster.ts";
import type { SimEvent } from "./events.ts";
import type { CrashPoint } from "./knobs.ts";
import type { SimNode } from "./node.ts";

/** Injects crashes and partitions into a cluster. */
export class FaultInjector {
  readonly #cluster: Cluster;
  readonly #rng: Rng;

  constructor(cluster: Cluster, rng: Rng) {
    this.#cluster = cluster;
    this.#rng = rng;
    cluster.crashPointPolicy = (node, point) => this.#crashPoint(node, point);
    const { crash, network } = cluster.knobs;
    if (crash.crashIntervalMs > 0) this.#scheduleCrash();
    if (network.partitionIntervalMs > 0) {
      this.#cluster.scheduler.after(this.#around(network.partitionIntervalMs), {
        kind: "partition",
      });
    }
  }

  /** Handles fault events; false for events of other modules. */
  handle(event: SimEvent): boolean {
    switch (event.kind) {
      case "randomCrash":
        this.#onRandomCrash();
        return true;
      case "partition":
        this.#onPartition();
        return true;
      case "heal":
        this.#onHeal();
        return true;
      default:
        return false;
    }
  }

  /** Liveness phase: heal the network for good and restart every crashed node. */
  calm(): void {
    this.#cluster.network.calm();
    this.#cluster.traceLine("liveness: network healed and calm, crashes off");
    for (const node of this.#cluster.nodes()) {
      if (node.liveness === "crashed") this.#cluster.startNode(node);
    }
  }

  #crashPoint(node: SimNode, point: CrashPoint): boolean {
    const { points, pointsOnLeadersOnly } = this.#cluster.knobs.crash;
    const probability = points[point];
    if (probability === 0) return false;
    if (pointsOnLeadersOnly && node.status().state !== "leader") return false;
    return this.#rng.chance(probability);
  }

  #onRandomCrash(): void {
    if (this.#cluster.phase !== "safety") return;
    const running = this.#cluster.runningNodes();
    if (running.length > 0) this.#cluster.crashNode(this.#rng.pick(running), "random crash");
    this.#scheduleCrash();
  }

  #scheduleCrash(): void {
    const interval = this.#cluster.knobs.crash.crashIntervalMs;
    this.#cluster.scheduler.after(this.#around(interval), { kind: "randomCrash" });
  }

  #onPartition(): void {
    if (this.#cluster.phase !== "safety") return;
    const ids = this.#cluster.nodes()
      .filter((node) => node.liveness !== "stopped")
      .map((node) => node.id);
    const { partitionDurationMinMs, partitionDurationMaxMs } = this.#cluster.knobs.network;
    if (ids.length >= 2) {
      const leader = this.#cluster.leader();
      const isolateLeader = leader !== undefined &&
        this.#rng.chance(this.#cluster.knobs.network.leaderIsolationShare);
      const { description } = this.#cluster.network.partition(
        ids,
        isolateLeader ? leader.id : undefined,
      );
      this.#cluster.traceLine(`partition ${description}; ${this.#cluster.describeNodes()}`);
    }
    const duration = this.#rng.between(partitionDurationMinMs, partitionDurationMaxMs);
    this.#cluster.scheduler.after(duration, { kind: "heal" });
  }

  #onHeal(): void {
    if (this.#cluster.phase !== "safety") return;
    this.#cluster.network.heal();
    this.#cluster.traceLine(`heal; ${this.#cluster.describeNodes()}`);
    const interval = this.#cluster.knobs.network.partitionIntervalMs;
    this.#cluster.scheduler.after(this.#around(interval), { kind: "partition" });
  }

  /** A delay around `meanMs` (between half and one and a half times it). */
  #around(meanMs: number): number {
    return this.#rng.between(Math.max(1, Math.floor(meanMs / 2)), Math.floor((meanMs * 3) / 2));
  }
}
