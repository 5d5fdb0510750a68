/**
 * Control API routes for images: create, list, show, remove, locations,
 * hypervisors, sync, move, hand-over and statistics. Each mutating route
 * turns a validated request into one metadata command; the
 * `Idempotency-Key` header becomes the command's request id, so a retried
 * call is applied once.
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import { BLOCK_SIZE_DEFAULT } from "../constants.ts";
import { type Command, type ImageView, imageView, imageViews } from "../meta/mod.ts";
import type { ControlContext } from "./context.ts";
import type { ControlRequest, Router } from "./http.ts";
import { json } from "./http.ts";
import {
  imageField,
  nodeField,
  nodeListField,
  queryFlag,
  rangeField,
  rateField,
  sizeField,
} from "./input.ts";
import { imageStatsView } from "./stats_view.ts";

/** The short form of an image in lists. */
export function imageSummary(view: ImageView) {
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
  const key = request.headers.get("idempotency-key");
  if (key === null) return command;
  if (key.length === 0 || key.length > 64) {
    throw new UkaiError("INVALID_ARGUMENT", "Idempotency-Key must be 1 to 64 characters");
  }
  return { ...command, requestId: `api:${key}` };
}

/** Registers the image routes. */
export function imageRoutes(router: Router, context: ControlContext): void {
  const { meta } = context;
  const image = (name: unknown) => meta.state().image(imageField(name));
  const propose = (request: ControlRequest, command: Command) =>
    meta.propose(withRequestId(request, command));

  router.on("GET", "/v1/images", async (request) => {
    if (queryFlag(request.query, "fresh")) await meta.sync();
    return { images: imageViews(meta.state()).map(imageSummary) };
  });

  router.on("POST", "/v1/images", async (request) => {
    const body = request.body;
    const size = sizeField(body, "size");
    if (size === undefined) throw new UkaiError("INVALID_ARGUMENT", 'Field "size" is required');
    const name = imageField(body.name);
    await propose(request, {
      type: "image.create",
      name,
      size,
      blockSize: sizeField(body, "blockSize") ?? BLOCK_SIZE_DEFAULT,
      locations: nodeListField(body, "locations") ?? [context.nodeId],
      hypervisors: nodeListField(body, "hypervisors") ?? [],
      createdAtMs: context.clock.wallMs(),
    });
    return json(imageView(image(name)), 201);
  });

  router.on("GET", "/v1/images/:name", async (request) => {
    if (queryFlag(request.query, "fresh")) await meta.sync();
    return imageView(image(request.params.name));
  });

  router.on("DELETE", "/v1/images/:name", async (request) => {
    const name = imageField(request.params.name);
    return await propose(request, {
      type: "image.remove",
      name,
      force: queryFlag(request.query, "force"),
    });
  });

  router.on("POST", "/v1/images/:name/locations", async (request) => {
    const target = image(request.params.name);
    const range = rangeField(request.body.range, target.blockCount);
    return await propose(request, {
      type: "location.add",
      name: target.name,
      node: nodeField(request.body, "node"),
      ...(range === undefined ? {} : { range }),
    });
  });

  router.on("DELETE", "/v1/images/:name/locations/:node", async (request) => {
    const target = image(request.params.name);
    const range = rangeField(request.query.get("range") ?? undefined, target.blockCount);
    return await propose(request, {
      type: "location.remove",
      name: target.name,
      node: nodeField(request.params, "node"),
      ...(range === undefined ? {} : { range }),
    });
  });

  router.on("POST", "/v1/images/:name/hypervisors", async (request) => {
    return await propose(request, {
      type: "hypervisor.add",
      name: imageField(request.params.name),
      node: nodeField(request.body, "node"),
    });
  });

  router.on("DELETE", "/v1/images/:name/hypervisors/:node", async (request) => {
    return await propose(request, {
      type: "hypervisor.remove",
      name: imageField(request.params.name),
      node: nodeField(request.params, "node"),
    });
  });

  router.on("POST", "/v1/images/:name/sync", async (request) => {
    const target = image(request.params.name);
    rangeField(request.body.range, target.blockCount);
    const rate = rateField(request.body, "rate");
    if (rate !== undefined) {
      await propose(request, {
        type: "image.setResyncRate",
        name: target.name,
        bytesPerSecond: rate,
      });
    }
    return { name: target.name, outOfSyncBlocks: target.outOfSyncTotal() };
  });

  router.on("POST", "/v1/images/:name/move", async (request) => {
    const target = image(request.params.name);
    const rate = rateField(request.body, "rate");
    if (rate !== undefined) {
      await meta.propose({ type: "image.setResyncRate", name: target.name, bytesPerSecond: rate });
    }
    return await propose(request, {
      type: "move.start",
      name: target.name,
      from: nodeField(request.body, "from"),
      to: nodeField(request.body, "to"),
      startedAtMs: context.clock.wallMs(),
    });
  });

  router.on("POST", "/v1/images/:name/handover", async (request) => {
    const target = image(request.params.name);
    const to = nodeField(request.body, "to");
    meta.state().node(to);
    const epoch = to === context.nodeId
      ? (await context.engine.acquire(target.name, "io")).epoch
      : await context.engine.owners.takeOwnership(to, target.name);
    return { name: target.name, owner: to, epoch };
  });

  router.on("GET", "/v1/images/:name/stats", (request) => {
    const target = image(request.params.name);
    return {
      node: context.nodeId,
      ...imageStatsView(target.name, context.engine.stats.image(target.name)),
    };
  });

  router.on("POST", "/v1/images/:name/cancel-move", async (request) => {
    return await propose(request, { type: "move.cancel", name: imageField(request.params.name) });
  });
}
