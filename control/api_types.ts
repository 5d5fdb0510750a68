/**
 * The shapes of every control API answer, one interface per route. These
 * field names are a contract: scripts read them through `ukai … --json`,
 * `docs/api.md` documents them, and the routes build their answers as these
 * types so a rename fails type checking. Sizes are bytes, times since the
 * epoch end in `AtMs`/`UntilMs`, durations say their unit, and block ranges
 * are half-open `[start, end)`.
 *
 * @module
 */

import type { ErrorCode } from "../base/errors.ts";
import type { ImageView, LocationView } from "../meta/mod.ts";

export type { ImageView, LocationView };

/** Every error answer: `{error: {code, message, details?}}` with the table's HTTP status. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

/** An image in lists: the view without per-range states. */
export interface ImageSummary {
  name: string;
  size: number;
  capacity: number;
  blockSize: number;
  blockCount: number;
  owner: string | null;
  ownerKind: "io" | "resync" | null;
  epoch: number;
  opens: string[];
  hypervisors: string[];
  outOfSyncBlocks: number;
  move: { from: string; to: string; startedAtMs: number } | null;
  locations: { node: string; inSyncBlocks: number; outOfSyncBlocks: number }[];
}

/** GET /v1/images. */
export interface ImageList {
  images: ImageSummary[];
}

/** DELETE /v1/images/NAME. */
export interface ImageRemoved {
  name: string;
  removed: true;
}

/** POST /v1/images/NAME/locations: blocks newly added (out of sync until resynced). */
export interface LocationAdded {
  name: string;
  node: string;
  addedBlocks: number;
}

/** DELETE /v1/images/NAME/locations/NODE: the block ranges the node held and gave up. */
export interface LocationRemoved {
  name: string;
  node: string;
  removedBlocks: number;
  ranges: { start: number; end: number }[];
}

/** POST/DELETE …/hypervisors: the allowed hypervisors now (empty: any node). */
export interface HypervisorList {
  name: string;
  hypervisors: string[];
}

/** POST /v1/images/NAME/sync. */
export interface SyncStarted {
  name: string;
  outOfSyncBlocks: number;
  /** The image's own resync cap (0: only the node's `resync-rate` applies). */
  resyncRateBytesPerSecond: number;
}

/** POST /v1/images/NAME/move. */
export interface MoveStarted {
  name: string;
  from: string;
  to: string;
  /** Blocks added at `to`, to be copied; 0 when `resumed`. */
  addedBlocks: number;
  /** True when the same move was already under way (a retry or a second call). */
  resumed: boolean;
}

/** DELETE /v1/images/NAME/move. */
export interface MoveCancelled {
  name: string;
  from: string;
  to: string;
}

/** POST /v1/images/NAME/handover. */
export interface Handover {
  name: string;
  owner: string;
  epoch: number;
}

/** A latency histogram summed up (bounds at bucket precision). */
export interface LatencyView {
  count: number;
  meanMs: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
}

/** The I/O counters of one image on one node since that node started. */
export interface ImageCounters {
  readOps: number;
  readBytes: number;
  writeOps: number;
  writeBytes: number;
  discardOps: number;
  flushOps: number;
  localReadBytes: number;
  remoteReadBytes: number;
  forwardedReadOps: number;
  resyncBytes: number;
  resyncBlocks: number;
  errors: number;
  readLatency: LatencyView;
  writeLatency: LatencyView;
  flushLatency: LatencyView;
}

/** GET /v1/images/NAME/stats: the node asked. */
export interface ImageStats extends ImageCounters {
  node: string;
  image: string;
}

/** One node's row in GET /v1/images/NAME/stats?nodes=all. */
export type NodeImageStats =
  | ({ node: string; reachable: true } & ImageCounters)
  | { node: string; reachable: false; error: string };

/** GET /v1/images/NAME/stats?nodes=all: every member's counters. */
export interface ImageStatsByNode {
  image: string;
  nodes: NodeImageStats[];
}

/** One member as the API shows it. */
export interface NodeView {
  id: string;
  address: string;
  zone: string;
  /** The Raft role now: voter, learner, or none (registered but not in the group). */
  role: "voter" | "learner" | "none";
  /** The role it should have (learners that should vote are promoted when caught up). */
  desiredRole: "voter" | "learner";
  leader: boolean;
  /** True for the node that answered. */
  self: boolean;
  reachable: boolean;
  lastContactAtMs: number | null;
  rttMs: number | null;
  appliedIndex: number | null;
  suspendedUntilMs: number | null;
}

/** GET /v1/nodes. */
export interface NodeList {
  leader: string | null;
  nodes: NodeView[];
}

/** POST /v1/nodes. */
export interface NodeAdded {
  id: string;
  address: string;
  zone: string;
  learner: boolean;
}

/** DELETE /v1/nodes/ID. */
export interface NodeRemoved {
  id: string;
  removed: true;
}

/** How `observer` sees `node`: failures, suspension, or that the observer did not answer. */
export interface NodeErrorRow {
  observer: string;
  node: string;
  /** False when `observer` itself could not be asked (then `node` is the observer). */
  observerReachable: boolean;
  consecutiveFailures: number | null;
  suspendedUntilMs: number | null;
  lastError: string | null;
}

/** GET /v1/nodes/errors. */
export interface NodeErrors {
  errors: NodeErrorRow[];
}

/** A resync in progress, with its rate over the last 30 s. */
export interface ResyncView {
  image: string;
  outOfSyncBlocks: number;
  /** Blocks brought in sync per second (0 when unknown). */
  blocksPerSecond: number;
  bytesPerSecond: number;
  /** Seconds until done at that rate, or null when not moving. */
  etaSeconds: number | null;
}

/** GET /v1/status: one screen of the cluster as the node asked sees it. */
export interface StatusView {
  node: string;
  version: string;
  uptimeSeconds: number;
  cluster: {
    leader: string | null;
    term: number;
    voters: number;
    reachableVoters: number;
    quorum: boolean;
  };
  nodes: NodeView[];
  images: ImageSummary[];
  resyncs: ResyncView[];
  owned: { image: string; epoch: number; kind: "io" | "resync"; resyncRunning: boolean }[];
  capacity: { totalBytes: number; availableBytes: number; freeBytes: number };
}
