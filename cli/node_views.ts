/**
 * How the cluster looks to people: the member table, the suspension list and
 * the one-screen status. Pure functions from API answers (and the time now)
 * to text, so snapshot tests can pin them down.
 *
 * @module
 */

import type { NodeErrorRow, NodeView, StatusView } from "../control/api_types.ts";
import { placementText } from "./image_views.ts";
import { ago, duration, type Paint, size, table } from "./output.ts";

function reachability(node: NodeView, paint: Paint): string {
  if (node.suspendedUntilMs !== null) return paint.yellow("suspended");
  return node.reachable ? paint.green("yes") : paint.red("no");
}

/** The `node list` table. */
export function nodeTableText(nodes: readonly NodeView[], paint: Paint, nowMs: number): string {
  return table(
    ["NODE", "ADDRESS", "ZONE", "ROLE", "REACHABLE", "RTT", "LAST CONTACT", "APPLIED"],
    nodes.map((node) => [
      `${node.id}${node.self ? " (this)" : ""}`,
      node.address,
      node.zone,
      `${node.role}${node.leader ? " (leader)" : ""}${
        node.role !== node.desiredRole ? ` → ${node.desiredRole}` : ""
      }`,
      reachability(node, paint),
      node.rttMs === null ? "-" : `${node.rttMs.toFixed(2)} ms`,
      node.self ? "-" : ago(node.lastContactAtMs, nowMs),
      node.appliedIndex === null ? "-" : String(node.appliedIndex),
    ]),
  );
}

/** The `node errors` table. */
export function nodeErrorsText(rows: readonly NodeErrorRow[], nowMs: number): string {
  if (rows.length === 0) return "no node is suspended or failing\n";
  return table(
    ["SEEN BY", "NODE", "FAILURES", "SUSPENDED FOR", "LAST ERROR"],
    rows.map((row) => [
      row.observer,
      row.observerReachable ? row.node : "(not asked)",
      row.consecutiveFailures === null ? "-" : String(row.consecutiveFailures),
      row.suspendedUntilMs === null || row.suspendedUntilMs <= nowMs
        ? "-"
        : duration((row.suspendedUntilMs - nowMs) / 1000),
      row.lastError ?? "-",
    ]),
  );
}

function clusterLine(status: StatusView, paint: Paint): string {
  const { cluster } = status;
  const health = cluster.quorum ? paint.green("healthy") : paint.red("NO QUORUM");
  return `${paint.bold("cluster")}    ${health}; leader ${
    cluster.leader ?? "none"
  }, term ${cluster.term}; ` +
    `${cluster.reachableVoters} of ${cluster.voters} voters reachable\n`;
}

function thisNodeLine(status: StatusView, paint: Paint): string {
  const owned = status.owned.map((entry) => `${entry.image} (${entry.kind})`).join(", ");
  return `${paint.bold("this node")}  ${status.node}, ukai ${status.version}, up ${
    duration(status.uptimeSeconds)
  }; ${size(status.capacity.availableBytes)} of ${size(status.capacity.totalBytes)} free; ` +
    `owns ${owned || "nothing"}\n`;
}

/** The `status` screen: cluster health, this node, members, images and resyncs. */
export function statusText(status: StatusView, paint: Paint, nowMs: number): string {
  let text = clusterLine(status, paint) + thisNodeLine(status, paint) + "\n" +
    nodeTableText(status.nodes, paint, nowMs) + "\n";
  text += status.images.length === 0 ? "no images yet\n" : table(
    ["IMAGE", "SIZE", "OWNER", "LOCATIONS", "OUT OF SYNC"],
    status.images.map((image) => [
      image.name,
      size(image.size),
      image.owner ?? "-",
      placementText(image),
      image.outOfSyncBlocks === 0 ? "0" : paint.yellow(String(image.outOfSyncBlocks)),
    ]),
  );
  if (status.resyncs.length > 0) {
    text += "\n" + table(
      ["RESYNC", "LEFT", "RATE", "ETA"],
      status.resyncs.map((resync) => [
        resync.image,
        `${resync.outOfSyncBlocks} blocks`,
        `${size(resync.bytesPerSecond)}/s`,
        resync.etaSeconds === null ? "-" : duration(resync.etaSeconds),
      ]),
    );
  }
  return text;
}
