/**
 * One outgoing peer: the long-lived connection this node dials for its own
 * requests, with admission control (in-flight requests and queued bytes are
 * bounded; callers wait in a bounded FIFO), request ids and pending responses,
 * deadlines (checked by the transport's sweep), and redialing after an
 * exponential backoff with jitter. While the connection is in backoff, calls
 * fail at once with the last error instead of piling up; once it is over, the
 * next call dials again, so a peer nobody uses any more (a removed node, a
 * bootstrap address) is not redialed forever.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Clock } from "../base/clock.ts";
import { describeError, UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import type { Rng } from "../base/rng.ts";
import type { BodyPool } from "./body_pool.ts";
import { backoffDelayMs } from "./backoff.ts";
import {
  bodySizeOf,
  encodeFrameHeader,
  type Frame,
  FRAME_HEADER_SIZE,
  type FrameKind,
  REQUEST_ID_MAX,
} from "./frame.ts";
import { type OutboundFrame, outboundFrame } from "./frame_writer.ts";
import {
  FRAMES_QUEUED_PER_CONNECTION_MAX,
  type TransportLimits,
  WAITERS_PER_PEER_MAX,
} from "./limits.ts";
import type { NodeId } from "./node_id.ts";
import { decodeRemoteError } from "./remote_error.ts";
import { RingBuffer } from "./ring_buffer.ts";
import {
  addCounters,
  Connection,
  type ConnectionCounters,
  type Socket,
  ZERO_COUNTERS,
} from "./tcp_connection.ts";
import { runClientHandshake } from "./tcp_handshake.ts";
import type { PeerState, PeerTarget } from "./transport.ts";

/** What an outgoing peer needs from its transport. */
export interface PeerEnvironment {
  readonly localNodeId: NodeId;
  readonly secret: Uint8Array;
  readonly limits: TransportLimits;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly logger: Logger;
  /** The peer's address now (`host:port`). @throws {UkaiError} UNREACHABLE when unknown */
  resolveAddress(target: PeerTarget): Promise<string>;
  /** Opens a socket to `address` (TCP or TLS); aborting `signal` cancels it. */
  dial(address: string, signal: AbortSignal): Promise<Socket>;
  /** Fresh random bytes for a handshake nonce. */
  nonce(): Uint8Array;
  /** Tells the transport that deadlines are pending, so its sweep must run. */
  deadlinesPending(): void;
  /** Where large bodies are received into. */
  readonly bodies: BodyPool;
}

interface PendingRequest {
  readonly type: number;
  readonly deadlineMs: number;
  readonly timeoutMs: number;
  readonly frame: OutboundFrame;
  readonly resolve: (body: Uint8Array) => void;
  readonly reject: (error: UkaiError) => void;
}

/** A caller waiting for room (or for the connection) before its request is admitted. */
interface Waiter {
  readonly byteCount: number;
  readonly deadlineMs: number;
  readonly timeoutMs: number;
  readonly admit: () => void;
  readonly reject: (error: UkaiError) => void;
}

interface ConnectWaiter {
  readonly resolve: (nodeId: NodeId) => void;
  readonly reject: (error: UkaiError) => void;
}

/** A snapshot of an outgoing peer, merged by the transport with its inbound side. */
export interface OutboundPeerStatus {
  readonly nodeId: NodeId | null;
  readonly address: string | null;
  readonly state: PeerState;
  readonly counters: ConnectionCounters;
  readonly reconnects: number;
  readonly requestsInFlight: number;
  readonly outboundBytesQueued: number;
  readonly lastError: string | null;
}

function asUkaiError(error: unknown, context: string): UkaiError {
  if (error instanceof UkaiError) return new UkaiError(error.code, `${context}: ${error.message}`);
  return new UkaiError("UNREACHABLE", `${context}: ${describeError(error)}`);
}

/** The outgoing side of one peer. */
export class OutboundPeer {
  /** The transport's key for this peer: the node id, or `address:HOST:PORT`. */
  readonly key: string;
  readonly target: PeerTarget;
  readonly #env: PeerEnvironment;
  #state: PeerState = "idle";
  #nodeId: NodeId | null;
  #address: string | null = null;
  /** Invariant: set iff state is "connected". */
  #connection: Connection | null = null;
  #handshaking: Connection | null = null;
  /** Frames admitted while connecting. Invariant: empty unless state is "connecting". */
  readonly #preconnect = new RingBuffer<OutboundFrame>(FRAMES_QUEUED_PER_CONNECTION_MAX);
  /** Invariant: size <= limits.requestsInFlightPerPeerMax. */
  readonly #pending = new Map<number, PendingRequest>();
  readonly #waiters = new RingBuffer<Waiter>(WAITERS_PER_PEER_MAX);
  readonly #connectWaiters = new RingBuffer<ConnectWaiter>(WAITERS_PER_PEER_MAX);
  /** Bytes admitted and not yet written. Invariant: >= 0. */
  #outboundBytes = 0;
  #nextRequestId = 1;
  #failures = 0;
  #everConnected = false;
  #reconnects = 0;
  #lastError: UkaiError | null = null;
  #backoffTimer: ReturnType<typeof setTimeout> | null = null;
  #dialAbort: AbortController | null = null;
  #dialing: Promise<void> | null = null;
  #totals: ConnectionCounters = ZERO_COUNTERS;

  /** Creates an idle peer; nothing is dialed until the first use. */
  constructor(key: string, target: PeerTarget, env: PeerEnvironment) {
    this.key = key;
    this.target = target;
    this.#env = env;
    this.#nodeId = typeof target === "string" ? target : null;
  }

  /** The peer's node id, once known. */
  get nodeId(): NodeId | null {
    return this.#nodeId;
  }

  /** Whether requests or waiters have deadlines to watch. */
  get hasDeadlines(): boolean {
    return this.#pending.size > 0 || this.#waiters.length > 0;
  }

  /** Sends a request; see `Transport.request`. */
  request(type: number, parts: readonly Uint8Array[], timeoutMs: number): Promise<Uint8Array> {
    const refusal = this.#refusal();
    if (refusal !== null) return Promise.reject(refusal);
    const byteCount = FRAME_HEADER_SIZE + bodySizeOf(parts);
    const tooLarge = this.#bodyTooLarge(byteCount - FRAME_HEADER_SIZE, type);
    if (tooLarge !== null) return Promise.reject(tooLarge);
    this.#ensureDialing();
    const deadlineMs = this.#env.clock.monotonicMs() + timeoutMs;
    return new Promise<Uint8Array>((resolve, reject) => {
      const admit = () =>
        this.#admitRequest(type, parts, { deadlineMs, timeoutMs, resolve, reject });
      if (this.#waiters.length === 0 && this.#hasRoom(byteCount, "request")) {
        admit();
      } else if (
        this.#waiters.push({ byteCount, deadlineMs, timeoutMs, admit, reject }) === "full"
      ) {
        reject(
          new UkaiError(
            "UNREACHABLE",
            `Cannot send request type ${type} to ${this.key}: ${WAITERS_PER_PEER_MAX} callers already wait for room`,
          ),
        );
      }
      this.#env.deadlinesPending();
    });
  }

  /** Queues a one-way message; see `Transport.send`. */
  send(type: number, parts: readonly Uint8Array[]): void {
    const refusal = this.#refusal();
    if (refusal !== null) throw refusal;
    const bodySize = bodySizeOf(parts);
    const tooLarge = this.#bodyTooLarge(bodySize, type);
    if (tooLarge !== null) throw tooLarge;
    this.#ensureDialing();
    if (!this.#hasRoom(FRAME_HEADER_SIZE + bodySize, "one-way")) {
      throw new UkaiError(
        "UNREACHABLE",
        `Cannot send message type ${type} to ${this.key}: ${this.#outboundBytes} bytes already queued (limit ${this.#env.limits.outboundBytesPerPeerMax})`,
      );
    }
    this.#enqueue(this.#frame("one-way", type, 0, parts));
  }

  /** Resolves with the peer's node id once connected; see `Transport.connect`. */
  connect(): Promise<NodeId> {
    const refusal = this.#refusal();
    if (refusal !== null) return Promise.reject(refusal);
    if (this.#state === "connected") {
      assert(this.#nodeId !== null);
      return Promise.resolve(this.#nodeId);
    }
    this.#ensureDialing();
    return new Promise((resolve, reject) => {
      if (this.#connectWaiters.push({ resolve, reject }) === "full") {
        reject(
          new UkaiError("UNREACHABLE", `Cannot connect to ${this.key}: too many callers wait`),
        );
      }
    });
  }

  /** Rejects requests and waiters whose deadline passed; true while deadlines remain. */
  sweep(nowMs: number): boolean {
    for (const [requestId, pending] of this.#pending) {
      if (pending.deadlineMs > nowMs) continue;
      this.#pending.delete(requestId);
      pending.frame.cancelled = true;
      pending.reject(
        new UkaiError(
          "TIMEOUT",
          `Request type ${pending.type} to ${this.key} timed out after ${pending.timeoutMs} ms`,
        ),
      );
    }
    this.#waiters.removeWhere((waiter) => {
      if (waiter.deadlineMs > nowMs) return false;
      waiter.reject(
        new UkaiError(
          "TIMEOUT",
          `Request to ${this.key} timed out after ${waiter.timeoutMs} ms waiting for room`,
        ),
      );
      return true;
    });
    this.#wakeWaiters();
    return this.hasDeadlines;
  }

  /** Status for `Transport.peers()`. */
  status(): OutboundPeerStatus {
    const live = this.#connection?.counters() ?? ZERO_COUNTERS;
    return {
      nodeId: this.#nodeId,
      address: this.#address,
      state: this.#state,
      counters: addCounters(this.#totals, live),
      reconnects: this.#reconnects,
      requestsInFlight: this.#pending.size,
      outboundBytesQueued: this.#outboundBytes,
      lastError: this.#lastError?.message ?? null,
    };
  }

  /** Stops the peer for good, rejecting everything with `error`. */
  close(error: UkaiError): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    if (this.#backoffTimer !== null) clearTimeout(this.#backoffTimer);
    this.#backoffTimer = null;
    this.#dialAbort?.abort();
    this.#handshaking?.close("peer closed");
    const connection = this.#connection;
    this.#connection = null;
    connection?.close("peer closed");
    this.#rejectAll(error);
  }

  /** Resolves once no dial, socket or read loop of this peer remains. */
  async finished(): Promise<void> {
    assert(this.#state === "closed", "finished() before close()");
    if (this.#dialing !== null) await this.#dialing;
    await this.#handshaking?.finished();
  }

  #refusal(): UkaiError | null {
    if (this.#state === "closed") {
      return new UkaiError("SHUTTING_DOWN", `Cannot use peer ${this.key}: the transport is closed`);
    }
    if (this.#state === "backoff") {
      const last = this.#lastError;
      assert(last !== null, "backoff without an error");
      return new UkaiError(last.code, `Cannot reach ${this.key} (redialing): ${last.message}`);
    }
    return null;
  }

  #bodyTooLarge(bodySize: number, type: number): UkaiError | null {
    if (bodySize <= this.#env.limits.bodySizeMax) return null;
    return new UkaiError(
      "INVALID_ARGUMENT",
      `Cannot send message type ${type} to ${this.key}: body of ${bodySize} bytes exceeds ${this.#env.limits.bodySizeMax}`,
    );
  }

  #hasRoom(byteCount: number, kind: FrameKind): boolean {
    const framesQueued = this.#connection?.queuedFrames ?? this.#preconnect.length;
    if (framesQueued >= FRAMES_QUEUED_PER_CONNECTION_MAX) return false;
    const { requestsInFlightPerPeerMax, outboundBytesPerPeerMax } = this.#env.limits;
    if (kind === "request" && this.#pending.size >= requestsInFlightPerPeerMax) return false;
    // A frame larger than the whole budget still goes alone, or it could never go.
    return this.#outboundBytes === 0 || this.#outboundBytes + byteCount <= outboundBytesPerPeerMax;
  }

  #admitRequest(
    type: number,
    parts: readonly Uint8Array[],
    settle: Omit<PendingRequest, "type" | "frame">,
  ): void {
    assert(this.#pending.size < this.#env.limits.requestsInFlightPerPeerMax);
    const requestId = this.#allocateRequestId();
    const frame = this.#frame("request", type, requestId, parts);
    this.#pending.set(requestId, { ...settle, type, frame });
    this.#enqueue(frame);
  }

  #frame(kind: FrameKind, type: number, requestId: number, parts: readonly Uint8Array[]) {
    const limits = { bodySizeMax: this.#env.limits.bodySizeMax };
    return outboundFrame(
      encodeFrameHeader({ kind, type, requestId, status: 0 }, parts, limits),
      parts,
    );
  }

  #allocateRequestId(): number {
    for (let attempt = 0; attempt <= this.#pending.size; attempt++) {
      const requestId = this.#nextRequestId;
      this.#nextRequestId = requestId === REQUEST_ID_MAX ? 1 : requestId + 1;
      if (!this.#pending.has(requestId)) return requestId;
    }
    assert(false, "no free request id although in-flight requests are bounded");
  }

  #enqueue(frame: OutboundFrame): void {
    assert(this.#state === "connecting" || this.#state === "connected");
    this.#outboundBytes += frame.byteCount;
    if (this.#connection !== null) {
      const outcome = this.#connection.send(frame);
      assert(outcome === "ok", `frame admitted but the writer said ${outcome}`);
    } else {
      assert(this.#preconnect.push(frame) === "ok", "frame admitted but the dial queue is full");
    }
  }

  #frameDone(frame: OutboundFrame): void {
    if (!frame.budgeted) return;
    this.#outboundBytes -= frame.byteCount;
    assert(this.#outboundBytes >= 0, "outbound byte count went negative");
    this.#wakeWaiters();
  }

  #wakeWaiters(): void {
    if (this.#state !== "connecting" && this.#state !== "connected") return;
    for (let waiter = this.#waiters.peek(); waiter !== undefined; waiter = this.#waiters.peek()) {
      if (!this.#hasRoom(waiter.byteCount, "request")) return;
      this.#waiters.shift();
      waiter.admit();
    }
  }

  #onFrame(connection: Connection, frame: Frame): void {
    const { header } = frame;
    if (header.kind !== "response") {
      connection.close(`peer sent a ${header.kind} frame on our outgoing connection`);
      return;
    }
    const pending = this.#pending.get(header.requestId);
    if (pending === undefined) {
      this.#env.logger.debug("response to a request no longer pending", {
        peer: this.key,
        requestId: header.requestId,
      });
      return;
    }
    if (pending.type !== header.type) {
      connection.close(`response type ${header.type} does not match request type ${pending.type}`);
      return;
    }
    this.#pending.delete(header.requestId);
    if (header.status === 0) pending.resolve(frame.body);
    else pending.reject(decodeRemoteError(header.status, frame.body));
    this.#wakeWaiters();
  }

  #ensureDialing(): void {
    if (this.#state !== "idle") return;
    this.#state = "connecting";
    this.#dialing = this.#dial();
  }

  async #dial(): Promise<void> {
    assert(this.#state === "connecting");
    const abort = new AbortController();
    this.#dialAbort = abort;
    const env = this.#env;
    try {
      const address = await env.resolveAddress(this.target);
      this.#address = address;
      if (this.#state !== "connecting") return;
      const socket = await env.dial(address, abort.signal);
      if (this.#state !== "connecting") {
        socket.close();
        return;
      }
      const connection = new Connection(socket, {
        clock: env.clock,
        onClose: (reason) => this.#connectionClosed(connection, reason),
        onFrameDone: (frame) => this.#frameDone(frame),
        bodies: env.bodies,
      });
      this.#handshaking = connection;
      const nodeId = await runClientHandshake(connection, {
        secret: env.secret,
        localNodeId: env.localNodeId,
        nonce: env.nonce(),
        timeoutMs: env.limits.handshakeTimeoutMs,
        expectedServerId: typeof this.target === "string" ? this.target : null,
      });
      this.#handshaking = null;
      if (this.#state !== "connecting") {
        connection.close("peer closed during the handshake");
        await connection.finished();
        return;
      }
      this.#connected(connection, nodeId);
    } catch (error) {
      const handshaking = this.#handshaking;
      this.#handshaking = null;
      handshaking?.close(`dial failed: ${describeError(error)}`);
      await handshaking?.finished();
      this.#dialFailed(
        asUkaiError(error, `Cannot connect to ${this.key} at ${this.#address ?? "?"}`),
      );
    } finally {
      this.#dialAbort = null;
    }
  }

  #connected(connection: Connection, nodeId: NodeId): void {
    assert(this.#state === "connecting" && this.#connection === null);
    if (this.#everConnected) this.#reconnects++;
    this.#everConnected = true;
    this.#failures = 0;
    this.#nodeId = nodeId;
    this.#connection = connection;
    this.#state = "connected";
    connection.setBodySizeMax(this.#env.limits.bodySizeMax);
    connection.setFrameHandler((frame) => this.#onFrame(connection, frame));
    for (const frame of this.#preconnect.drain()) {
      assert(connection.send(frame) === "ok", "writer refused a frame admitted while dialing");
    }
    this.#env.logger.info("connected to peer", {
      peer: this.key,
      node: nodeId,
      address: this.#address,
    });
    this.#wakeWaiters();
    for (const waiter of this.#connectWaiters.drain()) waiter.resolve(nodeId);
  }

  #dialFailed(error: UkaiError): void {
    if (this.#state === "closed") return;
    assert(this.#state === "connecting");
    this.#failures++;
    this.#enterBackoff(error, "dial failed");
  }

  #connectionClosed(connection: Connection, reason: string): void {
    this.#totals = addCounters(this.#totals, connection.counters());
    if (this.#connection !== connection) return; // a handshake that failed: #dial handles it
    this.#connection = null;
    if (this.#state === "closed") return;
    this.#failures = 1;
    this.#enterBackoff(
      new UkaiError("UNREACHABLE", `Connection to ${this.key} lost: ${reason}`),
      "connection lost",
    );
  }

  #enterBackoff(error: UkaiError, what: string): void {
    this.#lastError = error;
    this.#state = "backoff";
    this.#rejectAll(error);
    const { backoffMinMs, backoffMaxMs } = this.#env.limits;
    const delayMs = backoffDelayMs(
      this.#failures,
      { minMs: backoffMinMs, maxMs: backoffMaxMs },
      this.#env.rng,
    );
    this.#env.logger.warn(what, {
      peer: this.key,
      error: error.message,
      code: error.code,
      retryInMs: delayMs,
    });
    this.#backoffTimer = setTimeout(() => {
      this.#backoffTimer = null;
      // Nothing waits (calls were refused during the backoff): the next call dials.
      if (this.#state === "backoff") this.#state = "idle";
    }, delayMs);
  }

  /** Settles every request, waiter and connect call with `error`; the byte budget empties. */
  #rejectAll(error: UkaiError): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#preconnect.drain();
    this.#outboundBytes = 0;
    for (const request of pending) request.reject(error);
    for (const waiter of this.#waiters.drain()) waiter.reject(error);
    for (const waiter of this.#connectWaiters.drain()) waiter.reject(error);
  }
}
