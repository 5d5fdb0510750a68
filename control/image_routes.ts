/**
 * Control API routes for images: create, list, show, remove, locations,
 * hypervisors, sync, move, hand-over and statistics. Each mutating route
 * turns a validated request into one metadata command; the
 * `Idempotency-Key` header becomes the command's request id, so a retried
 * call is applied once even through another node. Answers are built as the
 * types of `api_types.ts`.
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import { BLOCK_SIZE_DEFAULT } from "../constants.ts";
import { type Command, type ImageView, imageView, imageViews } from "../meta/mod.ts";
import type {
  Handover,
  HypervisorList,
  ImageList,
  ImageRemoved,
  ImageStats,
  ImageStatsByNode,
  ImageSummary,
  LocationAdded,
  LocationRemoved,
  MoveCancelled,
  MoveStarted,
  NodeImageStats,
  SyncStarted,
} from "./api_types.ts";
import type { ControlContext } from "./context.ts";
import type { ControlRequest, Router } from "./http.ts";
import { json } from "./http.ts";
import {
  imageField,
  nodeField,
  nodeListField,
  optionalNodeField,
  queryFlag,
  rangeField,
  rateField,
  sizeField,
} from "./input.ts";

/** The short form of an image in lists. */
export function imageSummary(view: ImageView): ImageSummary {
  return {
    name: view.name,
    size: view.size,
    capacity: view.capacity,
    blockSize: view.blockSize,
    blockCount: view.blockCount,
    owner: view.owner,
    ownerKind: view.ownerKind,
    epoch: view.epoch,
    opens: view.opens,
    hypervisors: view.hypervisors,
    outOfSyncBlocks: view.outOfSyncBlocks,
    move: view.move,
    locations: view.locations.map((location) => ({
      node: location.node,
      inSyncBlocks: location.inSyncBlocks,
      outOfSyncBlocks: location.outOfSyncBlocks,
    })),
  };
}

function withRequestId(request: ControlRequest, command: Command): Command {
  return request.idempotencyKey === null
    ? command
    : { ...command, requestId: `api:${request.idempotencyKey}` };
}

/** Registers the image routes. */
export function imageRoutes(router: Router, context: ControlContext): void {
  const { meta } = context;
  const image = (request: ControlRequest) => meta.state().image(imageField(request.params, "name"));
  const propose = (request: ControlRequest, command: Command) =>
    meta.propose(withRequestId(request, command));
  const readPoint = async (request: ControlRequest) => {
    if (queryFlag(request.query, "fresh")) await meta.sync();
  };

  router.on("GET", "/v1/images", { query: ["fresh"] }, async (request): Promise<ImageList> => {
    await readPoint(request);
    return { images: imageViews(meta.state()).map(imageSummary) };
  });

  router.on("POST", "/v1/images", {
    body: ["name", "size", "blockSize", "locations", "hypervisors"],
  }, async (request) => {
    const body = request.body;
    const name = imageField(body, "name");
    const size = sizeField(body, "size");
    if (size === undefined) throw new UkaiError("INVALID_ARGUMENT", 'Field "size" is required');
    await propose(request, {
      type: "image.create",
      name,
      size,
      blockSize: sizeField(body, "blockSize") ?? BLOCK_SIZE_DEFAULT,
      locations: nodeListField(body, "locations") ?? [context.nodeId],
      hypervisors: nodeListField(body, "hypervisors") ?? [],
      createdAtMs: context.clock.wallMs(),
    });
    return json(imageView(meta.state().image(name)), 201);
  });

  router.on(
    "GET",
    "/v1/images/:name",
    { query: ["fresh"] },
    async (request): Promise<ImageView> => {
      await readPoint(request);
      return imageView(image(request));
    },
  );

  router.on(
    "DELETE",
    "/v1/images/:name",
    { query: ["force"] },
    async (request): Promise<ImageRemoved> => {
      const name = imageField(request.params, "name");
      await propose(request, {
        type: "image.remove",
        name,
        force: queryFlag(request.query, "force"),
      });
      return { name, removed: true };
    },
  );

  router.on(
    "POST",
    "/v1/images/:name/locations",
    { body: ["node", "range"] },
    async (request): Promise<LocationAdded> => {
      const target = image(request);
      const range = rangeField(request.body.range, target.blockCount);
      const node = nodeField(request.body, "node");
      const answer = await propose(request, {
        type: "location.add",
        name: target.name,
        node,
        ...(range === undefined ? {} : { range }),
      });
      return { name: target.name, node, addedBlocks: answer.addedBlocks as number };
    },
  );

  router.on("DELETE", "/v1/images/:name/locations/:node", { query: ["range"] }, async (request) => {
    const target = image(request);
    const range = rangeField(request.query.get("range") ?? undefined, target.blockCount);
    const node = nodeField(request.params, "node");
    const answer = await propose(request, {
      type: "location.remove",
      name: target.name,
      node,
      ...(range === undefined ? {} : { range }),
    });
    const ranges = (answer.removed as [number, number][]).map(([start, end]) => ({ start, end }));
    return {
      name: target.name,
      node,
      removedBlocks: ranges.reduce((sum, { start, end }) => sum + end - start, 0),
      ranges,
    } satisfies LocationRemoved;
  });

  const hypervisorAnswer = (answer: Record<string, unknown>): HypervisorList => ({
    name: answer.name as string,
    hypervisors: [...answer.hypervisors as string[]].sort(),
  });

  router.on("POST", "/v1/images/:name/hypervisors", { body: ["node"] }, async (request) => {
    return hypervisorAnswer(
      await propose(request, {
        type: "hypervisor.add",
        name: imageField(request.params, "name"),
        node: nodeField(request.body, "node"),
      }),
    );
  });

  router.on("DELETE", "/v1/images/:name/hypervisors/:node", {}, async (request) => {
    return hypervisorAnswer(
      await propose(request, {
        type: "hypervisor.remove",
        name: imageField(request.params, "name"),
        node: nodeField(request.params, "node"),
      }),
    );
  });

  router.on(
    "POST",
    "/v1/images/:name/sync",
    { body: ["range", "rate"] },
    async (request): Promise<SyncStarted> => {
      const target = image(request);
      rangeField(request.body.range, target.blockCount);
      const rate = rateField(request.body, "rate");
      if (rate !== undefined) {
        await propose(request, {
          type: "image.setResyncRate",
          name: target.name,
          bytesPerSecond: rate,
        });
      }
      const now = meta.state().image(target.name);
      return {
        name: now.name,
        outOfSyncBlocks: now.outOfSyncTotal(),
        resyncRateBytesPerSecond: now.resyncRateBytesPerSecond,
      };
    },
  );

  router.on(
    "POST",
    "/v1/images/:name/move",
    { body: ["from", "to", "rate"] },
    async (request): Promise<MoveStarted> => {
      const target = image(request);
      const from = nodeField(request.body, "from");
      const to = nodeField(request.body, "to");
      const rate = rateField(request.body, "rate");
      if (rate !== undefined) {
        await meta.propose({
          type: "image.setResyncRate",
          name: target.name,
          bytesPerSecond: rate,
        });
      }
      const answer = await propose(request, {
        type: "move.start",
        name: target.name,
        from,
        to,
        startedAtMs: context.clock.wallMs(),
      });
      return {
        name: target.name,
        from,
        to,
        addedBlocks: answer.addedBlocks as number,
        resumed: answer.resumed as boolean,
      };
    },
  );

  router.on(
    "DELETE",
    "/v1/images/:name/move",
    { query: ["from", "to"] },
    async (request): Promise<MoveCancelled> => {
      const target = image(request);
      const move = target.move;
      if (move === null) {
        throw new UkaiError("NOT_FOUND", `Image "${target.name}" is not being moved`);
      }
      const from = request.query.get("from") ?? move.from;
      const to = request.query.get("to") ?? move.to;
      if (from !== move.from || to !== move.to) {
        throw new UkaiError(
          "CONFLICT",
          `Image "${target.name}" is moving from "${move.from}" to "${move.to}", not from "${from}" to "${to}"`,
        );
      }
      await propose(request, { type: "move.cancel", name: target.name });
      return { name: target.name, from: move.from, to: move.to };
    },
  );

  router.on(
    "POST",
    "/v1/images/:name/handover",
    { body: ["to"] },
    async (request): Promise<Handover> => {
      const target = image(request);
      const to = optionalNodeField(request.body, "to") ?? context.nodeId;
      meta.state().node(to);
      const epoch = to === context.nodeId
        ? (await context.engine.acquire(target.name, "io")).epoch
        : await context.engine.owners.takeOwnership(to, target.name);
      return { name: target.name, owner: to, epoch };
    },
  );

  router.on("GET", "/v1/images/:name/stats", { query: ["nodes"] }, async (request) => {
    const name = image(request).name;
    const scope = request.query.get("nodes");
    if (scope === null) {
      const stats = context.engine.stats.summaryOf(name);
      return { node: context.nodeId, image: name, ...stats } satisfies ImageStats;
    }
    if (scope !== "all") {
      throw new UkaiError("INVALID_ARGUMENT", 'Query parameter "nodes" must be "all"');
    }
    const ids = [...meta.state().nodes.keys()].sort();
    const nodes = await Promise.all(ids.map(async (node): Promise<NodeImageStats> => {
      try {
        const summary = node === context.nodeId
          ? context.engine.stats.summaryOf(name)
          : await context.engine.owners.stats(node, name);
        return { node, reachable: true, ...summary };
      } catch (error) {
        return { node, reachable: false, error: (error as Error).message };
      }
    }));
    return { image: name, nodes } satisfies ImageStatsByNode;
  });
}
