/**
 * Measures the FFI layer's own overhead: fio against a plain local file, the
 * single-threaded C reference server (bench/fuse_reference.c, built here with
 * gcc into bench/build/) and the same filesystem on ukai's ffi layer
 * (bench/ffi_passthrough.ts), all three over one backing file. Jobs: 1 MiB
 * sequential read and write at depth 16 (MB/s), 4 KiB random read and write
 * at depth 16 (IOPS) and at depth 1 (latency p50/p99). Targets run
 * interleaved (plain, C, ffi, plain, C, ffi, …) and repeated; the table shows
 * medians and ratios to C, with the CPU steal seen meanwhile (/proc/stat).
 * Everything started is stopped and unmounted, also on failure or Ctrl-C.
 *
 *   deno run --allow-all bench/fuse_layer_bench.ts [--runtime=4] [--repeats=3]
 *     [--size-mib=512] [--dir=/dev/shm] [--filter=TEXT]
 *
 * `--filter` runs only the jobs whose name contains TEXT (e.g. `QD1`).
 *
 * @module
 */

import { FuseSession } from "../ffi/fuse_session.ts";
import { findMount } from "../ffi/mount_table.ts";
import { MNT_DETACH } from "../ffi/stale_mount.ts";
import { umount2 } from "../ffi/libc.ts";
import { cpuBetween, cpuTicks, loadAverage, median } from "./common.ts";
import { buildReference } from "./targets/c_reference.ts";

const root = new URL("../", import.meta.url).pathname;
const PASSTHROUGH = `${root}bench/ffi_passthrough.ts`;
const INSTALL_HINT = "apt-get install -y gcc libfuse3-dev fio";

type Target = "plain" | "C" | "ffi";
const TARGETS: Target[] = ["plain", "C", "ffi"];

interface Job {
  readonly name: string;
  readonly rw: "read" | "write" | "randread" | "randwrite";
  readonly blockSize: string;
  readonly depth: number;
  readonly measure: "bandwidth" | "iops" | "latency";
}

const JOBS: Job[] = [
  { name: "1 MiB seq read, QD16", rw: "read", blockSize: "1M", depth: 16, measure: "bandwidth" },
  { name: "1 MiB seq write, QD16", rw: "write", blockSize: "1M", depth: 16, measure: "bandwidth" },
  { name: "4 KiB rand read, QD16", rw: "randread", blockSize: "4k", depth: 16, measure: "iops" },
  { name: "4 KiB rand write, QD16", rw: "randwrite", blockSize: "4k", depth: 16, measure: "iops" },
  { name: "4 KiB rand read, QD1", rw: "randread", blockSize: "4k", depth: 1, measure: "latency" },
  { name: "4 KiB rand write, QD1", rw: "randwrite", blockSize: "4k", depth: 1, measure: "latency" },
];

/** What one fio run measured. */
interface Sample {
  mbPerSecond: number;
  iops: number;
  p50Us: number;
  p99Us: number;
  stealPercent: number;
}

interface Options {
  runtimeSeconds: number;
  repeats: number;
  sizeMiB: number;
  dir: string;
  jobs: Job[];
}

function parseOptions(args: string[]): Options {
  const value = (name: string, fallback: string) =>
    args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
  let defaultDir = "/tmp";
  try {
    if (Deno.statSync("/dev/shm").isDirectory) defaultDir = "/dev/shm";
  } catch {
    // no /dev/shm: keep /tmp
  }
  return {
    runtimeSeconds: Number(value("runtime", "4")),
    repeats: Number(value("repeats", "3")),
    sizeMiB: Number(value("size-mib", "512")),
    dir: value("dir", defaultDir),
    jobs: JOBS.filter((job) => job.name.includes(value("filter", ""))),
  };
}

async function runCommand(command: string, args: string[]): Promise<string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`${command} not found; ${INSTALL_HINT}`);
    }
    throw error;
  }
  const decoder = new TextDecoder();
  if (!output.success) {
    throw new Error(`${command} ${args.join(" ")} failed:\n${decoder.decode(output.stderr)}`);
  }
  return decoder.decode(output.stdout);
}

/** A server process and its mount point. */
interface Server {
  readonly process: Deno.ChildProcess;
  readonly mountPoint: string;
}

async function startServer(command: string, args: string[], mountPoint: string): Promise<Server> {
  const process = new Deno.Command(command, { args, stdout: "piped", stderr: "inherit" }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  const timeout = setTimeout(() => process.kill("SIGKILL"), 10_000);
  try {
    while (!output.includes("mounted")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${command} exited before mounting ${mountPoint}`);
      output += value;
    }
  } finally {
    clearTimeout(timeout);
    await reader.cancel();
  }
  return { process, mountPoint };
}

async function stopServer(server: Server): Promise<void> {
  try {
    server.process.kill("SIGTERM");
  } catch {
    // already gone
  }
  const killer = setTimeout(() => {
    try {
      server.process.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, 5000);
  await server.process.status;
  clearTimeout(killer);
  await FuseSession.clearStaleMount(server.mountPoint);
  if (await findMount(server.mountPoint) !== undefined) {
    await umount2(server.mountPoint, MNT_DETACH).catch(() => {});
  }
}

let currentFio: Deno.ChildProcess | undefined;

async function fio(filename: string, job: Job, options: Options): Promise<Sample> {
  const before = cpuTicks();
  currentFio = new Deno.Command("fio", {
    args: [
      "--name=bench",
      `--filename=${filename}`,
      "--direct=1",
      "--ioengine=libaio",
      `--rw=${job.rw}`,
      `--bs=${job.blockSize}`,
      `--iodepth=${job.depth}`,
      `--size=${options.sizeMiB}M`,
      "--time_based",
      `--runtime=${options.runtimeSeconds}`,
      "--ramp_time=1",
      "--fallocate=none",
      "--lat_percentiles=1",
      "--output-format=json",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = await currentFio.output();
  currentFio = undefined;
  if (!output.success) throw new Error(`fio failed:\n${new TextDecoder().decode(output.stderr)}`);
  const report = JSON.parse(new TextDecoder().decode(output.stdout));
  const side = job.rw.includes("read") ? report.jobs[0].read : report.jobs[0].write;
  const percentile = side.lat_ns.percentile as Record<string, number>;
  return {
    mbPerSecond: side.bw_bytes / 1e6,
    iops: side.iops,
    p50Us: (percentile["50.000000"] ?? 0) / 1000,
    p99Us: (percentile["99.000000"] ?? 0) / 1000,
    stealPercent: cpuBetween(before, cpuTicks()).steal,
  };
}

/**
 * The results as a Markdown table: medians per target, and ratios to C as the
 * median of the per-repeat ratios (each repeat runs the targets back to back,
 * so a ratio compares runs under the same background load).
 */
function table(jobs: Job[], samples: Map<string, Sample[]>): string {
  const rows = [
    "| job | metric | plain file | C reference | ffi passthrough | ffi / C | plain / C |",
    "|---|---|---:|---:|---:|---:|---:|",
  ];
  const metrics: Record<Job["measure"], [string, (sample: Sample) => number, number][]> = {
    bandwidth: [["MB/s", (sample) => sample.mbPerSecond, 0]],
    iops: [["kIOPS", (sample) => sample.iops / 1000, 1]],
    latency: [
      ["p50 µs", (sample) => sample.p50Us, 1],
      ["p99 µs", (sample) => sample.p99Us, 1],
      ["kIOPS", (sample) => sample.iops / 1000, 1],
    ],
  };
  for (const job of jobs) {
    for (const [metric, pick, digits] of metrics[job.measure]) {
      const [plain, reference, ffi] = TARGETS.map((target) =>
        (samples.get(`${job.name}/${target}`) ?? []).map(pick)
      ) as [number[], number[], number[]];
      const ratio = (values: number[]) =>
        median(values.map((value, index) => value / (reference[index] ?? NaN))).toFixed(2);
      const cells = [plain, reference, ffi].map((values) => median(values).toFixed(digits));
      rows.push(
        `| ${job.name} | ${metric} | ${cells.join(" | ")} | ${ratio(ffi)} | ${ratio(plain)} |`,
      );
    }
  }
  return rows.join("\n");
}

async function main(): Promise<void> {
  const options = parseOptions(Deno.args);
  await runCommand("fio", ["--version"]);
  const referenceBinary = await buildReference();
  const work = await Deno.makeTempDir({ dir: options.dir, prefix: "ukai-fuse-bench-" });
  const servers: Server[] = [];
  let interrupted = false;
  const interrupt = () => {
    interrupted = true;
    currentFio?.kill("SIGTERM");
  };
  Deno.addSignalListener("SIGINT", interrupt);
  Deno.addSignalListener("SIGTERM", interrupt);
  try {
    const backing = `${work}/backing.img`;
    await runCommand("fio", [
      "--name=fill",
      `--filename=${backing}`,
      "--rw=write",
      "--bs=1M",
      `--size=${options.sizeMiB}M`,
      "--fallocate=none",
    ]);
    for (const name of ["c", "ffi"]) await Deno.mkdir(`${work}/${name}`);
    servers.push(await startServer(referenceBinary, [backing, `${work}/c`], `${work}/c`));
    servers.push(
      await startServer(Deno.execPath(), [
        "run",
        "--allow-all",
        PASSTHROUGH,
        backing,
        `${work}/ffi`,
      ], `${work}/ffi`),
    );
    const files: Record<Target, string> = {
      plain: backing,
      C: `${work}/c/disk`,
      ffi: `${work}/ffi/disk`,
    };

    const samples = new Map<string, Sample[]>();
    const start = cpuTicks();
    const loadBefore = loadAverage();
    let maxSteal = 0;
    for (let repeat = 1; repeat <= options.repeats; repeat++) {
      for (const job of options.jobs) {
        for (const target of TARGETS) {
          if (interrupted) throw new Error("interrupted");
          const sample = await fio(files[target], job, options);
          maxSteal = Math.max(maxSteal, sample.stealPercent);
          const key = `${job.name}/${target}`;
          samples.set(key, [...(samples.get(key) ?? []), sample]);
          console.log(
            `repeat ${repeat} ${job.name.padEnd(24)} ${target.padEnd(5)} ` +
              `${sample.mbPerSecond.toFixed(0).padStart(6)} MB/s ${
                (sample.iops / 1000).toFixed(1).padStart(6)
              } kIOPS ` +
              `p50 ${sample.p50Us.toFixed(1)} µs p99 ${sample.p99Us.toFixed(1)} µs steal ${
                sample.stealPercent.toFixed(1)
              }%`,
          );
        }
      }
    }
    const steal = cpuBetween(start, cpuTicks()).steal;
    console.log(
      `\nmedians of ${options.repeats} interleaved runs, ${options.runtimeSeconds} s each, ` +
        `backing file ${options.sizeMiB} MiB in ${options.dir}, ${navigator.hardwareConcurrency} CPUs`,
    );
    const worst = maxSteal.toFixed(1);
    const load = `${loadBefore.toFixed(2)} before, ${loadAverage().toFixed(2)} after`;
    console.log(
      `CPU steal: ${steal.toFixed(1)}% overall, ${worst}% in the worst run; load average ${load}\n`,
    );
    console.log(table(options.jobs, samples));
  } finally {
    Deno.removeSignalListener("SIGINT", interrupt);
    Deno.removeSignalListener("SIGTERM", interrupt);
    for (const server of servers) await stopServer(server);
    await Deno.remove(work, { recursive: true });
  }
}

await main();
