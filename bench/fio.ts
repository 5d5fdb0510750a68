/**
 * fio runner and parser for the benchmark suite: the workloads are the
 * sections of one job file (`bench/workloads.fio`), run one at a time against
 * a target's file with its path, size and timing in the environment; the
 * JSON output becomes a {@link FioSample} (MB/s, IOPS, latency p50/p99, and
 * for the fdatasync job the sync latency), with the CPU steal and busy share
 * of the machine meanwhile. `fill` writes a target's file once, so reads
 * never hit holes.
 *
 * @module
 */

import { Cleanup, cpuBetween, cpuTicks, loadAverage, MiB, round, run } from "./common.ts";

/** The job file every target runs. */
export const JOB_FILE = new URL("./workloads.fio", import.meta.url).pathname;

/** One workload: a section of the job file and the figure that matters most. */
export interface Workload {
  readonly id: string;
  readonly title: string;
  readonly side: "read" | "write";
  /** latency: p50/p99 µs; iops: kIOPS; bandwidth: MB/s; sync: fdatasync'd writes per second. */
  readonly measure: "latency" | "iops" | "bandwidth" | "sync";
}

/** The workloads, in the order they run and appear in the report. */
export const WORKLOADS: readonly Workload[] = [
  { id: "rand-read-4k-qd1", title: "4 KiB random read, depth 1", side: "read", measure: "latency" },
  {
    id: "rand-write-4k-qd1",
    title: "4 KiB random write, depth 1",
    side: "write",
    measure: "latency",
  },
  { id: "rand-read-4k-qd16", title: "4 KiB random read, depth 16", side: "read", measure: "iops" },
  {
    id: "rand-write-4k-qd16",
    title: "4 KiB random write, depth 16",
    side: "write",
    measure: "iops",
  },
  {
    id: "seq-read-1m-qd16",
    title: "1 MiB sequential read, depth 16",
    side: "read",
    measure: "bandwidth",
  },
  {
    id: "seq-write-1m-qd16",
    title: "1 MiB sequential write, depth 16",
    side: "write",
    measure: "bandwidth",
  },
  {
    id: "rand-write-4k-fdatasync",
    title: "4 KiB random write + fdatasync, depth 1",
    side: "write",
    measure: "sync",
  },
];

/** What one fio run measured. */
export interface FioSample {
  readonly mbPerSecond: number;
  readonly iops: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  /** Latency of the fdatasync calls (fdatasync job only; 0 otherwise). */
  readonly syncP50Us: number;
  readonly syncP99Us: number;
  readonly errors: number;
  readonly stealPercent: number;
  readonly busyPercent: number;
  readonly loadAverage: number;
}

/** How long each run lasts. */
export interface FioTiming {
  readonly sizeBytes: number;
  readonly runtimeSeconds: number;
  readonly rampSeconds: number;
}

type Percentiles = Record<string, number>;

interface FioSide {
  "bw_bytes": number;
  iops: number;
  "lat_ns"?: { percentile?: Percentiles };
  "clat_ns"?: { percentile?: Percentiles };
}

interface FioJob {
  jobname: string;
  error: number;
  read: FioSide;
  write: FioSide;
  sync?: { "lat_ns"?: { percentile?: Percentiles } };
}

function pick(percentiles: Percentiles | undefined, key: string): number {
  return round((percentiles?.[key] ?? 0) / 1000, 1);
}

/** Turns fio's JSON output for `workload` into a sample (CPU figures added by the caller). */
export function parseFio(
  output: string,
  workload: Workload,
): Omit<FioSample, "stealPercent" | "busyPercent" | "loadAverage"> {
  // fio may print warnings before the JSON document.
  const start = output.indexOf("{");
  if (start < 0) throw new Error(`fio printed no JSON: ${output.slice(0, 300)}`);
  const report = JSON.parse(output.slice(start)) as { jobs?: FioJob[] };
  const job = report.jobs?.[0];
  if (job === undefined) throw new Error("fio's report has no job");
  const side = job[workload.side];
  const latency = side.lat_ns?.percentile ?? side.clat_ns?.percentile;
  return {
    mbPerSecond: round(side.bw_bytes / 1e6, 1),
    iops: round(side.iops, 1),
    p50Us: pick(latency, "50.000000"),
    p99Us: pick(latency, "99.000000"),
    p999Us: pick(latency, "99.900000"),
    syncP50Us: pick(job.sync?.lat_ns?.percentile, "50.000000"),
    syncP99Us: pick(job.sync?.lat_ns?.percentile, "99.000000"),
    errors: job.error,
  };
}

/** Runs `workload` against `file` and returns what it measured. */
export async function runWorkload(
  cleanup: Cleanup,
  file: string,
  workload: Workload,
  timing: FioTiming,
): Promise<FioSample> {
  const before = cpuTicks();
  const result = await run("fio", [
    `--section=${workload.id}`,
    "--output-format=json",
    JOB_FILE,
  ], {
    cleanup,
    allowFailure: true,
    env: {
      FIO_FILE: file,
      FIO_SIZE: String(timing.sizeBytes),
      FIO_RUNTIME: String(timing.runtimeSeconds),
      FIO_RAMP: String(timing.rampSeconds),
    },
  });
  const cpu = cpuBetween(before, cpuTicks());
  if (result.code !== 0) {
    throw new Error(`fio ${workload.id} on ${file} failed: ${result.stderr.slice(-800)}`);
  }
  return {
    ...parseFio(result.stdout, workload),
    stealPercent: round(cpu.steal, 1),
    busyPercent: round(cpu.busy, 1),
    loadAverage: loadAverage(),
  };
}

/** Writes `file` sequentially to `sizeBytes` (1 MiB direct writes), so every block holds data. */
export async function fill(
  cleanup: Cleanup,
  file: string,
  sizeBytes: number,
  direct = true,
): Promise<number> {
  const started = performance.now();
  await run("fio", [
    "--name=fill",
    `--filename=${file}`,
    "--rw=write",
    "--bs=1M",
    `--size=${sizeBytes}`,
    `--direct=${direct ? 1 : 0}`,
    "--ioengine=libaio",
    "--iodepth=16",
    "--fallocate=none",
    "--output-format=terse",
  ], { cleanup });
  const seconds = (performance.now() - started) / 1000;
  return round(sizeBytes / MiB / seconds, 1);
}
