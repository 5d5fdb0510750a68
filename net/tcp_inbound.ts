/**
 * One incoming connection: the server side of the handshake, then requests
 * and one-way messages dispatched to the registered handlers. Until the peer
 * has proved the cluster secret, no handler is reachable and bodies are
 * limited to handshake size. A request holds a slot from arrival until its
 * response is written; when the slots or held bytes reach the limits, reading
 * pauses, so a fast sender is slowed by TCP instead of filling memory.
 *
 * @module
 */

import { assert, AssertionError } from "../base/assert.ts";
import type { Clock } from "../base/clock.ts";
import { describeError, UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import type { BodyPool } from "./body_pool.ts";
import { bodyParts } from "./body.ts";
import {
  bodySizeOf,
  encodeFrameHeader,
  type Frame,
  type FrameHeader,
  MESSAGE_TYPE_USER_MIN,
  NET_MESSAGE_TYPE,
} from "./frame.ts";
import { type OutboundFrame, outboundFrame } from "./frame_writer.ts";
import type { TransportLimits } from "./limits.ts";
import type { NodeId } from "./node_id.ts";
import { encodeRemoteError } from "./remote_error.ts";
import { Connection, type ConnectionCounters, type Socket } from "./tcp_connection.ts";
import { runServerHandshake } from "./tcp_handshake.ts";
import type { MessageHandler, RequestHandler } from "./transport.ts";

/** A request handler as registered, with whether it lets its request body go. */
export interface RegisteredHandler {
  readonly handler: RequestHandler;
  /** The transport takes the request body back once the handler has settled. */
  readonly releaseBody: boolean;
}

/** What an incoming connection needs from its transport. */
export interface InboundEnvironment {
  readonly localNodeId: NodeId;
  readonly secret: Uint8Array;
  readonly limits: TransportLimits;
  readonly clock: Clock;
  readonly logger: Logger;
  nonce(): Uint8Array;
  requestHandler(type: number): RegisteredHandler | undefined;
  messageHandler(type: number): MessageHandler | undefined;
  /** Where large bodies are received into. */
  readonly bodies: BodyPool;
}

/**
 * A bug in a handler crashes the process (style: bugs crash, a dropped mount
 * beats wrong data); rethrowing outside any promise chain makes it uncaught.
 */
function crash(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

/** The server side of one connection. */
export class InboundConnection {
  /** `host:port` of the remote end, for logs. */
  readonly remoteAddress: string;
  readonly #env: InboundEnvironment;
  readonly #connection: Connection;
  #peerNodeId: NodeId | null = null;
  /** Requests and messages being handled or whose response is unwritten. Invariant: >= 0. */
  #slots = 0;
  /** Bytes of the request bodies and responses those slots hold. Invariant: >= 0. */
  #heldBytes = 0;

  /** Wraps an accepted socket; {@link run} does the rest. */
  constructor(socket: Socket, remoteAddress: string, env: InboundEnvironment) {
    this.remoteAddress = remoteAddress;
    this.#env = env;
    this.#connection = new Connection(socket, {
      clock: env.clock,
      onClose: (reason) => this.#closed(reason),
      onFrameDone: (frame) => this.#responseWritten(frame),
      bodies: env.bodies,
    });
  }

  /** The authenticated peer, or null before (or without) authentication. */
  get peerNodeId(): NodeId | null {
    return this.#peerNodeId;
  }

  /** Traffic so far. */
  counters(): ConnectionCounters {
    return this.#connection.counters();
  }

  /** Authenticates the peer, then serves it until the connection closes. Never rejects. */
  async run(): Promise<void> {
    const env = this.#env;
    try {
      await runServerHandshake(this.#connection, {
        secret: env.secret,
        localNodeId: env.localNodeId,
        nonce: env.nonce(),
        timeoutMs: env.limits.handshakeTimeoutMs,
      }, (clientNodeId) => {
        this.#peerNodeId = clientNodeId;
        this.#connection.setBodySizeMax(env.limits.bodySizeMax);
        this.#connection.setFrameHandler((frame) => this.#onFrame(frame));
      });
      env.logger.debug("peer authenticated", {
        node: this.#peerNodeId,
        remote: this.remoteAddress,
      });
    } catch (error) {
      const code = error instanceof UkaiError ? error.code : "IO";
      env.logger.warn("incoming connection failed the handshake", {
        remote: this.remoteAddress,
        code,
        error: describeError(error),
      });
      this.#connection.close(`handshake failed: ${describeError(error)}`);
    }
    await this.#connection.finished();
  }

  /** Closes the connection; handlers still running finish, their responses are dropped. */
  close(reason: string): void {
    this.#connection.close(reason);
  }

  #closed(reason: string): void {
    if (this.#peerNodeId === null) return; // the handshake failure is logged by run()
    const fields = { node: this.#peerNodeId, remote: this.remoteAddress, reason };
    if (reason.startsWith("invalid frame")) {
      this.#env.logger.warn("closed an incoming connection that sent an invalid frame", fields);
    } else {
      this.#env.logger.debug("incoming connection closed", fields);
    }
  }

  #onFrame(frame: Frame): void {
    const { header } = frame;
    if (header.kind === "response") {
      this.#violation(`a response (type ${header.type}) on an incoming connection`);
      return;
    }
    if (header.type < MESSAGE_TYPE_USER_MIN && header.type !== NET_MESSAGE_TYPE.ping) {
      this.#violation(`reserved message type ${header.type} after the handshake`);
      return;
    }
    this.#hold(frame.body.length);
    if (header.kind === "one-way") this.#dispatchMessage(header.type, frame.body);
    else this.#dispatchRequest(header, frame.body);
  }

  #violation(what: string): void {
    this.#env.logger.warn("peer broke the protocol", { node: this.#peerNodeId, what });
    this.#connection.close(`protocol violation: ${what}`);
  }

  #hold(byteCount: number): void {
    this.#slots++;
    this.#heldBytes += byteCount;
    const { inboundRequestsPerConnectionMax, inboundBytesPerConnectionMax } = this.#env.limits;
    if (
      this.#slots >= inboundRequestsPerConnectionMax ||
      this.#heldBytes >= inboundBytesPerConnectionMax
    ) {
      this.#connection.pauseReading();
    }
  }

  #release(byteCount: number): void {
    this.#slots--;
    this.#heldBytes -= byteCount;
    assert(this.#slots >= 0 && this.#heldBytes >= 0, "inbound slot accounting went negative");
    const { inboundRequestsPerConnectionMax, inboundBytesPerConnectionMax } = this.#env.limits;
    if (
      this.#slots < inboundRequestsPerConnectionMax &&
      this.#heldBytes < inboundBytesPerConnectionMax
    ) {
      this.#connection.resumeReading();
    }
  }

  #dispatchMessage(type: number, body: Uint8Array): void {
    const handler = this.#env.messageHandler(type);
    const from = this.#peerNodeId as NodeId;
    if (handler === undefined) {
      this.#env.logger.warn("dropped a message of a type nobody handles", { node: from, type });
      this.#release(body.length);
      return;
    }
    const failed = (error: unknown) => {
      if (error instanceof AssertionError) crash(error);
      this.#env.logger.warn("message handler failed", {
        node: from,
        type,
        error: describeError(error),
      });
      this.#release(body.length);
    };
    let result: Promise<void> | void;
    try {
      result = handler(from, body);
    } catch (error) {
      failed(error);
      return;
    }
    if (result instanceof Promise) result.then(() => this.#release(body.length), failed);
    else this.#release(body.length);
  }

  #dispatchRequest(header: FrameHeader, body: Uint8Array): void {
    if (header.type === NET_MESSAGE_TYPE.ping) {
      this.#respond(header, 0, body.length === 0 ? [] : [body], body.length);
      return;
    }
    const registered = this.#env.requestHandler(header.type);
    if (registered === undefined) {
      const error = new UkaiError(
        "PROTOCOL",
        `Node "${this.#env.localNodeId}" has no handler for message type ${header.type}`,
      );
      const encoded = encodeRemoteError(error, "");
      this.#respond(header, encoded.status, [encoded.body], body.length);
      return;
    }
    this.#runHandler(registered, header, body).catch(crash);
  }

  async #runHandler(registered: RegisteredHandler, header: FrameHeader, body: Uint8Array) {
    const from = this.#peerNodeId as NodeId;
    let parts: readonly Uint8Array[];
    let status = 0;
    try {
      try {
        parts = bodyParts(await registered.handler(from, body));
      } finally {
        if (registered.releaseBody) this.#env.bodies.release(body);
      }
      const size = bodySizeOf(parts);
      if (size > this.#env.limits.bodySizeMax) {
        throw new UkaiError(
          "IO",
          `Response of ${size} bytes exceeds the frame limit ${this.#env.limits.bodySizeMax}`,
        );
      }
    } catch (error) {
      if (error instanceof AssertionError) throw error;
      if (!(error instanceof UkaiError)) {
        this.#env.logger.warn("request handler failed", {
          node: from,
          type: header.type,
          error: describeError(error),
        });
      }
      const encoded = encodeRemoteError(error, `Handler for message type ${header.type} failed`);
      status = encoded.status;
      parts = [encoded.body];
    }
    this.#respond(header, status, parts, body.length);
  }

  #respond(
    header: FrameHeader,
    status: number,
    parts: readonly Uint8Array[],
    requestBytes: number,
  ) {
    const fields = {
      kind: "response",
      type: header.type,
      requestId: header.requestId,
      status,
    } as const;
    const encoded = encodeFrameHeader(fields, parts, { bodySizeMax: this.#env.limits.bodySizeMax });
    const frame = outboundFrame(encoded, parts);
    // The slot now holds the response instead of the request body.
    this.#heldBytes += frame.byteCount - requestBytes;
    if (this.#connection.send(frame) !== "ok") {
      for (const part of parts) this.#env.bodies.release(part);
      this.#release(frame.byteCount);
    }
  }

  /** A response left the queue (written or dropped): its pooled parts go back to the pool. */
  #responseWritten(frame: OutboundFrame): void {
    for (const part of frame.parts) this.#env.bodies.release(part);
    if (!frame.budgeted) return;
    this.#release(frame.byteCount);
  }
}
