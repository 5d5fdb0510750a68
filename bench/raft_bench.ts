/**
 * Raft commit latency and throughput, ukai against etcd (issue 2's targets):
 * three local ukai nodes with fsync on, three etcd 3.4 members with fsync on.
 * One operation is one committed command sent to the leader:
 *   - ukai: `POST /v1/images/NAME/sync {rate}` on the leader's control socket
 *     — one `image.setResyncRate` command, the cheapest command the API
 *     proposes (no data path work); each proposer has its own image;
 *   - etcd: a 16-byte `put` through etcd's HTTP/JSON gateway on the leader.
 * Latency: one proposer, sequential commits, p50/p99. Throughput: many
 * concurrent proposers for a fixed time, commits per second. The two systems
 * alternate (A B A B) for every repeat.
 *
 * @module
 */

import { type Cleanup, median, MiB, note, percentile, round } from "./common.ts";
import { startEtcd } from "./etcd_cluster.ts";
import { startUkaiCluster, type UkaiCluster } from "./targets/ukai_cluster.ts";
import { type Endpoint, HttpConnection } from "./http_connection.ts";

/** One committed operation; `proposer` picks the proposer's own key or image. */
export type Operation = (proposer: number, sequence: number) => Promise<void>;

/** Latency figures of sequential commits. */
export interface LatencyResult {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
}

/** Throughput of concurrent commits. */
export interface ThroughputResult {
  readonly proposers: number;
  readonly seconds: number;
  readonly commits: number;
  readonly commitsPerSecond: number;
}

/** Commits `count` operations one after the other (after a short warm-up). */
export async function measureLatency(
  cleanup: Cleanup,
  operation: Operation,
  count: number,
): Promise<LatencyResult> {
  for (let index = 0; index < Math.min(20, count); index++) await operation(0, -index - 1);
  const samples: number[] = [];
  for (let index = 0; index < count; index++) {
    cleanup.check();
    const started = performance.now();
    await operation(0, index);
    samples.push(performance.now() - started);
  }
  return {
    samples: samples.length,
    p50Ms: round(median(samples), 3),
    p99Ms: round(percentile(samples, 99), 3),
    meanMs: round(samples.reduce((sum, value) => sum + value, 0) / samples.length, 3),
  };
}

/** Runs `proposers` concurrent loops of `operation` for `seconds`; counts commits. */
export async function measureThroughput(
  cleanup: Cleanup,
  operation: Operation,
  proposers: number,
  seconds: number,
): Promise<ThroughputResult> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let commits = 0;
  await Promise.all(Array.from({ length: proposers }, async (_, proposer) => {
    for (let sequence = 0; performance.now() < deadline && !cleanup.aborted; sequence++) {
      await operation(proposer, sequence);
      commits++;
    }
  }));
  cleanup.check();
  const elapsed = (performance.now() - started) / 1000;
  return {
    proposers,
    seconds: round(elapsed, 2),
    commits,
    commitsPerSecond: round(commits / elapsed, 1),
  };
}

/** One keep-alive connection per proposer, opened on first use. */
class Connections {
  readonly #endpoint: Endpoint;
  readonly #open = new Map<number, Promise<HttpConnection>>();

  constructor(endpoint: Endpoint) {
    this.#endpoint = endpoint;
  }

  of(proposer: number): Promise<HttpConnection> {
    let connection = this.#open.get(proposer);
    if (connection === undefined) {
      connection = HttpConnection.open(this.#endpoint);
      this.#open.set(proposer, connection);
    }
    return connection;
  }

  async close(): Promise<void> {
    for (const connection of this.#open.values()) (await connection.catch(() => null))?.close();
    this.#open.clear();
  }
}

/**
 * The ukai operation on `cluster`'s leader: creates one small image per
 * proposer, then each operation sets that image's resync rate (a new value
 * every time). Returns the operation and a function that closes its
 * connections.
 */
export async function ukaiOperation(
  cluster: UkaiCluster,
  proposers: number,
): Promise<{ operation: Operation; leader: string; close: () => Promise<void> }> {
  const leader = await cluster.leader();
  const connections = new Connections({ path: cluster.processes.node(leader).control });
  const setup = await connections.of(0);
  for (let proposer = 0; proposer < proposers; proposer++) {
    const body = { name: `raft-${proposer}`, size: MiB, blockSize: MiB, locations: [leader] };
    await setup.request("POST", "/v1/images", JSON.stringify(body));
  }
  const operation: Operation = async (proposer, sequence) => {
    const rate = 1_000_000 + (sequence & 0xffff) * 7 + 1;
    await (await connections.of(proposer)).request(
      "POST",
      `/v1/images/raft-${proposer}/sync`,
      JSON.stringify({ rate }),
    );
  };
  return { operation, leader, close: () => connections.close() };
}

/** The etcd operation: a put of a 16-byte value to the proposer's own key, on the leader. */
export function etcdOperation(
  leaderUrl: string,
): { operation: Operation; close: () => Promise<void> } {
  const url = new URL(leaderUrl);
  const connections = new Connections({ hostname: url.hostname, port: Number(url.port) });
  const value = btoa("0123456789abcdef");
  const operation: Operation = async (proposer) => {
    const body = JSON.stringify({ key: btoa(`bench/${proposer}`), value });
    await (await connections.of(proposer)).request("POST", "/v3/kv/put", body);
  };
  return { operation, close: () => connections.close() };
}

/** Options of the Raft comparison. */
export interface RaftBenchOptions {
  readonly ukaiRoot: string;
  readonly work: string;
  readonly repeats: number;
  readonly latencyCount: number;
  readonly proposers: number;
  readonly seconds: number;
  /** Whether to run etcd too. */
  readonly etcd: boolean;
}

/** One repeat of one system. */
export interface RaftSample {
  readonly system: "ukai" | "etcd";
  readonly repeat: number;
  readonly latency: LatencyResult;
  readonly throughput: ThroughputResult;
}

/** What the Raft comparison measured. */
export interface RaftReport {
  readonly operation: Record<"ukai" | "etcd", string>;
  readonly samples: RaftSample[];
  readonly etcdVersion: string | null;
}

/** Runs the comparison: both clusters up, systems alternating per repeat. */
export async function raftBench(cleanup: Cleanup, options: RaftBenchOptions): Promise<RaftReport> {
  const cluster = await startUkaiCluster(cleanup, {
    nodes: 3,
    ukaiRoot: options.ukaiRoot,
    mount: false,
  });
  const etcd = options.etcd ? await startEtcd(cleanup, `${options.work}/etcd`) : null;
  const samples: RaftSample[] = [];
  try {
    const ukai = await ukaiOperation(cluster, options.proposers);
    const etcdClient = etcd === null ? null : etcdOperation(await etcd.leaderUrl());
    const systems: { system: "ukai" | "etcd"; operation: Operation }[] = [
      { system: "ukai", operation: ukai.operation },
    ];
    if (etcdClient !== null) systems.push({ system: "etcd", operation: etcdClient.operation });
    try {
      for (let repeat = 1; repeat <= options.repeats; repeat++) {
        const order = repeat % 2 === 1 ? systems : [...systems].reverse();
        for (const { system, operation } of order) {
          const latency = await measureLatency(cleanup, operation, options.latencyCount);
          const throughput = await measureThroughput(
            cleanup,
            operation,
            options.proposers,
            options.seconds,
          );
          samples.push({ system, repeat, latency, throughput });
          note(
            `raft ${system} repeat ${repeat}: p50 ${latency.p50Ms} ms p99 ${latency.p99Ms} ms, ` +
              `${throughput.commitsPerSecond} commits/s with ${options.proposers} proposers`,
          );
        }
      }
    } finally {
      await ukai.close();
      await etcdClient?.close();
    }
  } finally {
    await etcd?.close();
    await cluster.close();
  }
  return {
    operation: {
      ukai:
        "POST /v1/images/raft-N/sync {rate} on the leader's control socket (image.setResyncRate)",
      etcd: "POST /v3/kv/put (16-byte value) on the leader's HTTP/JSON gateway",
    },
    samples,
    etcdVersion: etcd?.version ?? null,
  };
}
