/**
 * Scale tables (issues 2-4): how ukai's figures move with image size and
 * cluster size.
 *   - Metadata operations on images of 1 GiB to 1 TiB (1 MiB blocks, the
 *     most blocks per byte a default-sized cluster sees): create with two
 *     locations, show, set the resync rate, add a third location, set the
 *     rate again while that location's resync runs, remove the location,
 *     remove the image — each through the leader's control API, committed.
 *   - 1 to 5 nodes: time for a cluster to form, Raft commit latency and
 *     throughput, and write throughput / latency through n1's mount on an
 *     image with one copy per node.
 * (Resync against size is part of bench/resync_bench.ts.)
 *
 * @module
 */

import { type Cleanup, median, MiB, note, round } from "./common.ts";
import { fill, type FioSample, runWorkload, WORKLOADS } from "./fio.ts";
import { measureLatency, measureThroughput, ukaiOperation } from "./raft_bench.ts";
import { startUkaiCluster, waitReleased } from "./targets/ukai_cluster.ts";
import { UKAI_BLOCK_SIZE } from "./targets/ukai.ts";

/** Milliseconds per metadata operation at one image size (medians). */
export interface MetadataSample {
  readonly sizeBytes: number;
  readonly blocks: number;
  readonly milliseconds: Record<string, number>;
}

/** Figures at one cluster size. */
export interface NodesSample {
  readonly nodes: number;
  readonly formSeconds: number;
  readonly commitP50Ms: number;
  readonly commitP99Ms: number;
  readonly commitsPerSecond: number;
  readonly seqWriteMBps: number;
  readonly randWriteP50Us: number;
}

/** What the scale benchmark measured. */
export interface ScaleReport {
  readonly metadataBlockSize: number;
  readonly metadata: MetadataSample[];
  readonly nodes: NodesSample[];
}

/** Options of the scale benchmark. */
export interface ScaleBenchOptions {
  readonly ukaiRoot: string;
  readonly imageSizes: readonly number[];
  readonly nodeCounts: readonly number[];
  readonly repeats: number;
  readonly latencyCount: number;
  readonly proposers: number;
  readonly seconds: number;
  readonly fioSizeBytes: number;
  readonly fioRuntimeSeconds: number;
  readonly fioRampSeconds: number;
}

const METADATA_BLOCK = 1 * MiB;

async function metadataSeries(
  cleanup: Cleanup,
  options: ScaleBenchOptions,
): Promise<MetadataSample[]> {
  const cluster = await startUkaiCluster(cleanup, {
    nodes: 3,
    ukaiRoot: options.ukaiRoot,
    mount: false,
  });
  const samples: MetadataSample[] = [];
  try {
    const leader = await cluster.leader();
    const client = cluster.processes.client(leader);
    try {
      const timed = async (
        what: string,
        times: Record<string, number[]>,
        action: () => Promise<unknown>,
      ) => {
        const started = performance.now();
        await action();
        (times[what] ??= []).push(performance.now() - started);
      };
      for (const size of options.imageSizes) {
        const times: Record<string, number[]> = {};
        for (let repeat = 0; repeat < options.repeats; repeat++) {
          cleanup.check();
          const name = `scale-${size}-${repeat}`;
          const path = `/v1/images/${name}`;
          const body = { name, size, blockSize: METADATA_BLOCK, locations: ["n1", "n2"] };
          await timed("create", times, () => client.call("POST", "/v1/images", { body }));
          await timed("show", times, () => client.call("GET", path));
          await timed(
            "set rate",
            times,
            () => client.call("POST", `${path}/sync`, { body: { rate: 50_000_000 } }),
          );
          await timed(
            "add location",
            times,
            () => client.call("POST", `${path}/locations`, { body: { node: "n3" } }),
          );
          // The new copy's resync has started: commands now compete with it.
          await timed(
            "set rate (resync running)",
            times,
            () => client.call("POST", `${path}/sync`, { body: { rate: 60_000_000 } }),
          );
          await timed(
            "remove location",
            times,
            () => client.call("DELETE", `${path}/locations/n3`),
          );
          await timed("remove image", times, () => client.call("DELETE", `${path}?force=1`));
        }
        const milliseconds = Object.fromEntries(
          Object.entries(times).map(([what, values]) => [what, round(median(values), 2)]),
        );
        samples.push({ sizeBytes: size, blocks: size / METADATA_BLOCK, milliseconds });
        note(`metadata ${size / 2 ** 30} GiB: ${JSON.stringify(milliseconds)}`);
      }
    } finally {
      client.close();
    }
  } finally {
    await cluster.close();
  }
  return samples;
}

async function nodesSample(
  cleanup: Cleanup,
  options: ScaleBenchOptions,
  nodes: number,
): Promise<NodesSample> {
  const started = performance.now();
  const cluster = await startUkaiCluster(cleanup, { nodes, ukaiRoot: options.ukaiRoot });
  const formSeconds = (performance.now() - started) / 1000;
  try {
    const ukai = await ukaiOperation(cluster, options.proposers);
    let latency, throughput;
    try {
      latency = await measureLatency(cleanup, ukai.operation, options.latencyCount);
      throughput = await measureThroughput(
        cleanup,
        ukai.operation,
        options.proposers,
        options.seconds,
      );
    } finally {
      await ukai.close();
    }
    await cluster.processes.call("n1", "POST", "/v1/images", {
      name: "scale",
      size: options.fioSizeBytes,
      blockSize: UKAI_BLOCK_SIZE,
      locations: cluster.ids,
    });
    const file = cluster.file("n1", "scale");
    await fill(cleanup, file, options.fioSizeBytes);
    await waitReleased(cleanup, cluster, "scale");
    const timing = {
      sizeBytes: options.fioSizeBytes,
      runtimeSeconds: options.fioRuntimeSeconds,
      rampSeconds: options.fioRampSeconds,
    };
    const job = (id: string) => WORKLOADS.find((workload) => workload.id === id)!;
    const seq: FioSample = await runWorkload(cleanup, file, job("seq-write-1m-qd16"), timing);
    await waitReleased(cleanup, cluster, "scale");
    const rand: FioSample = await runWorkload(cleanup, file, job("rand-write-4k-qd1"), timing);
    const sample = {
      nodes,
      formSeconds: round(formSeconds, 2),
      commitP50Ms: latency.p50Ms,
      commitP99Ms: latency.p99Ms,
      commitsPerSecond: throughput.commitsPerSecond,
      seqWriteMBps: seq.mbPerSecond,
      randWriteP50Us: rand.p50Us,
    };
    note(`scale ${nodes} node(s): ${JSON.stringify(sample)}`);
    return sample;
  } finally {
    await cluster.close();
  }
}

/** Runs both series. */
export async function scaleBench(
  cleanup: Cleanup,
  options: ScaleBenchOptions,
): Promise<ScaleReport> {
  const metadata = await metadataSeries(cleanup, options);
  const nodes: NodesSample[] = [];
  for (const count of options.nodeCounts) {
    nodes.push(await nodesSample(cleanup, options, count));
  }
  return { metadataBlockSize: METADATA_BLOCK, metadata, nodes };
}
