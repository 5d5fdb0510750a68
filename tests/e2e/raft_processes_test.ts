/**
 * The embedded Raft with real `ukai serve` processes on loopback (design
 * notes §4, third layer). Every node listens on a private port and
 * advertises a fault proxy (tests/harness/fault_proxy.ts), so partitions are
 * real connections cut and refused.
 *
 * Clients create uniquely named images through several nodes while faults
 * happen: kill -9 of the leader (twice) and of every node at once, with
 * restarts from the data folders; SIGSTOP of the leader past the election
 * timeout and SIGCONT; a partition of five nodes that leaves the leader and
 * a follower in the minority while clients go on proposing on both sides; a
 * one-way cut of the leader's connections, then connections cut again and
 * again; a node added and the leader removed under load (with latency on
 * every connection). A client retries a failed create with the same name and
 * Idempotency-Key until it is acknowledged, as a careful client would.
 *
 * Every node applies creates in log order and gives each the next uid, so
 * afterwards the checks are: every acknowledged create is on every node with
 * the uid its acknowledgement reported (same order everywhere); every create
 * left unacknowledged, retried once more, is recognised as the same command
 * when it had been applied (never applied twice); the uids are exactly 1..N
 * (nothing applied that no one asked for); `ukai node list --json` on every
 * member shows the same voters and one leader.
 *
 * A last test checks that unauthenticated connections (garbage, frames
 * before the handshake, a forged proof, a peer with the wrong secret) are
 * refused and logged by a real node while its cluster keeps working.
 */

import assert from "node:assert/strict";
import { ERROR_TABLE, UkaiError } from "../../base/errors.ts";
import { silentLogger } from "../../base/log.ts";
import { Rng } from "../../base/rng.ts";
import { ClusterMessage } from "../../cluster/raft_node.ts";
import {
  ClientHandshake,
  encodeFrame,
  type Frame,
  FrameDecoder,
  NET_MESSAGE_TYPE,
  TcpTransport,
} from "../../net/mod.ts";
import { FaultNetwork } from "../harness/fault_proxy.ts";
import { ProcessCluster } from "../harness/processes.ts";

/** The smallest image: one block of the smallest size (metadata only; nothing is written). */
const IMAGE_BYTES = 64 * 1024;
/** Pause of a client between two creates (keeps the metadata small and the machine responsive). */
const CLIENT_PAUSE_MS = 40;
/** Pause of a client before it retries a failed create. */
const RETRY_PAUSE_MS = 150;
/** The harness runs nodes with --tick-ms 50 and the default 10 election ticks. */
const ELECTION_TIMEOUT_MS = 500;
/** How long the partition lasts. */
const PARTITION_MS = 3_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until `done` holds; fails with the last value after `timeoutMs`. */
async function until<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch((error: unknown) => error as T);
    if (!(value instanceof Error) && done(value)) return value;
    if (performance.now() > deadline) {
      throw new Error(
        `Timed out waiting for ${what}: ${String(JSON.stringify(value)).slice(0, 600)}`,
      );
    }
    await sleep(100);
  }
}

function codeOf(error: unknown): string {
  return error instanceof UkaiError ? error.code : String(error);
}

/** One member as `ukai node list --json` and GET /v1/nodes show it. */
interface NodeRow {
  id: string;
  role: "voter" | "learner" | "none";
  leader: boolean;
  reachable: boolean;
  appliedIndex: number | null;
}

interface NodeList {
  leader: string | null;
  nodes: NodeRow[];
}

/** The member list as node `via` sees it (through the control API). */
function nodeList(cluster: ProcessCluster, via: string): Promise<NodeList> {
  return cluster.call<NodeList>(via, "GET", "/v1/nodes");
}

/** `ukai node list --json` run against node `via`. */
async function nodeListCli(cluster: ProcessCluster, via: string): Promise<NodeList> {
  const result = await cluster.cli(via, ["node", "list", "--json"]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as NodeList;
}

/** Node `id`'s own view of the Raft group (GET /v1/status). */
async function status(
  cluster: ProcessCluster,
  id: string,
): Promise<{ leader: string | null; term: number }> {
  const answer = await cluster.call<{ cluster: { leader: string | null; term: number } }>(
    id,
    "GET",
    "/v1/status",
  );
  return answer.cluster;
}

/** Waits until `via` knows a leader among `candidates` and returns it. */
async function leaderAmong(
  cluster: ProcessCluster,
  via: string,
  candidates: readonly string[],
): Promise<string> {
  const list = await until(
    () => nodeList(cluster, via),
    (value) => value.leader !== null && candidates.includes(value.leader),
    `${via} to know a leader among ${candidates.join(", ")}`,
  );
  return list.leader as string;
}

/** The leader, as `ukai node list --json` on `via` reports it once there is one. */
async function currentLeader(cluster: ProcessCluster, via: string): Promise<string> {
  const list = await until(
    () => nodeListCli(cluster, via),
    (value) => value.leader !== null,
    `${via} to know a leader`,
  );
  return list.leader as string;
}

/** What happened to one create: attempts, errors, and its acknowledgement if it got one. */
interface Outcome {
  readonly name: string;
  readonly via: string;
  attempts: number;
  readonly errors: string[];
  uid: number | null;
  /** performance.now() when the last attempt started. */
  attemptedAtMs: number;
  /** performance.now() when the acknowledgement arrived. */
  ackedAtMs: number | null;
}

interface Client {
  readonly id: string;
  readonly via: string;
  retired: boolean;
  loop: Promise<void>;
}

/**
 * Clients that create images with unique names, one create at a time each,
 * through a fixed node, retrying a failed create with the same name and
 * Idempotency-Key until it is acknowledged or the clients stop.
 */
class Proposers {
  readonly outcomes = new Map<string, Outcome>();
  readonly #cluster: ProcessCluster;
  readonly #holder: string;
  readonly #clients = new Map<string, Client>();
  #stopping = false;

  /**
   * `holder` is the node every image is located on (one that is never
   * removed); a client starts proposing through each node of `via`.
   */
  constructor(cluster: ProcessCluster, holder: string, via: readonly string[] = []) {
    this.#cluster = cluster;
    this.#holder = holder;
    for (const node of via) this.add(node);
  }

  /** Starts a client proposing through `via`. */
  add(via: string): void {
    const id = `c${this.#clients.size + 1}-${via}`;
    const client: Client = { id, via, retired: false, loop: Promise.resolve() };
    client.loop = this.#run(client);
    this.#clients.set(id, client);
  }

  /** Stops the clients proposing through `via` (after their current attempt). */
  async retire(via: string): Promise<void> {
    const retiring = [...this.#clients.values()].filter((client) => client.via === via);
    for (const client of retiring) client.retired = true;
    await Promise.all(retiring.map((client) => client.loop));
  }

  /** Stops every client; waits for the attempts in flight. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all([...this.#clients.values()].map((client) => client.loop));
  }

  /** Acknowledged creates (through `via` when given). */
  acknowledged(via?: string): Outcome[] {
    return [...this.outcomes.values()].filter((outcome) =>
      outcome.uid !== null && (via === undefined || outcome.via === via)
    );
  }

  /** Resolves once `count` more creates were acknowledged (through `via` when given). */
  async progress(count: number, via?: string): Promise<void> {
    const target = this.acknowledged(via).length + count;
    await until(
      () => Promise.resolve(this.acknowledged(via).length),
      (acknowledged) => acknowledged >= target,
      `${count} more acknowledged creates${via === undefined ? "" : ` through ${via}`}`,
    );
  }

  /** One create of `name` through `via`; the acknowledged uid, or throws. */
  async create(name: string, via: string): Promise<number> {
    const client = this.#cluster.client(via);
    try {
      const view = await client.call<{ uid: number }>("POST", "/v1/images", {
        body: { name, size: IMAGE_BYTES, blockSize: IMAGE_BYTES, locations: [this.#holder] },
        idempotencyKey: name,
      });
      return view.uid;
    } finally {
      client.close();
    }
  }

  async #run(client: Client): Promise<void> {
    for (let sequence = 1; !this.#stopping && !client.retired; sequence++) {
      const outcome: Outcome = {
        name: `${client.id}-${sequence}`,
        via: client.via,
        attempts: 0,
        errors: [],
        uid: null,
        attemptedAtMs: 0,
        ackedAtMs: null,
      };
      this.outcomes.set(outcome.name, outcome);
      while (!this.#stopping && !client.retired) {
        outcome.attempts++;
        outcome.attemptedAtMs = performance.now();
        try {
          outcome.uid = await this.create(outcome.name, client.via);
          outcome.ackedAtMs = performance.now();
          break;
        } catch (error) {
          outcome.errors.push(codeOf(error));
          await sleep(RETRY_PAUSE_MS);
        }
      }
      await sleep(CLIENT_PAUSE_MS);
    }
  }
}

/** name → uid of every image node `id` has applied (its own state, no sync). */
async function imagesOn(cluster: ProcessCluster, id: string): Promise<Map<string, number>> {
  const list = await cluster.call<{ images: { name: string }[] }>(id, "GET", "/v1/images");
  const uids = new Map<string, number>();
  const names = list.images.map((image) => image.name);
  for (let start = 0; start < names.length; start += 16) {
    await Promise.all(
      names.slice(start, start + 16).map(async (name) => {
        const view = await cluster.call<{ uid: number }>(id, "GET", `/v1/images/${name}`);
        uids.set(name, view.uid);
      }),
    );
  }
  return uids;
}

/**
 * Stops the clients, retries each unacknowledged create once more through
 * `via`, waits until `members` have applied the same log, then checks every
 * create on every member: same uid everywhere, the uid its acknowledgement
 * reported, uids exactly 1..N.
 */
async function verifyConverged(
  cluster: ProcessCluster,
  proposers: Proposers,
  via: string,
  members: readonly string[],
): Promise<void> {
  await proposers.stop();
  const outcomes = [...proposers.outcomes.values()];
  const unacknowledged = outcomes.filter((outcome) => outcome.uid === null);
  for (const outcome of unacknowledged) {
    // A create that was applied before its answer was lost must be recognised
    // by its Idempotency-Key: a second application would answer IMAGE_EXISTS.
    try {
      outcome.uid = await proposers.create(outcome.name, via);
    } catch (error) {
      assert.fail(`Retry of unacknowledged ${outcome.name} (${outcome.errors}) failed: ${error}`);
    }
  }
  await until(
    () => nodeList(cluster, via),
    (list) => {
      const applied = list.nodes.filter((node) => members.includes(node.id))
        .map((node) => node.appliedIndex);
      return applied.length === members.length && applied.every((index) => index === applied[0]);
    },
    `${members.join(", ")} to apply the same log`,
  );
  const expected = new Map(outcomes.map((outcome) => [outcome.name, outcome.uid as number]));
  for (const member of members) {
    const applied = await until(
      () => imagesOn(cluster, member),
      (images) => images.size >= expected.size,
      `${member} to apply every create`,
    );
    const wrong = [...expected].filter(([name, uid]) => applied.get(name) !== uid)
      .map(([name, uid]) => `${name}: acknowledged uid ${uid}, ${member} has ${applied.get(name)}`);
    assert.deepEqual(wrong.slice(0, 10), [], `${member} applied the creates in the same order`);
    assert.equal(applied.size, expected.size, `${member} has no image no client asked for`);
  }
  const uids = [...expected.values()].sort((a, b) => a - b);
  assert.deepEqual(
    uids,
    Array.from({ length: uids.length }, (_, index) => index + 1),
    "every create was applied exactly once (uids 1..N, no gaps, no repeats)",
  );
}

/** Starts `ids` behind proxies: the first bootstraps, the others join through it. */
/** Starts `ids` as one group, runs `test` on it, and stops everything after, also on failure. */
async function withCluster(
  ids: readonly string[],
  test: (cluster: ProcessCluster, network: FaultNetwork) => Promise<void>,
): Promise<void> {
  const { cluster, network } = await startCluster(ids);
  try {
    await test(cluster, network);
  } finally {
    await cluster.close();
    await network.close();
  }
}

async function startCluster(
  ids: readonly string[],
): Promise<{ cluster: ProcessCluster; network: FaultNetwork }> {
  const network = new FaultNetwork();
  const cluster = await ProcessCluster.create({
    mount: false,
    proxy: (id, listenAddress) => network.front(id, listenAddress).port,
  });
  try {
    for (const id of ids) cluster.define(id);
    const [first, ...others] = ids as [string, ...string[]];
    await cluster.start(first);
    for (const id of others) await cluster.start(id, { join: cluster.address(first) });
    await until(
      () => nodeList(cluster, first),
      (list) => list.nodes.filter((node) => node.role === "voter").length === ids.length,
      `all of ${ids.join(", ")} to be voters`,
    );
  } catch (error) {
    await cluster.close();
    await network.close();
    throw error;
  }
  return { cluster, network };
}

/** Checks with `ukai node list --json` on every member that they agree on one leader among them. */
async function checkRoles(cluster: ProcessCluster, members: readonly string[]): Promise<string> {
  const leader = await currentLeader(cluster, members[0] as string);
  for (const member of members) {
    const list = await until(
      () => nodeListCli(cluster, member),
      (value) => value.leader === leader,
      `${member} to follow ${leader}`,
    );
    const voters = list.nodes.filter((node) => node.role === "voter").map((node) => node.id);
    assert.deepEqual(voters.sort(), [...members].sort(), `${member}'s voters`);
    assert.deepEqual(list.nodes.filter((node) => node.leader).map((node) => node.id), [leader]);
  }
  return leader;
}

Deno.test("kill -9 of the leader while clients propose, twice: a new leader takes over, the killed one restarts from its data folder, and every acknowledged create is applied everywhere in the same order", async () => {
  const members = ["n1", "n2", "n3"];
  await withCluster(members, async (cluster) => {
    const proposers = new Proposers(cluster, "n1", members);
    await proposers.progress(15);
    for (let round = 1; round <= 2; round++) {
      const leader = await currentLeader(cluster, "n1");
      const survivors = members.filter((id) => id !== leader);
      await cluster.kill(leader);
      await leaderAmong(cluster, survivors[0] as string, survivors);
      await proposers.progress(15);
      await cluster.start(leader);
      await proposers.progress(5, leader);
    }
    await verifyConverged(cluster, proposers, "n1", members);
    await checkRoles(cluster, members);
  });
});

Deno.test("kill -9 of every node at once while clients propose: restarted from their data folders they elect a leader and keep every acknowledged create", async () => {
  const members = ["n1", "n2", "n3"];
  await withCluster(members, async (cluster) => {
    const proposers = new Proposers(cluster, "n1", members);
    await proposers.progress(30);
    await Promise.all(members.map((id) => cluster.kill(id)));
    for (const id of members) await cluster.start(id);
    await leaderAmong(cluster, "n1", members);
    await proposers.progress(15);
    const leader = await currentLeader(cluster, "n1");
    await verifyConverged(cluster, proposers, leader, members);
    await checkRoles(cluster, members);
  });
});

Deno.test("SIGSTOP of the leader past the election timeout: the others elect a leader, and after SIGCONT the old leader steps down, catches up and serves again", async () => {
  const members = ["n1", "n2", "n3"];
  await withCluster(members, async (cluster) => {
    const proposers = new Proposers(cluster, "n1", members);
    await proposers.progress(15);
    const leader = await currentLeader(cluster, "n1");
    const termBefore = (await status(cluster, leader)).term;
    const survivors = members.filter((id) => id !== leader);
    cluster.signal(leader, "SIGSTOP");
    const stoppedAtMs = performance.now();
    const next = await leaderAmong(cluster, survivors[0] as string, survivors);
    await proposers.progress(15);
    assert.ok(performance.now() - stoppedAtMs > ELECTION_TIMEOUT_MS, "frozen past the timeout");
    cluster.signal(leader, "SIGCONT");
    await until(
      () => nodeList(cluster, leader),
      (list) => list.leader === next,
      `the thawed ${leader} to follow ${next}`,
    );
    assert.ok((await status(cluster, leader)).term > termBefore, "the old leader saw a new term");
    await proposers.progress(5, leader);
    await verifyConverged(cluster, proposers, next, members);
    assert.equal(await checkRoles(cluster, members), next, "the thawed node did not disrupt");
  });
});

Deno.test("a partition isolating the leader and a follower of five: the majority elects a leader and goes on, the minority acknowledges nothing, and after heal all converge", async () => {
  const members = ["n1", "n2", "n3", "n4", "n5"];
  await withCluster(members, async (cluster, network) => {
    const proposers = new Proposers(cluster, "n1", members);
    await proposers.progress(15);
    const leader = await currentLeader(cluster, "n1");
    const follower = members.find((id) => id !== leader) as string;
    const minority = [leader, follower];
    const majority = members.filter((id) => !minority.includes(id));
    network.partition(minority, majority);
    const cutAtMs = performance.now();
    const next = await leaderAmong(cluster, majority[0] as string, majority);
    await proposers.progress(20);
    for (const id of minority) {
      await until(
        () => nodeList(cluster, id),
        (list) => list.leader === null,
        `${id} on the minority side to have no leader (${leader} stepped down)`,
      );
    }
    // The cut lasts a while: several election timeouts, and past the
    // minority's retries of the proposals it could not commit.
    await sleep(Math.max(0, cutAtMs + PARTITION_MS - performance.now()));
    const healAtMs = performance.now();
    const waiting = minority.flatMap((id) =>
      [...proposers.outcomes.values()].filter((outcome) =>
        outcome.via === id && outcome.attemptedAtMs < healAtMs &&
        (outcome.ackedAtMs === null || outcome.ackedAtMs > healAtMs)
      )
    );
    assert.ok(waiting.length >= 2, "clients were proposing on the minority side");
    network.heal();
    // Entries committed before the cut may still be answered just after it.
    const acknowledgedWhileCut = minority.flatMap((id) => proposers.acknowledged(id))
      .filter((outcome) => (outcome.ackedAtMs as number) > cutAtMs + 250)
      .filter((outcome) => (outcome.ackedAtMs as number) < healAtMs);
    assert.deepEqual(acknowledgedWhileCut, [], "the minority acknowledged nothing while cut off");
    for (const id of minority) await proposers.progress(3, id);
    await verifyConverged(cluster, proposers, next, members);
    await checkRoles(cluster, members);
    assert.ok(network.counters(leader, majority[0] as string).refused > 0, network.events());
  });
});

Deno.test("a node joins and the leader is removed while clients propose: the membership changes lose nothing and the new member has every create", async () => {
  const members = ["n1", "n2", "n3"];
  await withCluster(members, async (cluster, network) => {
    const leader = await currentLeader(cluster, "n1");
    const holder = members.find((id) => id !== leader) as string;
    // Every connection carries 15 ms each way: a round trip between nodes costs 30 ms.
    network.latency("*", "*", 15);
    const proposers = new Proposers(cluster, holder, members);
    await proposers.progress(15);
    cluster.define("n4");
    await cluster.start("n4", { join: cluster.address(holder) });
    await until(
      () => nodeList(cluster, holder),
      (list) => list.nodes.some((node) => node.id === "n4" && node.role === "voter"),
      "n4 to be promoted to voter",
    );
    proposers.add("n4");
    await proposers.progress(5, "n4");
    assert.equal(await currentLeader(cluster, holder), leader, "no election so far");
    const removal = await cluster.cli(leader, ["node", "remove", leader]);
    assert.equal(removal.code, 0, removal.stderr);
    const remaining = [...members, "n4"].filter((id) => id !== leader);
    const next = await leaderAmong(cluster, holder, remaining);
    await proposers.progress(15);
    await until(
      () => nodeList(cluster, leader),
      (list) => !list.nodes.some((node) => node.id === leader),
      `the removed ${leader} to apply its own removal`,
    );
    await assert.rejects(proposers.create("after-removal", leader), { code: "NODE_NOT_FOUND" });
    await proposers.retire(leader);
    assert.equal(await cluster.stop(leader), 0, "the removed node stops cleanly");
    await verifyConverged(cluster, proposers, next, remaining);
    const list = await nodeListCli(cluster, next);
    assert.ok(!list.nodes.some((node) => node.id === leader), "the removed node is gone");
    await checkRoles(cluster, remaining);
  });
});

Deno.test("a one-way cut from the leader, then connections cut again and again: the followers elect a leader, the old one follows it, and nothing acknowledged is lost", async () => {
  const members = ["n1", "n2", "n3"];
  await withCluster(members, async (cluster, network) => {
    const proposers = new Proposers(cluster, "n1", members);
    await proposers.progress(15);
    const leader = await currentLeader(cluster, "n1");
    const others = members.filter((id) => id !== leader);
    // The leader's messages no longer reach anyone; everyone else's reach it.
    network.block(leader, "*");
    const next = await leaderAmong(cluster, others[0] as string, others);
    await until(
      () => nodeList(cluster, leader),
      (list) => list.leader === next,
      `the cut-off ${leader} to hear of ${next} and follow it`,
    );
    await proposers.progress(15);
    network.heal();
    await proposers.progress(5, leader);
    for (let cut = 0; cut < 8; cut++) {
      assert.ok(network.drop("*", "*") > 0, "live connections to cut");
      await proposers.progress(3);
    }
    await verifyConverged(cluster, proposers, next, members);
    await checkRoles(cluster, members);
    assert.ok(network.counters(leader, others[0] as string).refused > 0, network.events());
  });
});

/** A raw TCP connection to a node's real peer port, reading whole frames. */
class RawPeer {
  readonly #socket: Deno.Conn;
  readonly #decoder = new FrameDecoder({ bodySizeMax: 1 << 20 });
  readonly #buffer = new Uint8Array(64 * 1024);
  /** Bytes the node sent that did not form a frame yet, or after one. */
  received = 0;

  private constructor(socket: Deno.Conn) {
    this.#socket = socket;
  }

  static async connect(port: number): Promise<RawPeer> {
    return new RawPeer(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async write(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) written += await this.#socket.write(bytes.subarray(written));
  }

  /** The next frame from the node, or null once it closed the connection. */
  async next(): Promise<Frame | null> {
    for (;;) {
      const ready = this.#decoder.take();
      if (ready !== null) return ready;
      const count = await this.#socket.read(this.#buffer).catch(() => null);
      if (count === null) return null;
      this.received += count;
      let offset = 0;
      while (offset < count && this.#decoder.failure === null) {
        offset += this.#decoder.feed(this.#buffer.subarray(offset, count));
        const frame = this.#decoder.take();
        if (frame !== null) return frame;
      }
      assert.equal(this.#decoder.failure, null, "the node sent an invalid frame");
    }
  }

  close(): void {
    this.#socket.close();
  }
}

/** Sends `bytes` to node `id`'s real peer port; resolves when the node closes, with what it sent. */
async function refusedBytes(cluster: ProcessCluster, id: string, bytes: Uint8Array) {
  const peer = await RawPeer.connect(cluster.node(id).listenPort);
  try {
    await peer.write(bytes);
    assert.equal(await peer.next(), null, "the node closes the connection");
    return peer.received;
  } finally {
    peer.close();
  }
}

Deno.test("a real node refuses garbage, frames before the handshake and peers without the secret, logs each, and its cluster keeps working", async () => {
  const members = ["n1", "n2", "n3"];
  await withCluster(members, async (cluster) => {
    const target = await currentLeader(cluster, "n1");
    const member = members.find((id) => id !== target) as string;
    const before = await status(cluster, target);
    const garbage = new Rng(7).fill(new Uint8Array(4096));
    assert.equal(await refusedBytes(cluster, target, garbage), 0, "garbage gets no answer");
    const early = [
      encodeFrame({ kind: "one-way", type: ClusterMessage.raft, requestId: 0, status: 0 }, [
        new Uint8Array(64),
      ]),
      encodeFrame({ kind: "request", type: ClusterMessage.status, requestId: 1, status: 0 }, []),
    ];
    for (const frame of early) {
      assert.equal(await refusedBytes(cluster, target, frame), 0, "no answer before the handshake");
    }
    // A HELLO in a member's name, then a proof made up without the secret.
    const forger = await RawPeer.connect(cluster.node(target).listenPort);
    try {
      const hello = new ClientHandshake({
        secret: new TextEncoder().encode("not the cluster secret at all"),
        localNodeId: member,
        nonce: new Rng(8).fill(new Uint8Array(32)),
        expectedServerId: null,
      }).hello();
      const { hello: helloType, proof: proofType } = NET_MESSAGE_TYPE;
      await forger.write(
        encodeFrame({ kind: "request", type: helloType, requestId: 1, status: 0 }, [hello]),
      );
      assert.equal((await forger.next())?.header.status, 0, "a challenge comes back");
      await forger.write(
        encodeFrame({ kind: "request", type: proofType, requestId: 2, status: 0 }, [
          new Rng(9).fill(new Uint8Array(32)),
        ]),
      );
      assert.equal((await forger.next())?.header.status, ERROR_TABLE.AUTH_FAILED.wire);
      assert.equal(await forger.next(), null, "then the node closes the connection");
    } finally {
      forger.close();
    }
    // A real peer transport with the wrong secret, claiming to be a member.
    const impostor = await TcpTransport.listen({
      nodeId: member,
      secret: "not the cluster secret either",
      hostname: "127.0.0.1",
      port: 0,
      resolve: () => `127.0.0.1:${cluster.node(target).listenPort}`,
      logger: silentLogger,
    });
    try {
      await assert.rejects(
        impostor.request(target, ClusterMessage.status, new Uint8Array(0), { timeoutMs: 5000 }),
        { code: "AUTH_FAILED" },
      );
    } finally {
      await impostor.close();
    }
    await cluster.waitForLog(target, /failed the handshake.* code=PROTOCOL .*invalid frame/);
    await cluster.waitForLog(target, /Unexpected frame before authentication/);
    await cluster.waitForLog(target, /failed the handshake.*code=AUTH_FAILED/);
    await until(
      async () => (await cluster.logOf(target)).match(/failed the handshake/g)?.length ?? 0,
      (refusals) => refusals === 5,
      "one logged refusal per connection",
      10_000,
    );
    const after = await status(cluster, target);
    assert.deepEqual(after, before, "same leader, same term: nothing was disturbed");
    const proposers = new Proposers(cluster, target, members);
    await proposers.progress(10, target);
    await verifyConverged(cluster, proposers, target, members);
  });
});
