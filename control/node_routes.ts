/**
 * Control API routes for nodes and the cluster: the member list (role,
 * leader, reachability, RTT, applied index), adding and removing members,
 * the suspension list as every node sees it, and the one-screen status.
 * Answers are built as the types of `api_types.ts`.
 *
 * @module
 */

import { describeError } from "../base/errors.ts";
import { checkAddress, imageViews } from "../meta/mod.ts";
import type {
  NodeAdded,
  NodeErrorRow,
  NodeErrors,
  NodeList,
  NodeRemoved,
  NodeView,
  StatusView,
} from "./api_types.ts";
import type { ControlContext } from "./context.ts";
import type { Router } from "./http.ts";
import { json } from "./http.ts";
import { imageSummary } from "./image_routes.ts";
import { flagField, nodeField, queryFlag, textField } from "./input.ts";

/** How long node-list questions to peers may take. */
const PEER_QUESTION_TIMEOUT_MS = 800;

async function nodeViews(context: ControlContext): Promise<NodeView[]> {
  const { cluster, engine, meta } = context;
  const confState = cluster.node.confState;
  const leader = cluster.node.leader;
  const peers = engine.peers();
  const health = new Map(engine.health.views().map((view) => [view.node, view]));
  const nodes = [...meta.state().nodes.values()].sort((a, b) => a.id.localeCompare(b.id));
  return await Promise.all(nodes.map(async (node): Promise<NodeView> => {
    const self = node.id === context.nodeId;
    const status = await cluster.statusOf(node.id, PEER_QUESTION_TIMEOUT_MS).catch(() => null);
    const peer = peers.find((candidate) => candidate.nodeId === node.id);
    const seen = health.get(node.id);
    const rttMs = self ? 0 : seen?.rttMs ?? null;
    return {
      id: node.id,
      address: node.address,
      zone: node.zone,
      role: confState.voters.includes(node.id)
        ? "voter"
        : confState.learners.includes(node.id)
        ? "learner"
        : "none",
      desiredRole: node.role,
      leader: node.id === leader,
      self,
      reachable: self || status !== null,
      lastContactAtMs: self
        ? context.clock.wallMs()
        : peer?.lastContactMs ?? seen?.lastContactMs ?? null,
      rttMs: rttMs === null ? null : Math.round(rttMs * 1000) / 1000,
      appliedIndex: status?.applied ?? null,
      suspendedUntilMs: seen?.suspendedUntilMs ?? null,
    };
  }));
}

async function errorRows(context: ControlContext, observer: string): Promise<NodeErrorRow[]> {
  try {
    const peers = observer === context.nodeId
      ? context.engine.health.views()
      : await context.engine.owners.health(observer);
    return peers
      .filter((peer) => peer.suspendedUntilMs !== null || peer.consecutiveFailures > 0)
      .map((peer) => ({
        observer,
        node: peer.node,
        observerReachable: true,
        consecutiveFailures: peer.consecutiveFailures,
        suspendedUntilMs: peer.suspendedUntilMs,
        lastError: peer.lastError,
      }));
  } catch (error) {
    return [{
      observer,
      node: observer,
      observerReachable: false,
      consecutiveFailures: null,
      suspendedUntilMs: null,
      lastError: describeError(error),
    }];
  }
}

/** Registers the node, error and status routes. */
export function nodeRoutes(router: Router, context: ControlContext): void {
  const { cluster, meta } = context;

  router.on("GET", "/v1/nodes", {}, async (): Promise<NodeList> => ({
    leader: cluster.node.leader || null,
    nodes: await nodeViews(context),
  }));

  router.on(
    "POST",
    "/v1/nodes",
    { body: ["id", "address", "zone", "learner"] },
    async (request) => {
      const added: NodeAdded = {
        id: nodeField(request.body, "id"),
        address: checkAddress(request.body.address, 'field "address"'),
        zone: textField(request.body, "zone") ?? "default",
        learner: flagField(request.body, "learner"),
      };
      await cluster.changeMembership({ op: "add", ...added, probe: false });
      return json(added, 201);
    },
  );

  router.on(
    "DELETE",
    "/v1/nodes/:id",
    { query: ["force"] },
    async (request): Promise<NodeRemoved> => {
      const id = nodeField(request.params, "id");
      await cluster.changeMembership({
        op: "remove",
        id,
        force: queryFlag(request.query, "force"),
      });
      return { id, removed: true };
    },
  );

  router.on("GET", "/v1/nodes/errors", {}, async (): Promise<NodeErrors> => {
    const observers = [...meta.state().nodes.keys()].sort();
    const rows = await Promise.all(observers.map((observer) => errorRows(context, observer)));
    return { errors: rows.flat() };
  });

  router.on("GET", "/v1/status", {}, async (): Promise<StatusView> => {
    const status = cluster.node.status();
    const nodes = await nodeViews(context);
    const voters = nodes.filter((node) => node.role === "voter");
    const reachableVoters = voters.filter((node) => node.reachable).length;
    return {
      node: context.nodeId,
      version: context.version,
      uptimeSeconds: Math.round((context.clock.wallMs() - context.startedAtMs) / 1000),
      cluster: {
        leader: cluster.node.leader || null,
        term: status.term,
        voters: voters.length,
        reachableVoters,
        quorum: reachableVoters > voters.length / 2 && cluster.node.leader !== "",
      },
      nodes,
      images: imageViews(meta.state()).map(imageSummary),
      resyncs: context.progress.resyncs(meta.state()),
      owned: context.engine.activity().owned,
      capacity: context.capacity(),
    };
  });
}
