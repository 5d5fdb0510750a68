/**
 * The peer transport as its users see it: request/response and one-way
 * messages between authenticated ukai nodes, addressed by node id (or by a raw
 * address while bootstrapping), with handlers registered per message type.
 * `TcpTransport` (tcp_transport.ts) implements it; tests and the simulator may
 * bring their own.
 *
 * @module
 */

import type { NodeId } from "./node_id.ts";

/** A peer: a node id (resolved to an address at each dial) or a raw `host:port` address. */
export type PeerTarget = NodeId | { readonly address: string };

/** A message body: one buffer, or pieces sent back to back without concatenation. */
export type Body = Uint8Array | readonly Uint8Array[];

/**
 * Handles one request from an authenticated peer and returns the response
 * body. Throwing a `UkaiError` sends its code, message and details to the
 * caller; any other error is reported as IO. An `AssertionError` (a bug) is
 * rethrown and crashes the process.
 */
export type RequestHandler = (from: NodeId, body: Uint8Array) => Promise<Body> | Body;

/** How a request handler treats its request body. */
export interface HandlerOptions {
  /** The handler keeps no view of the request body once it has settled. */
  readonly releaseBody?: boolean;
}

/**
 * Handles one one-way message from an authenticated peer. While the returned
 * promise is pending, the message counts against the connection's inbound
 * limits (backpressure); a rejection is logged.
 */
export type MessageHandler = (from: NodeId, body: Uint8Array) => Promise<void> | void;

/** Options of one request. */
export interface RequestOptions {
  /** Deadline from the call (including any wait for room) to the response. */
  readonly timeoutMs?: number;
}

/** The state of the outgoing connection to a peer. */
export type PeerState = "idle" | "connecting" | "connected" | "backoff" | "closed";

/** One peer's connection status and counters, as `ukai node list` shows them. */
export interface PeerStatus {
  /** The node id, or `address:HOST:PORT` for a bootstrap peer. */
  readonly peer: string;
  /** The node id, once known (bootstrap peers learn it in the handshake). */
  readonly nodeId: NodeId | null;
  /** The address last dialed, or null. */
  readonly address: string | null;
  /** Outgoing connection state; "inbound-only" when this node never dialed the peer. */
  readonly state: PeerState | "inbound-only";
  /** True when an outgoing connection is up or an authenticated incoming one is. */
  readonly connected: boolean;
  /** Wall-clock milliseconds of the last bytes received from the peer, or null. */
  readonly lastContactMs: number | null;
  /** Bytes written to the peer, over every connection to and from it. */
  readonly bytesSent: number;
  /** Bytes read from the peer, over every connection. */
  readonly bytesReceived: number;
  /** Frames written to the peer, over every connection. */
  readonly framesSent: number;
  /** Frames read from the peer, over every connection. */
  readonly framesReceived: number;
  /** Outgoing connections established again after the first. */
  readonly reconnects: number;
  /** Requests awaiting a response. */
  readonly requestsInFlight: number;
  /** Bytes admitted and not yet written. */
  readonly outboundBytesQueued: number;
  /** Authenticated incoming connections from the peer. */
  readonly inboundConnections: number;
  /** Why the last dial or connection failed, or null. */
  readonly lastError: string | null;
}

/** The peer transport. */
export interface Transport {
  /** This node's id. */
  readonly nodeId: NodeId;

  /**
   * Registers the handler of requests of `type` (100-65535, once per type).
   * Response parts from the transport's pool ({@link takeBody}, or bodies it
   * received) are taken back once written, so a handler returns them only
   * when nothing else keeps them. With `releaseBody`, the request body is
   * taken back once the handler has settled: the handler keeps no view of it.
   */
  handle(type: number, handler: RequestHandler, options?: HandlerOptions): void;

  /** Registers the handler of one-way messages of `type` (100-65535, once per type). */
  onMessage(type: number, handler: MessageHandler): void;

  /**
   * Sends a request and resolves with the response body. Waits while the
   * peer's in-flight or queued-bytes limit is reached (the wait counts
   * against the deadline). The body must not change until the promise settles.
   *
   * @throws {UkaiError} the handler's code; TIMEOUT; UNREACHABLE (cannot connect, connection
   *   lost, or too many waiting callers); AUTH_FAILED; SHUTTING_DOWN; INVALID_ARGUMENT (body over
   *   the frame limit, malformed peer)
   */
  request(
    peer: PeerTarget,
    type: number,
    body: Body,
    options?: RequestOptions,
  ): Promise<Uint8Array>;

  /**
   * Queues a one-way message. Throws at once instead of waiting: one-way
   * senders (Raft) drop and retry, as etcd's rafthttp does when its buffer is full.
   * The body must not change afterwards.
   *
   * @throws {UkaiError} UNREACHABLE (queue full, or the peer is in backoff), AUTH_FAILED,
   *   SHUTTING_DOWN
   */
  send(peer: PeerTarget, type: number, body: Body): void;

  /** Connects (or reuses the connection) and resolves with the peer's node id. */
  connect(peer: PeerTarget): Promise<NodeId>;

  /** Measures one round trip of net/'s own ping, in milliseconds. */
  ping(peer: PeerTarget): Promise<number>;

  /**
   * Hands back a response body from {@link request} (or any view of it) that
   * nothing will read again, so that its buffer may receive a later body.
   * Optional: a body never handed back is garbage collected.
   */
  releaseBody(body: Uint8Array): void;

  /**
   * A buffer of `size` bytes for a response a handler is about to fill (from
   * the pool when the size is pooled; its contents are undefined).
   */
  takeBody(size: number): Uint8Array<ArrayBuffer>;

  /** Drops the peer: closes its connection, rejects its requests with UNREACHABLE, stops redialing. */
  disconnect(peer: PeerTarget): void;

  /** Status of every peer this node dialed or was dialed by. */
  peers(): PeerStatus[];

  /** Rejects everything pending with SHUTTING_DOWN and releases every socket and timer. */
  close(): Promise<void>;
}
