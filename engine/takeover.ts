/**
 * Taking ownership of an image (design rule 3), step by step: ask the
 * current owner to release (graceful hand-over), compare-and-set the owner in
 * the metadata (which bumps the epoch), fence every location, then mark what
 * the plan says — unreachable copies and the previous owner's activity log —
 * in one command, before any I/O.
 *
 * @module
 */

import { describeError, UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import type { MetaStore, OwnerKind } from "../meta/mod.ts";
import type { Channels } from "./channels.ts";
import { planTakeover } from "./takeover_plan.ts";

/** How many times a take that lost a race is retried. */
export const TAKEOVER_ATTEMPTS_MAX = 5;

/** What a takeover needs. */
export interface TakeoverContext {
  readonly nodeId: string;
  readonly meta: MetaStore;
  readonly channels: Channels;
  readonly logger: Logger;
  /** Asks `owner` to release the image (it answers once released, or fails). */
  readonly requestRelease: (owner: string, name: string, epoch: number) => Promise<void>;
}

/** The result of a takeover. */
export interface Takeover {
  readonly uid: number;
  readonly epoch: number;
  /** The boot id each fenced location answered with. */
  readonly bootIds: ReadonlyMap<string, string>;
}

async function take(context: TakeoverContext, name: string, kind: OwnerKind) {
  for (let attempt = 1;; attempt++) {
    await context.meta.sync();
    let image = context.meta.state().image(name);
    if (kind === "resync" && image.owner !== null && image.owner !== context.nodeId) {
      // A resync only fills an empty seat; it never takes an image from anyone.
      throw new UkaiError(
        "CONFLICT",
        `Image "${name}" is owned by ${image.owner}; its owner resyncs it`,
      );
    }
    if (image.owner !== null && image.owner !== context.nodeId) {
      try {
        await context.requestRelease(image.owner, name, image.epoch);
        await context.meta.sync();
        image = context.meta.state().image(name);
      } catch (error) {
        context.logger.warn("owner did not release; taking over", {
          image: name,
          owner: image.owner,
          error: describeError(error),
        });
      }
    }
    try {
      const taken = await context.meta.propose({
        type: "owner.take",
        name,
        node: context.nodeId,
        kind,
        expectedEpoch: image.epoch,
      });
      return { epoch: taken.epoch as number, activity: taken.activity as number[], uid: image.uid };
    } catch (error) {
      const lostRace = error instanceof UkaiError && error.code === "CONFLICT";
      if (!lostRace || attempt >= TAKEOVER_ATTEMPTS_MAX) throw error;
    }
  }
}

/**
 * Takes ownership of `name` for `kind` and prepares it for I/O.
 *
 * @throws {UkaiError} PERMISSION_DENIED (not an allowed hypervisor), CONFLICT (lost the race
 *   too often), STALE_EPOCH (another node took it meanwhile), NO_QUORUM / TIMEOUT
 */
export async function takeOwnership(
  context: TakeoverContext,
  name: string,
  kind: OwnerKind,
): Promise<Takeover> {
  const { epoch, activity, uid } = await take(context, name, kind);
  const image = context.meta.state().image(name);
  const header = { uid, epoch, block: 0, offset: 0, length: 0, flags: 0 };
  const unreachable = new Set<string>();
  const bootIds = new Map<string, string>();
  await Promise.all(
    image.locationNodes().map(async (node) => {
      try {
        bootIds.set(node, await context.channels.to(node).fence(header));
      } catch (error) {
        if (error instanceof UkaiError && error.code === "STALE_EPOCH") throw error;
        unreachable.add(node);
        context.logger.warn("location not fenced; marking it out of sync", {
          image: name,
          node,
          error: describeError(error),
        });
      }
    }),
  );
  const plan = planTakeover(image, context.nodeId, unreachable, activity);
  if (plan.marks.length > 0 || plan.retireActivity.length > 0) {
    await context.meta.propose({
      type: "blocks.mark",
      name,
      epoch,
      marks: plan.marks,
      retireActivity: plan.retireActivity,
    });
  }
  context.logger.info("ownership taken", {
    image: name,
    epoch,
    kind,
    unreachable: [...unreachable].join(","),
    reconciled: plan.retireActivity.length,
  });
  return { uid, epoch, bootIds };
}
