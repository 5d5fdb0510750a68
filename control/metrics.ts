/**
 * The Prometheus `/metrics` endpoint (prom-client from npm, which runs under
 * Deno): per-image I/O counters and latency histograms, out-of-sync blocks,
 * resync bytes, and per-node Raft, peer and capacity gauges. Counters and
 * gauges are read from the engine and the metadata at scrape time; latency
 * histograms are fed by the engine's observer as operations complete.
 *
 * @module
 */

import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { LATENCY_BUCKETS_SECONDS, type TimedOperation } from "../engine/stats.ts";
import type { ControlContext } from "./context.ts";

type ImageCounter =
  | "readOps"
  | "readBytes"
  | "writeOps"
  | "writeBytes"
  | "discardOps"
  | "flushOps"
  | "localReadBytes"
  | "remoteReadBytes"
  | "forwardedReadOps"
  | "resyncBytes"
  | "resyncBlocks"
  | "errors";

const IMAGE_COUNTERS: [ImageCounter, string, string][] = [
  ["readOps", "ukai_image_read_operations_total", "Reads served for the image on this node"],
  ["readBytes", "ukai_image_read_bytes_total", "Bytes read from the image on this node"],
  [
    "writeOps",
    "ukai_image_write_operations_total",
    "Writes to the image acknowledged on this node",
  ],
  ["writeBytes", "ukai_image_write_bytes_total", "Bytes written to the image on this node"],
  ["discardOps", "ukai_image_discard_operations_total", "Discards (punch hole) of the image"],
  ["flushOps", "ukai_image_flush_operations_total", "Flushes (fsync) of the image"],
  ["localReadBytes", "ukai_image_local_read_bytes_total", "Bytes read from this node's own copy"],
  ["remoteReadBytes", "ukai_image_remote_read_bytes_total", "Bytes read from other nodes' copies"],
  [
    "forwardedReadOps",
    "ukai_image_forwarded_read_operations_total",
    "Reads forwarded to the owner",
  ],
  ["resyncBytes", "ukai_image_resync_bytes_total", "Bytes moved by resyncs this node drove"],
  ["resyncBlocks", "ukai_image_resync_blocks_total", "Blocks brought in sync by this node"],
  ["errors", "ukai_image_errors_total", "Failed operations on the image"],
];

/** The metrics of one node. */
export class Metrics {
  readonly registry = new Registry();
  readonly #latency: Histogram<"image" | "operation">;

  constructor(context: () => ControlContext | undefined) {
    const registers = [this.registry];
    for (const [field, name, help] of IMAGE_COUNTERS) {
      new Counter({
        name,
        help,
        labelNames: ["image"],
        registers,
        collect() {
          this.reset();
          for (const [image, stats] of context()?.engine.stats.entries() ?? []) {
            this.inc({ image }, stats[field]);
          }
        },
      });
    }
    this.#latency = new Histogram({
      name: "ukai_image_operation_duration_seconds",
      help: "Duration of reads, writes and flushes as the hypervisor sees them",
      labelNames: ["image", "operation"],
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers,
    });
    new Gauge({
      name: "ukai_image_out_of_sync_blocks",
      help: "Out-of-sync block copies of the image (all locations)",
      labelNames: ["image"],
      registers,
      collect() {
        this.reset();
        for (const image of context()?.meta.state().images.values() ?? []) {
          this.set({ image: image.name }, image.outOfSyncTotal());
        }
      },
    });
    new Gauge({
      name: "ukai_raft_term",
      help: "Current Raft term seen by this node",
      registers,
      collect() {
        const found = context();
        if (found !== undefined) this.set(found.cluster.node.status().term);
      },
    });
    new Gauge({
      name: "ukai_raft_applied_index",
      help: "Last metadata command applied on this node",
      registers,
      collect() {
        const found = context();
        if (found !== undefined) this.set(found.cluster.node.applied);
      },
    });
    new Gauge({
      name: "ukai_raft_leader",
      help: "1 when this node leads the metadata group",
      registers,
      collect() {
        const found = context();
        if (found !== undefined) this.set(found.cluster.node.leader === found.nodeId ? 1 : 0);
      },
    });
    new Gauge({
      name: "ukai_peer_rtt_seconds",
      help: "Smoothed round-trip time to each peer",
      labelNames: ["peer"],
      registers,
      collect() {
        this.reset();
        for (const peer of context()?.engine.health.views() ?? []) {
          if (peer.rttMs !== null) this.set({ peer: peer.node }, peer.rttMs / 1000);
        }
      },
    });
    new Gauge({
      name: "ukai_peer_suspended",
      help: "1 when the peer is suspended after repeated failures",
      labelNames: ["peer"],
      registers,
      collect() {
        this.reset();
        for (const peer of context()?.engine.health.views() ?? []) {
          this.set({ peer: peer.node }, peer.suspendedUntilMs === null ? 0 : 1);
        }
      },
    });
    new Gauge({
      name: "ukai_store_bytes",
      help: "Capacity of this node's data folder",
      labelNames: ["kind"],
      registers,
      collect() {
        const found = context();
        if (found === undefined) return;
        const capacity = found.capacity();
        this.set({ kind: "total" }, capacity.totalBytes);
        this.set({ kind: "available" }, capacity.availableBytes);
      },
    });
  }

  /** Records one completed operation (the engine's observer). */
  observe(image: string, operation: TimedOperation, seconds: number): void {
    this.#latency.observe({ image, operation }, seconds);
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
