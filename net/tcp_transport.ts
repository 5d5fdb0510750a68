/**
 * The TCP (optionally TLS) implementation of {@link Transport}: one listener
 * for incoming connections, one long-lived outgoing connection per peer, a
 * single sweep timer for request deadlines, and `close()` that leaves no
 * socket, timer or pending promise behind. Sockets and timers live only in
 * the tcp_*.ts files of net/.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { assert } from "../base/assert.ts";
import { type Clock, systemClock } from "../base/clock.ts";
import { describeError, UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import { Rng } from "../base/rng.ts";
import { formatAddress, parseAddress } from "./address.ts";
import { BodyPool } from "./body_pool.ts";
import { bodyParts } from "./body.ts";
import { MESSAGE_TYPE_MAX, MESSAGE_TYPE_USER_MIN, NET_MESSAGE_TYPE } from "./frame.ts";
import { NONCE_SIZE, SECRET_SIZE_MIN } from "./handshake.ts";
import {
  PEER_COUNTERS_MAX,
  PEERS_MAX,
  TRANSPORT_LIMITS_DEFAULT,
  type TransportLimits,
  transportLimitsInvalid,
} from "./limits.ts";
import { type NodeId, nodeIdInvalid } from "./node_id.ts";
import {
  addCounters,
  type ConnectionCounters,
  type Socket,
  ZERO_COUNTERS,
} from "./tcp_connection.ts";
import { InboundConnection, type RegisteredHandler } from "./tcp_inbound.ts";
import { OutboundPeer, type PeerEnvironment } from "./tcp_peer.ts";
import type {
  Body,
  HandlerOptions,
  MessageHandler,
  PeerStatus,
  PeerTarget,
  RequestHandler,
  RequestOptions,
  Transport,
} from "./transport.ts";

/** Maps a node id to its current `host:port` (undefined when unknown). Called at every dial. */
export type AddressResolver = (
  nodeId: NodeId,
) => string | undefined | Promise<string | undefined>;

/** PEM files for TLS. Peers are verified against the CA and the address dialed. */
export interface TlsFiles {
  /** This node's certificate chain (PEM); it must name every address peers dial it by. */
  readonly certFile: string;
  /** This node's private key (PEM). */
  readonly keyFile: string;
  /** The CA that signed the peers' certificates (PEM). */
  readonly caFile: string;
}

/** Options of {@link TcpTransport.listen}. */
export interface TcpTransportOptions {
  /** This node's id. */
  readonly nodeId: NodeId;
  /** The cluster secret (at least 16 bytes; a string is taken as UTF-8). */
  readonly secret: Uint8Array | string;
  /** Address to listen on ("0.0.0.0", "127.0.0.1", "::"). */
  readonly hostname: string;
  /** Port to listen on; 0 picks a free one (see {@link TcpTransport.port}). */
  readonly port: number;
  /** Finds a peer's address by node id. */
  readonly resolve: AddressResolver;
  /** Structured log sink. */
  readonly logger: Logger;
  /** TLS for every connection, both ways; plain TCP when absent. */
  readonly tls?: TlsFiles;
  /** Overrides of {@link TRANSPORT_LIMITS_DEFAULT}. */
  readonly limits?: Partial<TransportLimits>;
  /** Backoff jitter source; seeded from the OS when absent. */
  readonly rng?: Rng;
  /** Time source; the system clock when absent. */
  readonly clock?: Clock;
}

interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

const encoder = new TextEncoder();

/**
 * Bodies from 64 KiB to 1 MiB + 64 KiB (a 1 MiB payload and its header) are
 * received into pooled buffers, up to 32 of them kept free; see
 * {@link TcpTransport.releaseBody}.
 */
const BODY_POOL = { bufferBytes: 1024 * 1024 + 65536, minimumBytes: 65536, freeMax: 32 } as const;

function configError(message: string): UkaiError {
  return new UkaiError("CONFIG", message);
}

async function readTls(files: TlsFiles): Promise<TlsMaterial> {
  const read = async (path: string, what: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      throw configError(`Cannot read TLS ${what} "${path}": ${describeError(error)}`);
    }
  };
  return {
    cert: await read(files.certFile, "certificate"),
    key: await read(files.keyFile, "key"),
    ca: await read(files.caFile, "CA certificate"),
  };
}

function checkOptions(
  options: TcpTransportOptions,
): { limits: TransportLimits; secret: Uint8Array } {
  const idReason = nodeIdInvalid(options.nodeId);
  if (idReason !== null) throw configError(`Cannot start the transport: ${idReason}`);
  const limits = { ...TRANSPORT_LIMITS_DEFAULT, ...options.limits };
  const limitsReason = transportLimitsInvalid(limits);
  if (limitsReason !== null) throw configError(`Cannot start the transport: ${limitsReason}`);
  const secret = typeof options.secret === "string"
    ? encoder.encode(options.secret)
    : options.secret;
  if (secret.length < SECRET_SIZE_MIN) {
    throw configError(
      `Cannot start the transport: the cluster secret must be at least ${SECRET_SIZE_MIN} bytes: current length is ${secret.length}`,
    );
  }
  return { limits, secret };
}

/**
 * The peer transport over TCP or TLS.
 *
 * @example
 * ```ts
 * import { TcpTransport } from "./tcp_transport.ts";
 * import { silentLogger } from "../base/log.ts";
 * const addresses = new Map<string, string>();
 * const start = (nodeId: string) =>
 *   TcpTransport.listen({
 *     nodeId,
 *     secret: "example cluster secret, 16+ bytes",
 *     hostname: "127.0.0.1",
 *     port: 0,
 *     resolve: (id) => addresses.get(id),
 *     logger: silentLogger,
 *   });
 * const n1 = await start("n1");
 * const n2 = await start("n2");
 * addresses.set("n2", n2.address);
 * n2.handle(200, (from, body) => [new TextEncoder().encode(from + ":"), body]);
 * const reply = await n1.request("n2", 200, new TextEncoder().encode("hi"));
 * if (new TextDecoder().decode(reply) !== "n1:hi") throw new Error("unexpected reply");
 * await n1.close();
 * await n2.close();
 * ```
 */
export class TcpTransport implements Transport {
  readonly nodeId: NodeId;
  readonly #options: TcpTransportOptions;
  readonly #limits: TransportLimits;
  readonly #secret: Uint8Array;
  readonly #tls: TlsMaterial | null;
  readonly #listener: Deno.Listener;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #requestHandlers = new Map<number, RegisteredHandler>();
  readonly #messageHandlers = new Map<number, MessageHandler>();
  /** Invariant: size <= PEERS_MAX. */
  readonly #peers = new Map<string, OutboundPeer>();
  /** Invariant: size <= limits.inboundConnectionsMax. */
  readonly #inbound = new Map<InboundConnection, Promise<void>>();
  /** Counters of closed incoming connections per node. Invariant: size <= PEER_COUNTERS_MAX. */
  readonly #inboundTotals = new Map<NodeId, ConnectionCounters>();
  /** Peers dropped by disconnect() whose sockets may still be closing. */
  readonly #retiring = new Set<Promise<void>>();
  #sweepTimer: ReturnType<typeof setInterval> | null = null;
  #acceptRetryTimer: ReturnType<typeof setTimeout> | null = null;
  #acceptLoop: Promise<void> = Promise.resolve();
  #closing: Promise<void> | null = null;
  readonly #peerEnvironment: PeerEnvironment;
  readonly #bodies = new BodyPool(BODY_POOL);

  private constructor(
    options: TcpTransportOptions,
    checked: { limits: TransportLimits; secret: Uint8Array },
    tls: TlsMaterial | null,
    listener: Deno.Listener,
  ) {
    this.nodeId = options.nodeId;
    this.#options = options;
    this.#limits = checked.limits;
    this.#secret = checked.secret;
    this.#tls = tls;
    this.#listener = listener;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#rng = options.rng ?? new Rng(randomBytes(4).readUInt32BE(0));
    this.#peerEnvironment = {
      localNodeId: this.nodeId,
      secret: this.#secret,
      limits: this.#limits,
      clock: this.#clock,
      rng: this.#rng,
      logger: this.#logger,
      resolveAddress: (target) => this.#resolveAddress(target),
      dial: (address, signal) => this.#dial(address, signal),
      nonce: () => new Uint8Array(randomBytes(NONCE_SIZE)),
      deadlinesPending: () => this.#startSweep(),
      bodies: this.#bodies,
    };
  }

  /**
   * Starts listening and returns the transport.
   *
   * @throws {UkaiError} CONFIG for an invalid node id, secret, limit or TLS file
   */
  static async listen(options: TcpTransportOptions): Promise<TcpTransport> {
    const checked = checkOptions(options);
    const tls = options.tls === undefined ? null : await readTls(options.tls);
    let listener: Deno.Listener;
    try {
      listener = tls === null
        ? Deno.listen({ hostname: options.hostname, port: options.port })
        : Deno.listenTls({
          hostname: options.hostname,
          port: options.port,
          cert: tls.cert,
          key: tls.key,
        });
    } catch (error) {
      throw configError(
        `Cannot listen on ${formatAddress(options.hostname, options.port)}: ${
          describeError(error)
        }`,
      );
    }
    const transport = new TcpTransport(options, checked, tls, listener);
    transport.#acceptLoop = transport.#accept();
    options.logger.info("transport listening", {
      node: options.nodeId,
      address: transport.address,
      tls: tls !== null,
    });
    return transport;
  }

  /** The port the listener is bound to. */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** `host:port` the listener is bound to. */
  get address(): string {
    const addr = this.#listener.addr as Deno.NetAddr;
    return formatAddress(addr.hostname, addr.port);
  }

  /** The limits in force. */
  get limits(): Readonly<TransportLimits> {
    return this.#limits;
  }

  /** Registers the request handler of `type`; see {@link Transport.handle}. */
  handle(type: number, handler: RequestHandler, options: HandlerOptions = {}): void {
    assertUserType(type);
    assert(!this.#requestHandlers.has(type), `request handler for type ${type} registered twice`);
    this.#requestHandlers.set(type, { handler, releaseBody: options.releaseBody === true });
  }

  /** Registers the one-way handler of `type`; see {@link Transport.onMessage}. */
  onMessage(type: number, handler: MessageHandler): void {
    assertUserType(type);
    assert(!this.#messageHandlers.has(type), `message handler for type ${type} registered twice`);
    this.#messageHandlers.set(type, handler);
  }

  /** Sends a request and awaits its response; see {@link Transport.request}. */
  request(
    peer: PeerTarget,
    type: number,
    body: Body,
    options: RequestOptions = {},
  ): Promise<Uint8Array> {
    assertUserType(type);
    return this.#request(peer, type, body, options.timeoutMs ?? this.#limits.requestTimeoutMs);
  }

  /** Queues a one-way message or throws at once; see {@link Transport.send}. */
  send(peer: PeerTarget, type: number, body: Body): void {
    assertUserType(type);
    this.#peerFor(peer).send(type, bodyParts(body));
  }

  /** Connects and resolves with the peer's node id; see {@link Transport.connect}. */
  connect(peer: PeerTarget): Promise<NodeId> {
    try {
      return this.#peerFor(peer).connect();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** See {@link Transport.releaseBody}. */
  releaseBody(body: Uint8Array): void {
    this.#bodies.release(body);
  }

  /** See {@link Transport.takeBody}. */
  takeBody(size: number): Uint8Array<ArrayBuffer> {
    return this.#bodies.take(size) ?? new Uint8Array(size);
  }

  /** Measures a round trip in milliseconds; see {@link Transport.ping}. */
  async ping(peer: PeerTarget): Promise<number> {
    const startMs = this.#clock.monotonicMs();
    await this.#request(
      peer,
      NET_MESSAGE_TYPE.ping,
      new Uint8Array(8),
      this.#limits.requestTimeoutMs,
    );
    return this.#clock.monotonicMs() - startMs;
  }

  /** Drops a peer; see {@link Transport.disconnect}. */
  disconnect(peer: PeerTarget): void {
    const key = peerKey(peer);
    const outbound = this.#peers.get(key);
    if (outbound === undefined) return;
    this.#peers.delete(key);
    outbound.close(new UkaiError("UNREACHABLE", `Peer ${key} was disconnected`));
    const finished = outbound.finished().finally(() => this.#retiring.delete(finished));
    this.#retiring.add(finished);
  }

  /** Status of every peer; see {@link Transport.peers}. */
  peers(): PeerStatus[] {
    const live = this.#liveInbound();
    const statuses: PeerStatus[] = [];
    for (const [key, peer] of this.#peers) {
      const outbound = peer.status();
      // Incoming traffic is merged into the peer addressed by node id, not into bootstrap entries.
      const nodeId = key === outbound.nodeId ? outbound.nodeId : null;
      const inbound = this.#inboundOf(nodeId, live);
      const counters = addCounters(outbound.counters, inbound.counters);
      statuses.push({
        ...statusCounters(counters),
        peer: key,
        nodeId: outbound.nodeId,
        address: outbound.address,
        state: outbound.state,
        connected: outbound.state === "connected" || inbound.count > 0,
        reconnects: outbound.reconnects,
        requestsInFlight: outbound.requestsInFlight,
        outboundBytesQueued: outbound.outboundBytesQueued,
        inboundConnections: inbound.count,
        lastError: outbound.lastError,
      });
    }
    for (const nodeId of new Set([...live.keys(), ...this.#inboundTotals.keys()])) {
      if (this.#peers.has(nodeId)) continue;
      const inbound = this.#inboundOf(nodeId, live);
      statuses.push({
        ...statusCounters(inbound.counters),
        peer: nodeId,
        nodeId,
        address: null,
        state: "inbound-only",
        connected: inbound.count > 0,
        reconnects: 0,
        requestsInFlight: 0,
        outboundBytesQueued: 0,
        inboundConnections: inbound.count,
        lastError: null,
      });
    }
    return statuses;
  }

  /** Closes everything; see {@link Transport.close}. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#listener.close();
    if (this.#sweepTimer !== null) clearInterval(this.#sweepTimer);
    this.#sweepTimer = null;
    if (this.#acceptRetryTimer !== null) clearTimeout(this.#acceptRetryTimer);
    this.#acceptRetryTimer = null;
    const shuttingDown = new UkaiError(
      "SHUTTING_DOWN",
      `Transport of node "${this.nodeId}" is closed`,
    );
    for (const peer of this.#peers.values()) peer.close(shuttingDown);
    for (const inbound of this.#inbound.keys()) inbound.close("transport closing");
    await this.#acceptLoop;
    await Promise.all([
      ...[...this.#peers.values()].map((peer) => peer.finished()),
      ...this.#inbound.values(),
      ...this.#retiring,
    ]);
    this.#logger.info("transport closed", { node: this.nodeId });
  }

  #request(peer: PeerTarget, type: number, body: Body, timeoutMs: number): Promise<Uint8Array> {
    assert(Number.isSafeInteger(timeoutMs) && timeoutMs > 0, "request timeout must be positive");
    try {
      return this.#peerFor(peer).request(type, bodyParts(body), timeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #peerFor(target: PeerTarget): OutboundPeer {
    const key = peerKey(target);
    const existing = this.#peers.get(key);
    if (existing !== undefined) return existing;
    if (this.#closing !== null) {
      throw new UkaiError("SHUTTING_DOWN", `Transport of node "${this.nodeId}" is closed`);
    }
    if (typeof target === "string") {
      const reason = nodeIdInvalid(target);
      if (reason !== null) {
        throw new UkaiError("INVALID_ARGUMENT", `Cannot address peer: ${reason}`);
      }
      if (target === this.nodeId) {
        throw new UkaiError("INVALID_ARGUMENT", `Cannot address node "${target}": it is this node`);
      }
    } else {
      const parsed = parseAddress(target.address);
      if (typeof parsed === "string") {
        throw new UkaiError("INVALID_ARGUMENT", `Cannot address peer: ${parsed}`);
      }
    }
    if (this.#peers.size >= PEERS_MAX) {
      throw new UkaiError("INVALID_ARGUMENT", `Cannot add peer ${key}: ${PEERS_MAX} peers already`);
    }
    const peer = new OutboundPeer(key, target, this.#peerEnvironment);
    this.#peers.set(key, peer);
    return peer;
  }

  async #resolveAddress(target: PeerTarget): Promise<string> {
    if (typeof target !== "string") return target.address;
    const address = await this.#options.resolve(target);
    if (address === undefined) {
      throw new UkaiError("UNREACHABLE", `No address is known for node "${target}"`);
    }
    if (typeof parseAddress(address) === "string") {
      throw new UkaiError(
        "UNREACHABLE",
        `Address "${address}" of node "${target}" is not HOST:PORT`,
      );
    }
    return address;
  }

  async #dial(address: string, signal: AbortSignal): Promise<Socket> {
    const parsed = parseAddress(address);
    assert(typeof parsed !== "string", "resolved address was checked");
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.#limits.dialTimeoutMs);
    try {
      const tcp = await Deno.connect({
        hostname: parsed.hostname,
        port: parsed.port,
        signal: AbortSignal.any([signal, timeout.signal]),
      });
      tcp.setNoDelay(true);
      if (this.#tls === null) return tcp;
      return await Deno.startTls(tcp, { hostname: parsed.hostname, caCerts: [this.#tls.ca] });
    } catch (error) {
      if (timeout.signal.aborted) {
        throw new UkaiError("TIMEOUT", `Dial not answered within ${this.#limits.dialTimeoutMs} ms`);
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async #accept(): Promise<void> {
    while (this.#closing === null) {
      let socket: Deno.Conn;
      try {
        socket = await this.#listener.accept();
      } catch (error) {
        if (this.#closing !== null || error instanceof Deno.errors.BadResource) return;
        this.#logger.error("accept failed", { error: describeError(error) });
        await new Promise<void>((resolve) => {
          this.#acceptRetryTimer = setTimeout(() => {
            this.#acceptRetryTimer = null;
            resolve();
          }, 100);
        });
        continue;
      }
      this.#admit(socket);
    }
  }

  #admit(socket: Deno.Conn): void {
    const remote = socket.remoteAddr as Deno.NetAddr;
    const remoteAddress = formatAddress(remote.hostname, remote.port);
    if (this.#closing !== null || this.#inbound.size >= this.#limits.inboundConnectionsMax) {
      this.#logger.warn("refused an incoming connection", {
        remote: remoteAddress,
        reason: this.#closing !== null ? "closing" : "too many connections",
      });
      socket.close();
      return;
    }
    if (this.#tls === null) (socket as Deno.TcpConn).setNoDelay(true);
    const inbound = new InboundConnection(socket, remoteAddress, {
      localNodeId: this.nodeId,
      secret: this.#secret,
      limits: this.#limits,
      clock: this.#clock,
      logger: this.#logger,
      nonce: () => new Uint8Array(randomBytes(NONCE_SIZE)),
      requestHandler: (type) => this.#requestHandlers.get(type),
      messageHandler: (type) => this.#messageHandlers.get(type),
      bodies: this.#bodies,
    });
    const run = inbound.run().then(() => this.#inboundEnded(inbound));
    this.#inbound.set(inbound, run);
  }

  #inboundEnded(inbound: InboundConnection): void {
    this.#inbound.delete(inbound);
    const nodeId = inbound.peerNodeId;
    if (nodeId === null) return;
    const previous = this.#inboundTotals.get(nodeId);
    if (previous === undefined && this.#inboundTotals.size >= PEER_COUNTERS_MAX) return;
    this.#inboundTotals.set(nodeId, addCounters(previous ?? ZERO_COUNTERS, inbound.counters()));
  }

  /** Live and past incoming traffic from `nodeId` (nothing for null). */
  #inboundOf(
    nodeId: NodeId | null,
    live: Map<NodeId, { count: number; counters: ConnectionCounters }>,
  ): { count: number; counters: ConnectionCounters } {
    if (nodeId === null) return { count: 0, counters: ZERO_COUNTERS };
    const current = live.get(nodeId) ?? { count: 0, counters: ZERO_COUNTERS };
    const past = this.#inboundTotals.get(nodeId) ?? ZERO_COUNTERS;
    return { count: current.count, counters: addCounters(current.counters, past) };
  }

  #liveInbound(): Map<NodeId, { count: number; counters: ConnectionCounters }> {
    const live = new Map<NodeId, { count: number; counters: ConnectionCounters }>();
    for (const inbound of this.#inbound.keys()) {
      const nodeId = inbound.peerNodeId;
      if (nodeId === null) continue;
      const entry = live.get(nodeId) ?? { count: 0, counters: ZERO_COUNTERS };
      live.set(nodeId, {
        count: entry.count + 1,
        counters: addCounters(entry.counters, inbound.counters()),
      });
    }
    return live;
  }

  #startSweep(): void {
    if (this.#sweepTimer !== null || this.#closing !== null) return;
    this.#sweepTimer = setInterval(() => {
      const nowMs = this.#clock.monotonicMs();
      let pending = false;
      for (const peer of this.#peers.values()) {
        if (peer.sweep(nowMs)) pending = true;
      }
      if (!pending && this.#sweepTimer !== null) {
        clearInterval(this.#sweepTimer);
        this.#sweepTimer = null;
      }
    }, this.#limits.timeoutResolutionMs);
  }
}

function statusCounters(counters: ConnectionCounters) {
  return {
    lastContactMs: counters.lastReceiveMs,
    bytesSent: counters.bytesSent,
    bytesReceived: counters.bytesReceived,
    framesSent: counters.framesSent,
    framesReceived: counters.framesReceived,
  };
}

function peerKey(target: PeerTarget): string {
  return typeof target === "string" ? target : `address:${target.address}`;
}

function assertUserType(type: number): void {
  assert(
    Number.isInteger(type) && type >= MESSAGE_TYPE_USER_MIN && type <= MESSAGE_TYPE_MAX,
    `message type ${type} is outside ${MESSAGE_TYPE_USER_MIN}-${MESSAGE_TYPE_MAX}`,
  );
}
