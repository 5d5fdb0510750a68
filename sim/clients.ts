/**
 * The clients of the key-value store. Each client runs one operation at a
 * time: it picks a node (any node it knows, maybe a follower, maybe one about
 * to crash), sends the request over a lossy client link, and waits. Writes
 * are proposed at that node and answered when that node applies them; reads
 * go through ReadIndex and are answered from that node's state machine once
 * its applied index reaches the confirmed read index. A timeout or a refusal
 * makes the client retry (same request id, so a write is never applied
 * twice) at a random node, with exponential backoff if so configured; after
 * `attemptsMax` attempts it gives up and the operation stays indeterminate in
 * the history.
 *
 * In the liveness phase clients stop starting new operations, and the final
 * reader reads every key once the group has converged.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Rng } from "../base/rng.ts";
import type { NodeId } from "../raft/mod.ts";
import type { Cluster } from "./cluster.ts";
import type { ClientReply, SimEvent } from "./events.ts";
import type { History, OperationInput, OperationOutput } from "./history.ts";
import { encodeCommand, type KvApplyOutcome, type KvCommand } from "./kv.ts";
import type { SimNode } from "./node.ts";

/** Most attempts of a final read, or of a write that may not give up (see below). */
export const PERSISTENT_ATTEMPTS_MAX = 1_000;
/** Each retry waits twice as long as the one before, at most 2^this times the first. */
export const ATTEMPT_BACKOFF_DOUBLINGS_MAX = 4;
/**
 * Most indeterminate writes per key. An indeterminate write may take effect
 * anywhere after its invocation, so the linearizability search may have to
 * try every subset of them: past this budget, clients keep retrying a write
 * on that key instead of giving up.
 */
export const INDETERMINATE_WRITES_PER_KEY_MAX = 6;

interface InFlight {
  request: number;
  operationId: number;
  input: OperationInput;
  attempt: number;
  /** Waiter keys registered for this request (cleared when it ends). */
  waiters: string[];
}

interface ClientState {
  id: number;
  nextRequest: number;
  operationsStarted: number;
  current: InFlight | undefined;
  /** The last value this client saw per key (for compare-and-set). */
  seen: Map<string, string | null>;
  /** The final reader reads each key once, with up to `PERSISTENT_ATTEMPTS_MAX` attempts. */
  finalKeys: string[] | undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The simulated clients. */
export class Clients {
  readonly #cluster: Cluster;
  readonly #rng: Rng;
  readonly #history: History;
  readonly #clients: ClientState[] = [];
  readonly #keys: string[];
  readonly #waiters = new Map<string, { client: number; request: number; attempt: number }>();
  readonly #indeterminateWrites = new Map<string, number>();
  #quiesced = false;

  constructor(cluster: Cluster, rng: Rng, history: History) {
    this.#cluster = cluster;
    this.#rng = rng;
    this.#history = history;
    const { clientCount, keyCount, thinkMaxMs } = cluster.knobs.clients;
    this.#keys = Array.from({ length: keyCount }, (_, i) => `k${i}`);
    for (let id = 1; id <= clientCount; id++) {
      this.#clients.push(newClient(id));
      cluster.scheduler.after(rng.between(1, thinkMaxMs), { kind: "clientInvoke", client: id });
    }
    cluster.clientListener = {
      commandApplied: (node, command, outcome) => this.#onCommandApplied(node, command, outcome),
      readReady: (node, context) => this.#onReadReady(node, context),
    };
  }

  /** Stops starting new operations (those in flight go on). */
  quiesce(): void {
    this.#quiesced = true;
  }

  /** True when no ordinary client has an operation in flight. */
  idle(): boolean {
    return this.#clients.every((client) => client.finalKeys !== undefined || !client.current);
  }

  /** Starts the final reader: a get of every key, one after the other. */
  startFinalReads(): void {
    const reader = newClient(this.#clients.length + 1);
    reader.finalKeys = [...this.#keys];
    this.#clients.push(reader);
    this.#cluster.scheduler.after(1, { kind: "clientInvoke", client: reader.id });
  }

  /** True when the final reader has read every key. */
  finalReadsDone(): boolean {
    const reader = this.#clients.at(-1);
    return reader?.finalKeys !== undefined && reader.finalKeys.length === 0 &&
      reader.current === undefined;
  }

  /** Handles client events; false for events of other modules. */
  handle(event: SimEvent): boolean {
    switch (event.kind) {
      case "clientInvoke":
        this.#onInvoke(this.#client(event.client));
        return true;
      case "clientArrive":
        this.#onArrive(event.client, event.request, event.attempt, event.node);
        return true;
      case "clientReply":
        this.#onReply(this.#client(event.client), event.request, event.attempt, event.reply);
        return true;
      case "clientTimeout":
        this.#onTimeout(this.#client(event.client), event.request, event.attempt);
        return true;
      default:
        return false;
    }
  }

  #client(id: number): ClientState {
    const client = this.#clients[id - 1];
    assert(client !== undefined && client.id === id, `clients: no client ${id}`);
    return client;
  }

  #onInvoke(client: ClientState): void {
    assert(client.current === undefined, `client ${client.id} invoked twice`);
    const input = this.#nextInput(client);
    if (input === undefined) return;
    const operationId = this.#history.invoke(client.id, input, this.#cluster.scheduler.now);
    client.operationsStarted++;
    client.current = { request: client.nextRequest++, operationId, input, attempt: 0, waiters: [] };
    this.#attempt(client);
  }

  #nextInput(client: ClientState): OperationInput | undefined {
    if (client.finalKeys !== undefined) {
      const key = client.finalKeys[0];
      return key === undefined ? undefined : { op: "get", key };
    }
    const { operationsMax, clientCount, putShare, casShare } = this.#cluster.knobs.clients;
    if (this.#quiesced || client.operationsStarted >= Math.ceil(operationsMax / clientCount)) {
      return undefined;
    }
    const key = this.#rng.pick(this.#keys);
    const value = `c${client.id}.${client.nextRequest}`;
    const draw = this.#rng.float();
    if (draw < putShare) return { op: "put", key, value };
    if (draw < putShare + casShare) {
      return { op: "cas", key, expected: client.seen.get(key) ?? null, value };
    }
    return { op: "get", key };
  }

  /** Starts the next attempt of the client's operation, `startDelayMs` from now. */
  #attempt(client: ClientState, startDelayMs = 0): void {
    const current = client.current!;
    current.attempt++;
    const candidates = this.#cluster.nodes().filter((node) => node.liveness !== "stopped");
    const node = this.#rng.pick(candidates.length > 0 ? candidates : this.#cluster.nodes());
    const { scheduler, network } = this.#cluster;
    const ids = { client: client.id, request: current.request, attempt: current.attempt };
    if (!network.clientLost()) {
      const arrival = startDelayMs + network.clientDelay();
      scheduler.after(arrival, { kind: "clientArrive", ...ids, node: node.id });
    }
    // Exponential backoff (always in the liveness phase): a retry costs the group
    // a log entry, so a slow group must not get retries faster than it commits.
    const backingOff = this.#cluster.knobs.clients.retryBackoff || this.#quiesced;
    const doublings = backingOff ? Math.min(current.attempt - 1, ATTEMPT_BACKOFF_DOUBLINGS_MAX) : 0;
    const backoff = 2 ** doublings;
    const timeout = startDelayMs + this.#cluster.knobs.clients.attemptTimeoutMs * backoff;
    scheduler.after(timeout, { kind: "clientTimeout", ...ids });
  }

  #onArrive(clientId: number, request: number, attempt: number, nodeId: NodeId): void {
    const client = this.#client(clientId);
    const current = client.current;
    if (current === undefined || current.request !== request) return;
    const node = this.#cluster.node(nodeId);
    if (node.liveness !== "running") return;
    this.#cluster.touch(node);
    const input = current.input;
    if (input.op === "get") {
      const context = `${clientId}.${request}.${attempt}`;
      this.#waiters.set(readKey(nodeId, context), { client: clientId, request, attempt });
      current.waiters.push(readKey(nodeId, context));
      const result = node.readIndex(encoder.encode(context));
      if (result.kind === "dropped") this.#refuse(client, attempt, result.reason);
      return;
    }
    const command: KvCommand = { ...input, client: clientId, request };
    this.#waiters.set(writeKey(nodeId, clientId, request), { client: clientId, request, attempt });
    current.waiters.push(writeKey(nodeId, clientId, request));
    const result = node.propose(encodeCommand(command));
    if (result.kind === "dropped") this.#refuse(client, attempt, result.reason);
  }

  #refuse(client: ClientState, attempt: number, reason: string): void {
    const request = client.current!.request;
    this.#reply(client.id, request, attempt, { op: "refused", reason });
  }

  #reply(client: number, request: number, attempt: number, reply: ClientReply): void {
    const { scheduler, network } = this.#cluster;
    if (network.clientLost()) return;
    scheduler.after(network.clientDelay(), {
      kind: "clientReply",
      client,
      request,
      attempt,
      reply,
    });
  }

  #onCommandApplied(node: SimNode, command: KvCommand, outcome: KvApplyOutcome): void {
    const key = writeKey(node.id, command.client, command.request);
    const waiter = this.#waiters.get(key);
    if (waiter === undefined || outcome.kind === "stale") return;
    this.#waiters.delete(key);
    this.#reply(waiter.client, waiter.request, waiter.attempt, outcome.result);
  }

  #onReadReady(node: SimNode, contextBytes: Uint8Array): void {
    const key = readKey(node.id, decoder.decode(contextBytes));
    const waiter = this.#waiters.get(key);
    if (waiter === undefined) return;
    this.#waiters.delete(key);
    const current = this.#client(waiter.client).current;
    if (current === undefined || current.request !== waiter.request) return;
    assert(current.input.op === "get", "clients: a read answer for a write");
    const value = node.kv.get(current.input.key);
    this.#reply(waiter.client, waiter.request, waiter.attempt, { op: "get", value });
  }

  #onReply(client: ClientState, request: number, attempt: number, reply: ClientReply): void {
    const current = client.current;
    if (current === undefined || current.request !== request) return;
    if (reply.op === "refused") {
      if (attempt !== current.attempt) return;
      this.#cluster.traceLine(`c${client.id}.${request} refused: ${reply.reason}`);
      this.#retryOrGiveUp(client, true);
      return;
    }
    const output: OperationOutput = reply;
    this.#history.complete(current.operationId, output, this.#cluster.scheduler.now);
    if (output.op === "get") client.seen.set(current.input.key, output.value);
    if (output.op === "put" && current.input.op === "put") {
      client.seen.set(current.input.key, current.input.value);
    }
    if (client.finalKeys !== undefined) client.finalKeys.shift();
    this.#finish(client);
  }

  #onTimeout(client: ClientState, request: number, attempt: number): void {
    const current = client.current;
    if (current === undefined || current.request !== request || current.attempt !== attempt) return;
    this.#retryOrGiveUp(client, false);
  }

  #retryOrGiveUp(client: ClientState, backOff: boolean): void {
    const current = client.current!;
    if (current.attempt >= this.#attemptsMax(client, current.input)) {
      this.#cluster.traceLine(`c${client.id}.${current.request} gives up (indeterminate)`);
      if (current.input.op !== "get") this.#indeterminateWrite(current.input.key);
      this.#finish(client);
      return;
    }
    // A refused attempt is retried soon; a timed-out one at once (it already waited).
    this.#attempt(client, backOff ? this.#rng.between(5, 50) : 0);
  }

  #attemptsMax(client: ClientState, input: OperationInput): number {
    if (client.finalKeys !== undefined) return PERSISTENT_ATTEMPTS_MAX;
    const indeterminate = this.#indeterminateWrites.get(input.key) ?? 0;
    if (input.op !== "get" && indeterminate >= INDETERMINATE_WRITES_PER_KEY_MAX) {
      return PERSISTENT_ATTEMPTS_MAX;
    }
    return this.#cluster.knobs.clients.attemptsMax;
  }

  #indeterminateWrite(key: string): void {
    this.#indeterminateWrites.set(key, (this.#indeterminateWrites.get(key) ?? 0) + 1);
  }

  #finish(client: ClientState): void {
    const current = client.current!;
    for (const key of current.waiters) this.#waiters.delete(key);
    client.current = undefined;
    const thinkMs = this.#rng.between(1, this.#cluster.knobs.clients.thinkMaxMs);
    this.#cluster.scheduler.after(thinkMs, { kind: "clientInvoke", client: client.id });
  }
}

function newClient(id: number): ClientState {
  return {
    id,
    nextRequest: 1,
    operationsStarted: 0,
    current: undefined,
    seen: new Map(),
    finalKeys: undefined,
  };
}

function writeKey(node: NodeId, client: number, request: number): string {
  return `w/${node}/${client}/${request}`;
}

function readKey(node: NodeId, context: string): string {
  return `r/${node}/${context}`;
}
