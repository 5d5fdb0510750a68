/**
 * A user-space TCP fault proxy for end-to-end tests (tc netem is not
 * available here). Each node listens on a private port and advertises its
 * proxy's port, so every connection *to* a node passes that node's proxy.
 *
 * The proxy learns who dials by reading the first frame of the stream: the
 * handshake's HELLO names the client's node id (parsed with net/'s own
 * `FrameDecoder` and `parseHello`). The node fronted by the proxy is the
 * other end. Rules then apply per connection, between the node that dialed
 * (`from`) and the node dialed (`to`); `"*"` matches any node, including a
 * client that sent no HELLO:
 *
 * - `block(from, to)`: connections `from` dials to `to` are cut now and
 *   refused from now on (closed right after their HELLO, before the node
 *   sees them) — like a network that resets, not a black hole. ukai sends
 *   every Raft message on a connection its sender dialed, so this stops
 *   messages from `from` to `to` (and replies to `from`'s requests) while
 *   messages from `to` to `from` still flow;
 * - `isolate(node)`: block both directions between `node` and everyone;
 * - `partition(a, b)`: block both directions between every pair across;
 * - `latency(from, to, ms)`: delays every byte of the connections `from`
 *   dials to `to`, both ways (a round trip costs twice `ms`), order kept;
 *   applies to live connections at once;
 * - `drop(from, to)`: cuts the matching live connections once (they may
 *   reconnect);
 * - `heal()`: removes every rule.
 *
 * A stream whose first bytes are not a valid HELLO frame (garbage, a frame
 * before the handshake) is forwarded as is, with an unknown sender, so the
 * node itself refuses it.
 *
 * @module
 */

import { HANDSHAKE_BODY_SIZE_MAX } from "../../net/limits.ts";
import { FrameDecoder, NET_MESSAGE_TYPE, parseHello } from "../../net/mod.ts";
import { concatBytes } from "../../base/bytes.ts";

/** A rule of the network: which connections it matches and what it does to them. */
export type FaultRule =
  | { readonly kind: "block"; readonly from: string; readonly to: string }
  | { readonly kind: "latency"; readonly from: string; readonly to: string; readonly ms: number };

/** A live proxied connection, as {@link FaultNetwork.connections} lists it. */
export interface ConnectionView {
  /** The dialing node, or null when its first frame was not a HELLO. */
  readonly from: string | null;
  /** The node the proxy fronts. */
  readonly to: string;
}

/** Counters per directed pair `from→to` (`?` for an unknown sender). */
export interface PairCounters {
  /** Connections forwarded to the node. */
  accepted: number;
  /** Connections closed after their HELLO because a rule blocked the pair. */
  refused: number;
  /** Live connections cut by a new rule or by `drop`. */
  cut: number;
}

/** How long the proxy waits for a dialer's first frame before giving up on it. */
const FIRST_FRAME_TIMEOUT_MS = 5_000;
/** Bytes a delay line may hold before the proxy stops reading that direction. */
const DELAYED_BYTES_MAX = 4 * 1024 * 1024;
/** Events kept for failure messages. */
const EVENTS_MAX = 500;
const READ_BUFFER_BYTES = 64 * 1024;

function matches(pattern: string, node: string | null): boolean {
  return pattern === "*" || pattern === node;
}

function describeRule(rule: FaultRule): string {
  return rule.kind === "block"
    ? `block ${rule.from}→${rule.to}`
    : `latency ${rule.from}→${rule.to} ${rule.ms}ms`;
}

async function writeAll(sink: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await sink.write(bytes.subarray(written));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One connection through a proxy: client socket, upstream socket and two pumps. */
class ProxiedConnection {
  from: string | null = null;
  /** Set once the first frame was read (or given up on). */
  identified = false;
  upstream: Deno.Conn | null = null;
  #closed = false;

  constructor(readonly to: string, readonly client: Deno.Conn) {}

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const socket of [this.client, this.upstream]) {
      try {
        socket?.close();
      } catch {
        // already closed
      }
    }
  }
}

/** The proxy in front of one node. */
export class FaultProxy {
  /** The node this proxy fronts. */
  readonly nodeId: string;
  /** Where the node really listens (`host:port`). */
  readonly target: string;
  readonly #network: FaultNetwork;
  readonly #listener: Deno.Listener;
  readonly #connections = new Set<ProxiedConnection>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #acceptLoop: Promise<void>;
  #closing = false;

  constructor(network: FaultNetwork, nodeId: string, target: string) {
    this.#network = network;
    this.nodeId = nodeId;
    this.target = target;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#acceptLoop = this.#accept();
  }

  /** The port peers dial. */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** `127.0.0.1:port`, the address the node advertises. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The live connections. */
  connections(): ConnectionView[] {
    return [...this.#connections].filter((connection) =>
      connection.identified && !connection.closed
    )
      .map((connection) => ({ from: connection.from, to: connection.to }));
  }

  /** Cuts the live connections `predicate` selects; returns how many. */
  cut(predicate: (from: string | null) => boolean, why: string): number {
    let count = 0;
    for (const connection of this.#connections) {
      if (!connection.identified || connection.closed || !predicate(connection.from)) continue;
      connection.close();
      count++;
      this.#network.record(connection.from, this.nodeId, "cut", why);
    }
    return count;
  }

  /** Stops accepting, cuts every connection and waits for every task. */
  async close(): Promise<void> {
    this.#closing = true;
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    for (const connection of this.#connections) connection.close();
    await this.#acceptLoop;
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
  }

  #track(task: Promise<void>): void {
    const tracked = task.catch(() => undefined).finally(() => this.#tasks.delete(tracked));
    this.#tasks.add(tracked);
  }

  async #accept(): Promise<void> {
    for (;;) {
      let client: Deno.Conn;
      try {
        client = await this.#listener.accept();
      } catch {
        return; // the listener closed
      }
      if (this.#closing) {
        client.close();
        continue;
      }
      const connection = new ProxiedConnection(this.nodeId, client);
      this.#connections.add(connection);
      this.#track(
        this.#serve(connection).finally(() => {
          connection.close();
          this.#connections.delete(connection);
        }),
      );
    }
  }

  async #serve(connection: ProxiedConnection): Promise<void> {
    const first = await this.#readFirstFrame(connection);
    connection.from = first.from;
    connection.identified = true;
    if (first.bytes.length === 0 || connection.closed) return;
    if (this.#refused(connection)) return;
    const [hostname, port] = [
      this.target.slice(0, this.target.lastIndexOf(":")),
      Number(this.target.slice(this.target.lastIndexOf(":") + 1)),
    ];
    let upstream: Deno.TcpConn;
    try {
      upstream = await Deno.connect({ hostname, port });
    } catch {
      return; // the node is down: the dialer sees the connection close
    }
    if (connection.closed) {
      upstream.close(); // cut while connecting
      return;
    }
    upstream.setNoDelay(true);
    connection.upstream = upstream;
    if (this.#refused(connection)) return;
    this.#network.record(connection.from, this.nodeId, "accepted", "");
    await Promise.all([
      (async () => {
        await writeAll(upstream, first.bytes).catch(() => connection.close());
        await this.#pump(connection, connection.client, upstream);
      })(),
      this.#pump(connection, upstream, connection.client),
    ]);
  }

  #refused(connection: ProxiedConnection): boolean {
    const rule = this.#network.blocking(connection.from, this.nodeId);
    if (rule === null) return false;
    this.#network.record(connection.from, this.nodeId, "refused", describeRule(rule));
    connection.close();
    return true;
  }

  /**
   * Reads until the first frame is complete (a HELLO names the sender), the
   * bytes cannot be a frame, the stream ends, or the wait times out; returns
   * every byte read, to be forwarded unchanged.
   */
  async #readFirstFrame(
    connection: ProxiedConnection,
  ): Promise<{ from: string | null; bytes: Uint8Array }> {
    const decoder = new FrameDecoder({ bodySizeMax: HANDSHAKE_BODY_SIZE_MAX });
    const held: Uint8Array[] = [];
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    const timer = setTimeout(() => connection.close(), FIRST_FRAME_TIMEOUT_MS);
    try {
      for (;;) {
        const count = await connection.client.read(buffer).catch(() => null);
        if (count === null) return { from: null, bytes: concatBytes(held) };
        const chunk = buffer.slice(0, count);
        held.push(chunk);
        let offset = 0;
        while (offset < chunk.length && decoder.failure === null) {
          offset += decoder.feed(chunk.subarray(offset));
          const frame = decoder.take();
          if (frame === null) continue;
          const isHello = frame.header.kind === "request" &&
            frame.header.type === NET_MESSAGE_TYPE.hello;
          const hello = isHello ? parseHello(frame.body) : null;
          const from = hello?.kind === "hello" ? hello.clientNodeId : null;
          return { from, bytes: concatBytes(held) };
        }
        if (decoder.failure !== null) return { from: null, bytes: concatBytes(held) };
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Copies `source` to `sink`, through a delay line while latency applies; then closes both. */
  async #pump(connection: ProxiedConnection, source: Deno.Conn, sink: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    let tail: Promise<void> = Promise.resolve();
    let delayedBytes = 0;
    try {
      while (!connection.closed) {
        const count = await source.read(buffer).catch(() => null);
        if (count === null) break;
        const chunk = buffer.slice(0, count);
        const latencyMs = this.#network.latencyOf(connection.from, this.nodeId);
        if (latencyMs === 0 && delayedBytes === 0) {
          await writeAll(sink, chunk);
          continue;
        }
        const dueMs = performance.now() + latencyMs;
        delayedBytes += chunk.length;
        tail = tail.then(async () => {
          await sleep(Math.max(0, dueMs - performance.now()));
          delayedBytes -= chunk.length;
          if (!connection.closed) await writeAll(sink, chunk);
        }).catch(() => connection.close());
        if (delayedBytes > DELAYED_BYTES_MAX) await tail;
      }
    } catch {
      // a socket failed or was closed: the connection ends
    } finally {
      await tail;
      connection.close();
    }
  }
}

/**
 * The proxies of one test cluster and the rules they share. Close it in
 * `finally` (after the nodes are gone, or before: either order is safe).
 */
export class FaultNetwork {
  readonly #proxies = new Map<string, FaultProxy>();
  #rules: FaultRule[] = [];
  readonly #counters = new Map<string, PairCounters>();
  readonly #events: string[] = [];

  /** Starts the proxy in front of `nodeId`, which listens at `target`; returns it. */
  front(nodeId: string, target: string): FaultProxy {
    const existing = this.#proxies.get(nodeId);
    if (existing !== undefined) {
      if (existing.target !== target) {
        throw new Error(`Node ${nodeId} is already fronted for ${existing.target}, not ${target}`);
      }
      return existing;
    }
    const proxy = new FaultProxy(this, nodeId, target);
    this.#proxies.set(nodeId, proxy);
    return proxy;
  }

  /** The proxy in front of `nodeId`. */
  proxy(nodeId: string): FaultProxy {
    const proxy = this.#proxies.get(nodeId);
    if (proxy === undefined) throw new Error(`No proxy fronts node ${nodeId}`);
    return proxy;
  }

  /** Refuses connections `from` dials to `to` (either may be `"*"`) and cuts the live ones. */
  block(from: string, to: string): void {
    this.#add({ kind: "block", from, to });
  }

  /** Blocks every connection to and from `node`. */
  isolate(node: string): void {
    this.block(node, "*");
    this.block("*", node);
  }

  /** Blocks both directions between every node of `side` and every node of `other`. */
  partition(side: readonly string[], other: readonly string[]): void {
    for (const a of side) {
      for (const b of other) {
        this.block(a, b);
        this.block(b, a);
      }
    }
  }

  /** Delays the bytes of connections `from` dials to `to` by `ms`, both ways. */
  latency(from: string, to: string, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`Latency must be >= 0: got ${ms}`);
    this.#add({ kind: "latency", from, to, ms });
  }

  /** Cuts the live connections `from` dials to `to` once; returns how many were cut. */
  drop(from: string, to: string): number {
    return this.#cut(from, to, `drop ${from}→${to}`);
  }

  /** Removes every rule; refused pairs may connect again. */
  heal(): void {
    if (this.#rules.length > 0) this.#event(`heal (${this.#rules.map(describeRule).join(", ")})`);
    this.#rules = [];
  }

  /** The rules in force. */
  rules(): readonly FaultRule[] {
    return [...this.#rules];
  }

  /** The live connections through every proxy. */
  connections(): ConnectionView[] {
    return [...this.#proxies.values()].flatMap((proxy) => proxy.connections());
  }

  /** Counters of the pair `from→to` (`from` null for senders without a HELLO). */
  counters(from: string | null, to: string): PairCounters {
    return { ...(this.#counters.get(`${from ?? "?"}→${to}`) ?? ZERO_COUNTERS) };
  }

  /** The last events (connections accepted, refused, cut; rules), for failure messages. */
  events(): string {
    return this.#events.join("\n");
  }

  /** Closes every proxy. */
  async close(): Promise<void> {
    await Promise.all([...this.#proxies.values()].map((proxy) => proxy.close()));
  }

  /** The first block rule matching `from → to`, or null. */
  blocking(from: string | null, to: string): FaultRule | null {
    return this.#rules.find((rule) =>
      rule.kind === "block" && matches(rule.from, from) && matches(rule.to, to)
    ) ?? null;
  }

  /** The latency of `from → to`: the largest matching rule's, or 0. */
  latencyOf(from: string | null, to: string): number {
    let ms = 0;
    for (const rule of this.#rules) {
      if (rule.kind === "latency" && matches(rule.from, from) && matches(rule.to, to)) {
        ms = Math.max(ms, rule.ms);
      }
    }
    return ms;
  }

  /** Counts and logs what happened to a connection. */
  record(from: string | null, to: string, what: keyof PairCounters, why: string): void {
    const key = `${from ?? "?"}→${to}`;
    const counters = this.#counters.get(key) ?? { ...ZERO_COUNTERS };
    counters[what]++;
    this.#counters.set(key, counters);
    this.#event(`${key} ${what}${why === "" ? "" : ` (${why})`}`);
  }

  #add(rule: FaultRule): void {
    this.#rules.push(rule);
    this.#event(describeRule(rule));
    if (rule.kind === "block") this.#cut(rule.from, rule.to, describeRule(rule));
  }

  #cut(from: string, to: string, why: string): number {
    let count = 0;
    for (const proxy of this.#proxies.values()) {
      if (!matches(to, proxy.nodeId)) continue;
      count += proxy.cut((dialer) => matches(from, dialer), why);
    }
    return count;
  }

  #event(line: string): void {
    this.#events.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
    if (this.#events.length > EVENTS_MAX) this.#events.shift();
  }
}

const ZERO_COUNTERS: PairCounters = { accepted: 0, refused: 0, cut: 0 };
