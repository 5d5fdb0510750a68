/**
 * How images look to people: the list, one image's details with its block
 * ranges per location, and its I/O statistics per node. Pure functions from
 * API answers to text, so snapshot tests can pin them down.
 *
 * @module
 */

import { formatBlockRange } from "../base/units.ts";
import type {
  ImageStatsByNode,
  ImageSummary,
  ImageView,
  LatencyView,
  NodeImageStats,
} from "../control/api_types.ts";
import { type Paint, size, table } from "./output.ts";

/** Ranges shown per location before the rest is summed up. */
export const RANGES_SHOWN_MAX = 20;

/** Where an image is: "n1, n3 (3 out of sync) (moving n2 → n3)". */
export function placementText(image: Pick<ImageSummary, "locations" | "move">): string {
  const locations = image.locations.map((location) =>
    location.outOfSyncBlocks === 0
      ? location.node
      : `${location.node} (${location.outOfSyncBlocks} out of sync)`
  ).join(", ");
  return image.move === null
    ? locations
    : `${locations} (moving ${image.move.from} → ${image.move.to})`;
}

/** The `image list` table. */
export function imageListText(images: readonly ImageSummary[], paint: Paint): string {
  if (images.length === 0) return "no images yet; create one with: ukai image add NAME --size 8G\n";
  return table(
    ["NAME", "SIZE", "BLOCKS", "OWNER", "LOCATIONS", "OUT OF SYNC"],
    images.map((image) => [
      image.name,
      size(image.size),
      `${image.blockCount} × ${size(image.blockSize)}`,
      image.owner ?? "-",
      placementText(image),
      image.outOfSyncBlocks === 0 ? "0" : paint.yellow(String(image.outOfSyncBlocks)),
    ]),
  );
}

function rangeRows(view: ImageView, paint: Paint): string[][] {
  const rows: string[][] = [];
  for (const location of view.locations) {
    for (const range of location.ranges.slice(0, RANGES_SHOWN_MAX)) {
      rows.push([
        location.node,
        formatBlockRange(range),
        range.state === "inSync" ? paint.green("in sync") : paint.yellow("out of sync"),
      ]);
    }
    const hidden = location.ranges.length - RANGES_SHOWN_MAX;
    if (hidden > 0) rows.push([location.node, `… ${hidden} more ranges`, "(see --json)"]);
  }
  return rows;
}

/** The `image info` text: facts, then each location's block ranges. */
export function imageInfoText(view: ImageView, paint: Paint): string {
  const facts: [string, string][] = [
    ["name", view.name],
    ["size", `${size(view.size)} (${view.size} bytes; capacity ${size(view.capacity)})`],
    ["blocks", `${view.blockCount} × ${size(view.blockSize)}`],
    [
      "owner",
      view.owner === null ? "none" : `${view.owner} (${view.ownerKind}, epoch ${view.epoch})`,
    ],
    ["open on", view.opens.join(", ") || "no node"],
    ["hypervisors", view.hypervisors.join(", ") || "any node"],
    [
      "out of sync",
      view.outOfSyncBlocks === 0
        ? "0 block copies"
        : paint.yellow(`${view.outOfSyncBlocks} block copies`),
    ],
    [
      "resync rate",
      view.resyncRateBytesPerSecond === 0
        ? "the node's default"
        : `${size(view.resyncRateBytesPerSecond)}/s`,
    ],
    ["move", view.move === null ? "none" : `${view.move.from} → ${view.move.to}`],
  ];
  const width = Math.max(...facts.map(([key]) => key.length));
  const head = facts.map(([key, value]) => `${key.padEnd(width)}  ${value}\n`).join("");
  return `${head}\n${table(["LOCATION", "BLOCKS", "STATE"], rangeRows(view, paint))}`;
}

function latency(value: LatencyView): string {
  if (value.count === 0) return "-";
  return `p50 ≤${value.p50Ms ?? "∞"} ms, p99 ≤${value.p99Ms ?? "∞"} ms`;
}

type Reachable = Extract<NodeImageStats, { reachable: true }>;

const STAT_ROWS: [string, (stats: Reachable) => string][] = [
  ["reads", (s) => `${s.readOps} (${size(s.readBytes)})`],
  ["  from local copy", (s) => size(s.localReadBytes)],
  ["  from other nodes", (s) => size(s.remoteReadBytes)],
  ["  forwarded to owner", (s) => String(s.forwardedReadOps)],
  ["writes", (s) => `${s.writeOps} (${size(s.writeBytes)})`],
  ["discards", (s) => String(s.discardOps)],
  ["flushes", (s) => String(s.flushOps)],
  ["resync", (s) => `${s.resyncBlocks} blocks (${size(s.resyncBytes)})`],
  ["errors", (s) => String(s.errors)],
  ["read latency", (s) => latency(s.readLatency)],
  ["write latency", (s) => latency(s.writeLatency)],
  ["flush latency", (s) => latency(s.flushLatency)],
];

function active(stats: Reachable): boolean {
  return stats.readOps + stats.writeOps + stats.discardOps + stats.flushOps +
      stats.forwardedReadOps + stats.resyncBlocks + stats.errors > 0;
}

/** The `image stats` table: one column per node that did I/O for the image. */
export function imageStatsText(stats: ImageStatsByNode, paint: Paint): string {
  const columns = stats.nodes.filter((node): node is Reachable => node.reachable && active(node));
  const missing = stats.nodes.filter((node) => !node.reachable);
  let text = columns.length === 0
    ? `no I/O recorded for ${stats.image} on any node since the nodes started\n`
    : table(
      ["", ...columns.map((node) => node.node)],
      STAT_ROWS.map(([label, cell]) => [label, ...columns.map(cell)]),
    );
  for (const node of missing) {
    if (node.reachable) continue;
    text += paint.yellow(`${node.node}: not asked (${node.error})`) + "\n";
  }
  return text;
}
