/**
 * What the control API works on: this node's metadata store, engine,
 * cluster membership, transport and store capacity, gathered by the daemon.
 *
 * @module
 */

import type { Clock } from "../base/clock.ts";
import type { Cluster } from "../cluster/cluster.ts";
import type { Engine } from "../engine/engine.ts";
import type { MetaStore } from "../meta/mod.ts";
import type { ProgressSampler } from "./progress_sampler.ts";

/** The parts of a running node the API reads and changes. */
export interface ControlContext {
  readonly nodeId: string;
  readonly version: string;
  readonly startedAtMs: number;
  readonly meta: MetaStore;
  readonly engine: Engine;
  readonly cluster: Cluster;
  readonly clock: Clock;
  readonly progress: ProgressSampler;
  /** Capacity of this node's data folder. */
  readonly capacity: () => { totalBytes: number; availableBytes: number; freeBytes: number };
}
