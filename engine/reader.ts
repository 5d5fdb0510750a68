/**
 * Reads a byte range of an image from its in-sync copies (design rule 2):
 * per block, the local copy first when it is in sync, then the others by
 * measured round-trip time, suspended nodes last; a copy that fails is
 * skipped and the next one tried. Which copies count as in sync is the
 * caller's choice (the owner's projected view, or the metadata view).
 *
 * @module
 */

import { describeError, UkaiError } from "../base/errors.ts";
import type { ImageRecord } from "../meta/mod.ts";
import type { Channels } from "./channels.ts";
import { splitIntoSegments } from "./layout.ts";
import type { PeerHealth } from "./peer_health.ts";

/** Where a read goes and what it reports. */
export interface ReadContext {
  readonly nodeId: string;
  readonly channels: Channels;
  readonly health: PeerHealth;
  /** The in-sync copies of a block to choose from. */
  readonly copiesOf: (block: number) => readonly string[];
  /** The epoch the read carries. */
  readonly epoch: number;
  /** Called once per segment with the node that served it. */
  readonly served?: (node: string, bytes: number) => void;
}

/** `node: reason`, for the error that lists every copy that failed. */
function describe(node: string, error: unknown): string {
  return `${node}: ${describeError(error)}`;
}

/**
 * Reads `[offset, offset + length)` of `image` and resolves to its bytes as
 * one piece per block segment, in order: the buffers the copies answered
 * with, not copied again (a FUSE reply gathers them). Settles only once every
 * segment has, so a failed read leaves no request behind.
 *
 * @throws {UkaiError} NO_IN_SYNC_LOCATION when a block has no copy that answers; STALE_EPOCH
 *   when a copy is fenced at a newer epoch (the caller lost or lacks ownership)
 */
export async function readPieces(
  context: ReadContext,
  image: ImageRecord,
  offset: number,
  length: number,
): Promise<Uint8Array[]> {
  const segments = splitIntoSegments(offset, length, image.blockSize);
  const outcomes = await Promise.allSettled(segments.map(async (segment) => {
    const candidates = context.health.orderForRead(context.copiesOf(segment.block), context.nodeId);
    const failures: string[] = [];
    for (const node of candidates) {
      try {
        const data = await context.channels.to(node).read({
          uid: image.uid,
          epoch: context.epoch,
          block: segment.block,
          offset: segment.blockOffset,
          length: segment.length,
          flags: 0,
        });
        if (data.length !== segment.length) {
          throw new UkaiError(
            "PROTOCOL",
            `a read of ${segment.length} bytes answered with ${data.length}`,
          );
        }
        if (node !== context.nodeId) context.health.succeeded(node);
        context.served?.(node, segment.length);
        return data;
      } catch (error) {
        if (error instanceof UkaiError && error.code === "STALE_EPOCH") throw error;
        if (node !== context.nodeId) context.health.failed(node, describeError(error));
        failures.push(describe(node, error));
      }
    }
    throw new UkaiError(
      "NO_IN_SYNC_LOCATION",
      `No in-sync copy of block ${segment.block} of image "${image.name}" could be read${
        failures.length === 0 ? " (it has none)" : `: ${failures.join("; ")}`
      }`,
    );
  }));
  const pieces: Uint8Array[] = [];
  for (const outcome of outcomes) {
    if (outcome.status === "rejected") throw outcome.reason;
    pieces.push(outcome.value);
  }
  return pieces;
}
