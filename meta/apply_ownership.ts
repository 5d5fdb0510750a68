/**
 * Command handlers for who may do I/O: taking ownership (compare-and-set on
 * the epoch, which it bumps; VM ownership only for allowed hypervisors),
 * releasing it, and the activity log of blocks that may have writes in
 * flight — what a new owner must reconcile after a crash (design rule 4).
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import type { Command } from "./commands.ts";
import { checkEpoch } from "./apply_locations.ts";
import type { MetaState } from "./state.ts";

type Of<T extends Command["type"]> = Extract<Command, { type: T }>;

/** Most activity-log entries per image: bounds what a takeover must reconcile. */
export const ACTIVITY_BLOCKS_MAX = 65_536;

/** owner.take: bumps the epoch and installs the owner, if nobody took it meanwhile. */
export function applyOwnerTake(state: MetaState, command: Of<"owner.take">) {
  const image = state.image(command.name);
  state.node(command.node);
  if (command.expectedEpoch !== image.epoch) {
    throw new UkaiError(
      "CONFLICT",
      `Cannot take image "${image.name}": expected epoch ${command.expectedEpoch}, it is at ${image.epoch} (owner ${
        image.owner ?? "none"
      })`,
      { details: { epoch: image.epoch, owner: image.owner } },
    );
  }
  if (
    command.kind === "io" && image.hypervisors.size > 0 && !image.hypervisors.has(command.node)
  ) {
    throw new UkaiError(
      "PERMISSION_DENIED",
      `Node "${command.node}" may not run image "${image.name}": its hypervisors are ${
        [...image.hypervisors].join(", ")
      }`,
    );
  }
  const previousOwner = image.owner;
  image.owner = command.node;
  image.ownerKind = command.kind;
  image.epoch++;
  return {
    name: image.name,
    epoch: image.epoch,
    previousOwner,
    activity: [...image.activity.keys()],
  };
}

/** owner.release: the owner gives the image up (a no-op when it no longer owns it). */
export function applyOwnerRelease(state: MetaState, command: Of<"owner.release">) {
  const image = state.image(command.name);
  if (image.owner !== command.node || image.epoch !== command.epoch) {
    return { name: image.name, released: false };
  }
  image.owner = null;
  image.ownerKind = null;
  return { name: image.name, released: true };
}

/** activity.add: the owner records blocks it is about to write. */
export function applyActivityAdd(state: MetaState, command: Of<"activity.add">) {
  const image = state.image(command.name);
  checkEpoch(image, command.epoch, "record activity");
  const fresh = command.blocks.filter((block) => !image.activity.has(block));
  for (const block of command.blocks) {
    if (block >= image.blockCount) {
      throw new UkaiError("INVALID_ARGUMENT", `Block ${block} is outside image "${image.name}"`);
    }
  }
  if (image.activity.size + fresh.length > ACTIVITY_BLOCKS_MAX) {
    throw new UkaiError(
      "CONFLICT",
      `Image "${image.name}" has ${image.activity.size} active blocks; at most ${ACTIVITY_BLOCKS_MAX}`,
    );
  }
  for (const block of command.blocks) image.activity.set(block, command.epoch);
  return { name: image.name, active: image.activity.size };
}

/** activity.retire: the owner drops blocks whose writes are all acknowledged and flushed. */
export function applyActivityRetire(state: MetaState, command: Of<"activity.retire">) {
  const image = state.image(command.name);
  checkEpoch(image, command.epoch, "retire activity");
  for (const block of command.blocks) image.activity.delete(block);
  return { name: image.name, active: image.activity.size };
}
