/**
 * Command handlers for images as a whole: create (thin, every block in sync at
 * its first locations), remove (refused while open or owned, unless forced),
 * resize within capacity, resync rate, opens and allowed hypervisors.
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import {
  BLOCK_SIZE_MAX,
  BLOCK_SIZE_MIN,
  BLOCKS_PER_IMAGE_MAX,
  IMAGE_SIZE_MAX,
  IMAGES_MAX,
  LOCATIONS_PER_IMAGE_MAX,
  SECTOR_SIZE,
} from "../constants.ts";
import type { Command } from "./commands.ts";
import { BlockStatus, ImageRecord } from "./image.ts";
import type { MetaState } from "./state.ts";

type Of<T extends Command["type"]> = Extract<Command, { type: T }>;

function checkGeometry(size: number, blockSize: number): void {
  const isPowerOfTwo = (blockSize & (blockSize - 1)) === 0;
  if (!isPowerOfTwo || blockSize < BLOCK_SIZE_MIN || blockSize > BLOCK_SIZE_MAX) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Block size ${blockSize} is not allowed: use a power of two from ${BLOCK_SIZE_MIN} to ${BLOCK_SIZE_MAX} bytes`,
    );
  }
  if (size % SECTOR_SIZE !== 0 || size > IMAGE_SIZE_MAX) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Image size ${size} is not allowed: use a multiple of ${SECTOR_SIZE} bytes up to ${IMAGE_SIZE_MAX}`,
    );
  }
  if (Math.ceil(size / blockSize) > BLOCKS_PER_IMAGE_MAX) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Image of ${size} bytes would have more than ${BLOCKS_PER_IMAGE_MAX} blocks: use larger blocks`,
    );
  }
}

function checkKnownNodes(state: MetaState, nodes: readonly string[], what: string): void {
  if (new Set(nodes).size !== nodes.length) {
    throw new UkaiError("INVALID_ARGUMENT", `The ${what} list names a node twice`);
  }
  for (const node of nodes) state.node(node);
}

/** image.create: a thin image whose blocks are all in sync at the given locations. */
export function applyImageCreate(state: MetaState, command: Of<"image.create">) {
  if (state.images.has(command.name)) {
    throw new UkaiError("IMAGE_EXISTS", `Image "${command.name}" already exists`);
  }
  if (state.images.size >= IMAGES_MAX) {
    throw new UkaiError(
      "CONFLICT",
      `Cannot create image: the cluster already has the most images it may have (${IMAGES_MAX})`,
    );
  }
  checkGeometry(command.size, command.blockSize);
  if (command.locations.length === 0 || command.locations.length > LOCATIONS_PER_IMAGE_MAX) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `An image needs 1 to ${LOCATIONS_PER_IMAGE_MAX} locations: got ${command.locations.length}`,
    );
  }
  checkKnownNodes(state, command.locations, "location");
  checkKnownNodes(state, command.hypervisors, "hypervisor");
  const blockCount = Math.ceil(command.size / command.blockSize);
  const image = new ImageRecord({
    name: command.name,
    uid: state.nextImageUid++,
    capacity: blockCount * command.blockSize,
    blockSize: command.blockSize,
    createdAtMs: command.createdAtMs,
  });
  image.size = command.size;
  for (const node of command.locations) {
    image.setStatus(node, { start: 0, end: blockCount }, BlockStatus.inSync);
  }
  for (const node of command.hypervisors) image.hypervisors.add(node);
  state.images.set(image.name, image);
  return { name: image.name, uid: image.uid, blockCount };
}

/** image.remove: refused while a node has the image open or owns it, unless forced. */
export function applyImageRemove(state: MetaState, command: Of<"image.remove">) {
  const image = state.image(command.name);
  const users = new Set(image.opens);
  if (image.owner !== null && image.ownerKind === "io") users.add(image.owner);
  if (users.size > 0 && !command.force) {
    throw new UkaiError(
      "IMAGE_BUSY",
      `Cannot remove image "${image.name}": it is open on ${
        [...users].map((node) => `"${node}"`).join(", ")
      }`,
      { details: { nodes: [...users] } },
    );
  }
  state.images.delete(image.name);
  return { name: image.name, uid: image.uid, locations: image.locationNodes() };
}

/**
 * image.resize: changes the visible size within the capacity, by the current
 * owner's epoch (a file may end anywhere; only creation asks for whole sectors).
 */
export function applyImageResize(state: MetaState, command: Of<"image.resize">) {
  const image = state.image(command.name);
  if (command.epoch !== image.epoch) {
    throw new UkaiError(
      "STALE_EPOCH",
      `Cannot resize image "${image.name}" at epoch ${command.epoch}: it is at epoch ${image.epoch}`,
    );
  }
  if (command.size > image.capacity) {
    throw new UkaiError(
      "OUT_OF_RANGE",
      `Cannot resize image "${image.name}" to ${command.size} bytes: its capacity is ${image.capacity}`,
    );
  }
  image.size = command.size;
  return { name: image.name, size: image.size };
}

/** image.setResyncRate: the image's resync cap in bytes/s (0: the node default). */
export function applyImageSetResyncRate(state: MetaState, command: Of<"image.setResyncRate">) {
  const image = state.image(command.name);
  image.resyncRateBytesPerSecond = command.bytesPerSecond;
  return { name: image.name, bytesPerSecond: command.bytesPerSecond };
}

/** image.open: records that a node's mount has the image open (idempotent). */
export function applyImageOpen(state: MetaState, command: Of<"image.open">) {
  const image = state.image(command.name);
  state.node(command.node);
  image.opens.add(command.node);
  return { name: image.name, opens: [...image.opens] };
}

/** image.close: forgets a node's open (idempotent). */
export function applyImageClose(state: MetaState, command: Of<"image.close">) {
  const image = state.image(command.name);
  image.opens.delete(command.node);
  return { name: image.name, opens: [...image.opens] };
}

/** hypervisor.add: allows a node to own the image for VM I/O. */
export function applyHypervisorAdd(state: MetaState, command: Of<"hypervisor.add">) {
  const image = state.image(command.name);
  state.node(command.node);
  image.hypervisors.add(command.node);
  return { name: image.name, hypervisors: [...image.hypervisors] };
}

/**
 * hypervisor.remove: withdraws that permission (the current owner keeps its
 * ownership). Refused for the last one, since an empty list means "every node".
 */
export function applyHypervisorRemove(state: MetaState, command: Of<"hypervisor.remove">) {
  const image = state.image(command.name);
  if (!image.hypervisors.has(command.node)) {
    throw new UkaiError(
      "NOT_FOUND",
      `Node "${command.node}" is not a hypervisor of image "${image.name}"`,
    );
  }
  if (image.hypervisors.size === 1) {
    throw new UkaiError(
      "CONFLICT",
      `Cannot remove "${command.node}", the last hypervisor of image "${image.name}": an empty list lets every node own the image; add the replacement first`,
    );
  }
  image.hypervisors.delete(command.node);
  return { name: image.name, hypervisors: [...image.hypervisors] };
}
