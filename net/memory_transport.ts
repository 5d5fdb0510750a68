/**
 * An in-memory `Transport` for tests and simulations: nodes of one
 * `MemoryNetwork` call each other's handlers directly (bodies are copied, as
 * on a wire, and errors cross as `UkaiError`s the way `remote_error.ts`
 * encodes them), with faults injected by the test: a node that is down, a
 * cut link, or a hook that runs before each delivery (to hold or fail it).
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { UkaiError } from "../base/errors.ts";
import { bodyParts } from "./body.ts";
import { decodeRemoteError, encodeRemoteError } from "./remote_error.ts";
import type {
  Body,
  MessageHandler,
  PeerStatus,
  PeerTarget,
  RequestHandler,
  RequestOptions,
  Transport,
} from "./transport.ts";
import { concatBytes } from "../base/bytes.ts";

/** Runs before a delivery from `from` to `to`; may delay (await) or throw a UkaiError. */
export type DeliveryHook = (from: string, to: string, type: number) => Promise<void> | void;

/** The nodes of an in-memory network and its faults. */
export class MemoryNetwork {
  readonly #nodes = new Map<string, MemoryTransport>();
  readonly #down = new Set<string>();
  readonly #cut = new Set<string>();
  hook: DeliveryHook | null = null;

  /** Adds a node and returns its transport. */
  join(nodeId: string): MemoryTransport {
    assert(!this.#nodes.has(nodeId), `node ${nodeId} joined twice`);
    const transport = new MemoryTransport(nodeId, this);
    this.#nodes.set(nodeId, transport);
    return transport;
  }

  /** Gives `nodeId` a fresh transport (a restarted process); the old one stops receiving. */
  rejoin(nodeId: string): MemoryTransport {
    assert(this.#nodes.has(nodeId), `node ${nodeId} never joined`);
    const transport = new MemoryTransport(nodeId, this);
    this.#nodes.set(nodeId, transport);
    return transport;
  }

  /** Makes `nodeId` unreachable (as if killed) or reachable again. */
  setDown(nodeId: string, down: boolean): void {
    if (down) this.#down.add(nodeId);
    else this.#down.delete(nodeId);
  }

  /** Cuts (or restores) the link between `a` and `b`, both ways. */
  setCut(a: string, b: string, cut: boolean): void {
    for (const key of [`${a}>${b}`, `${b}>${a}`]) {
      if (cut) this.#cut.add(key);
      else this.#cut.delete(key);
    }
  }

  /** The transport of `to`, or UNREACHABLE for `from`. */
  async reach(from: string, to: string, type: number): Promise<MemoryTransport> {
    if (this.hook !== null) await this.hook(from, to, type);
    const target = this.#nodes.get(to);
    if (target === undefined || this.#down.has(to) || this.#down.has(from)) {
      throw new UkaiError("UNREACHABLE", `Node "${to}" is unreachable from "${from}"`);
    }
    if (this.#cut.has(`${from}>${to}`)) {
      throw new UkaiError("UNREACHABLE", `The link from "${from}" to "${to}" is cut`);
    }
    return target;
  }
}

function copyBody(body: Body): Uint8Array {
  return concatBytes(bodyParts(body));
}

function peerId(peer: PeerTarget): string {
  assert(typeof peer === "string", "the memory transport addresses peers by node id");
  return peer;
}

/** One node's end of a {@link MemoryNetwork}. */
export class MemoryTransport implements Transport {
  readonly #handlers = new Map<number, RequestHandler>();
  readonly #messageHandlers = new Map<number, MessageHandler>();

  constructor(readonly nodeId: string, readonly network: MemoryNetwork) {}

  handle(type: number, handler: RequestHandler): void {
    assert(!this.#handlers.has(type), `handler for ${type} registered twice`);
    this.#handlers.set(type, handler);
  }

  onMessage(type: number, handler: MessageHandler): void {
    this.#messageHandlers.set(type, handler);
  }

  async request(
    peer: PeerTarget,
    type: number,
    body: Body,
    _options?: RequestOptions,
  ): Promise<Uint8Array> {
    const to = peerId(peer);
    const sent = copyBody(body);
    const target = await this.network.reach(this.nodeId, to, type);
    const handler = target.#handlers.get(type);
    if (handler === undefined) {
      throw new UkaiError("PROTOCOL", `Node "${to}" has no handler for message type ${type}`);
    }
    try {
      return copyBody(await handler(this.nodeId, sent));
    } catch (error) {
      const encoded = encodeRemoteError(error, `handler of ${type}`);
      throw decodeRemoteError(encoded.status, encoded.body);
    }
  }

  send(peer: PeerTarget, type: number, body: Body): void {
    const to = peerId(peer);
    const sent = copyBody(body);
    void this.network.reach(this.nodeId, to, type).then(
      (target) => target.#messageHandlers.get(type)?.(this.nodeId, sent),
      () => undefined,
    );
  }

  connect(peer: PeerTarget): Promise<string> {
    return Promise.resolve(peerId(peer));
  }

  async ping(peer: PeerTarget): Promise<number> {
    await this.network.reach(this.nodeId, peerId(peer), 3);
    return 0.1;
  }

  disconnect(_peer: PeerTarget): void {}

  /** Bodies are not pooled here: nothing to take back. */
  releaseBody(_body: Uint8Array): void {}

  /** A fresh buffer (no pool here). */
  takeBody(size: number): Uint8Array<ArrayBuffer> {
    return new Uint8Array(size);
  }

  peers(): PeerStatus[] {
    return [];
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
