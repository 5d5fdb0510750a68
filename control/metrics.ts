/**
 * The Prometheus `/metrics` endpoint (prom-client from npm, which runs under
 * Deno): per-image I/O counters and latency histograms, out-of-sync blocks,
 * resync bytes, and per-node Raft, peer and capacity gauges. Everything is
 * read from the engine and the metadata at scrape time, the latency
 * histograms too (control/latency_exposition.ts), so the I/O path pays for
 * nothing here.
 *
 * @module
 */

import { Counter, Gauge, Registry } from "prom-client";
import type { ControlContext } from "./context.ts";
import { latencyExposition } from "./latency_exposition.ts";

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
  readonly #registry = new Registry();
  readonly #context: () => ControlContext | undefined;

  constructor(context: () => ControlContext | undefined) {
    this.#context = context;
    const registers = [this.#registry];
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

  /** The exposition text and its content type. */
  async render(): Promise<{ body: string; contentType: string }> {
    const latency = latencyExposition(this.#context()?.engine.stats.entries() ?? []);
    const body = `${await this.#registry.metrics()}\n${latency}`;
    return { body, contentType: this.#registry.contentType };
  }
}
