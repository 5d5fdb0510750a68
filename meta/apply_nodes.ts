/**
 * Command handlers for cluster members: add, update, remove (refused while the
 * node still holds data, unless forced), and closing every open of a node
 * that restarted. Each handler validates before it changes anything.
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import { NODES_MAX } from "../constants.ts";
import type { Command } from "./commands.ts";
import { BlockStatus } from "./image.ts";
import type { MetaState } from "./state.ts";

type Of<T extends Command["type"]> = Extract<Command, { type: T }>;

/** node.add: registers a member (idempotent for an identical record). */
export function applyNodeAdd(state: MetaState, command: Of<"node.add">) {
  const existing = state.nodes.get(command.id);
  if (existing !== undefined) {
    if (existing.address === command.address && existing.zone === command.zone) {
      existing.role = command.role;
      return { id: command.id, added: false };
    }
    throw new UkaiError(
      "NODE_EXISTS",
      `Node "${command.id}" is already a member at ${existing.address}`,
    );
  }
  if (state.nodes.size >= NODES_MAX) {
    throw new UkaiError(
      "CONFLICT",
      `Cannot add node: the cluster already has the most nodes it may have (${NODES_MAX})`,
    );
  }
  state.nodes.set(command.id, {
    id: command.id,
    address: command.address,
    zone: command.zone,
    role: command.role,
  });
  return { id: command.id, added: true };
}

/** node.update: changes address, zone or role. */
export function applyNodeUpdate(state: MetaState, command: Of<"node.update">) {
  const node = state.node(command.id);
  if (command.address !== undefined) node.address = command.address;
  if (command.zone !== undefined) node.zone = command.zone;
  if (command.role !== undefined) node.role = command.role;
  return { id: node.id };
}

/**
 * node.remove: refused while the node is a location or owner of an image,
 * unless `force` (the node is lost): then its copies are written off and the
 * result says which blocks lost their last in-sync copy.
 */
export function applyNodeRemove(state: MetaState, command: Of<"node.remove">) {
  state.node(command.id);
  const holding = [...state.images.values()].filter((image) =>
    image.hasLocation(command.id) || image.owner === command.id
  );
  if (holding.length > 0 && !command.force) {
    throw new UkaiError(
      "IMAGE_BUSY",
      `Cannot remove node "${command.id}": it holds images ${
        holding.map((image) => `"${image.name}"`).join(", ")
      }; remove its locations first, or use force if the node is lost`,
      { details: { images: holding.map((image) => image.name) } },
    );
  }
  const lostBlocks: Record<string, number> = {};
  for (const image of state.images.values()) {
    if (image.owner === command.id) {
      image.owner = null;
      image.ownerKind = null;
    }
    image.opens.delete(command.id);
    image.hypervisors.delete(command.id);
    if (!image.hasLocation(command.id)) continue;
    const statuses = image.statusView(command.id) as Uint8Array;
    let lost = 0;
    for (let block = 0; block < image.blockCount; block++) {
      if (statuses[block] !== BlockStatus.inSync) continue;
      if (image.inSyncCount(block) === 1) lost++;
    }
    if (lost > 0) lostBlocks[image.name] = lost;
    image.setStatus(command.id, { start: 0, end: image.blockCount }, BlockStatus.absent);
  }
  state.nodes.delete(command.id);
  return { id: command.id, lostBlocks };
}

/** node.closeAll: forgets every open by a node (it restarted, so it has none). */
export function applyNodeCloseAll(state: MetaState, command: Of<"node.closeAll">) {
  let closed = 0;
  for (const image of state.images.values()) {
    if (image.opens.delete(command.node)) closed++;
  }
  return { closed };
}
