/**
 * The owner-level calls between nodes, beside the block protocol: a read
 * forwarded to the image's owner, a request to release an image (graceful
 * hand-over), a request to take ownership (`ukai image handover --to`), a
 * node's health view and its I/O statistics of an image. Bodies are JSON and validated on arrival.
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import { checkImageName } from "../meta/mod.ts";
import type { Transport } from "../net/mod.ts";
import { BlockMessage, decodeJson, encodeJson } from "./block_protocol.ts";
import type { Engine, EngineSettings } from "./engine.ts";
import type { PeerHealthView } from "./peer_health.ts";
import { checkStatsSummary, type ImageStatsSummary } from "./stats.ts";

/** Calls a node makes on other nodes about ownership. */
export interface OwnerCalls {
  forwardRead(owner: string, name: string, offset: number, length: number): Promise<Uint8Array>;
  requestRelease(owner: string, name: string, epoch: number): Promise<void>;
  takeOwnership(node: string, name: string): Promise<number>;
  /** `node`'s view of its peers' health (RTT, suspensions). */
  health(node: string): Promise<PeerHealthView[]>;
  /** `node`'s I/O statistics of image `name`. */
  stats(node: string, name: string): Promise<ImageStatsSummary>;
}

function offsetField(body: Record<string, unknown>, key: string): number {
  const value = body[key];
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new UkaiError("PROTOCOL", `Field "${key}" must be a non-negative integer`);
  }
  return value;
}

/** The calls over the peer transport. */
export class RemoteOwnerCalls implements OwnerCalls {
  constructor(
    readonly transport: Transport,
    readonly settings: Pick<EngineSettings, "ioTimeoutMs" | "releaseTimeoutMs">,
  ) {}

  forwardRead(owner: string, name: string, offset: number, length: number) {
    return this.transport.request(
      owner,
      BlockMessage.forwardRead,
      encodeJson({ name, offset, length }),
      {
        timeoutMs: this.settings.ioTimeoutMs,
      },
    );
  }

  async requestRelease(owner: string, name: string, epoch: number): Promise<void> {
    await this.transport.request(owner, BlockMessage.release, encodeJson({ name, epoch }), {
      timeoutMs: this.settings.releaseTimeoutMs,
    });
  }

  async takeOwnership(node: string, name: string): Promise<number> {
    const answer = decodeJson(
      await this.transport.request(node, BlockMessage.takeOwnership, encodeJson({ name }), {
        timeoutMs: this.settings.ioTimeoutMs * 4,
      }),
    );
    return offsetField(answer, "epoch");
  }

  async health(node: string): Promise<PeerHealthView[]> {
    const answer = decodeJson(
      await this.transport.request(node, BlockMessage.health, new Uint8Array(0), {
        timeoutMs: this.settings.ioTimeoutMs,
      }),
    );
    if (!Array.isArray(answer.peers)) {
      throw new UkaiError("PROTOCOL", "Health answer without peers");
    }
    return answer.peers as PeerHealthView[];
  }

  async stats(node: string, name: string): Promise<ImageStatsSummary> {
    const answer = decodeJson(
      await this.transport.request(node, BlockMessage.stats, encodeJson({ name }), {
        timeoutMs: this.settings.ioTimeoutMs,
      }),
    );
    return checkStatsSummary(answer);
  }
}

/** Serves the owner-level calls for `engine`. */
export function registerOwnerRoutes(transport: Transport, engine: Engine): void {
  transport.handle(BlockMessage.forwardRead, async (_from, body) => {
    const request = decodeJson(body);
    const length = offsetField(request, "length");
    if (length > 64 * 1024 * 1024) throw new UkaiError("PROTOCOL", "Forwarded read too large");
    return await engine.readForPeer(
      checkImageName(request.name),
      offsetField(request, "offset"),
      length,
    );
  });
  transport.handle(BlockMessage.release, async (_from, body) => {
    const request = decodeJson(body);
    const released = await engine.releaseFor(
      checkImageName(request.name),
      offsetField(request, "epoch"),
    );
    return encodeJson({ released });
  });
  transport.handle(BlockMessage.takeOwnership, async (_from, body) => {
    const request = decodeJson(body);
    const session = await engine.acquire(checkImageName(request.name), "io");
    return encodeJson({ epoch: session.epoch });
  });
  transport.handle(BlockMessage.health, () => encodeJson({ peers: engine.health.views() }));
  transport.handle(BlockMessage.stats, (_from, body) => {
    const name = checkImageName(decodeJson(body).name);
    return encodeJson(engine.stats.summaryOf(name));
  });
}
