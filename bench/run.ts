/**
 * The benchmark suite (issue 6): ukai side by side with its peers, one fio
 * job file for every target, plus the Raft, resync and scale measurements
 * the other issues ask for. Writes bench/results/DATE.json (every raw
 * figure), bench/results/DATE.md (tables, ratios, verdicts) and PNG plots.
 *
 *   deno task bench [--quick] [--targets=ID,…] [--no-peers]
 *     [--sections=fio,raft,resync,scale] [--repeats=N] [--runtime=S]
 *     [--size-mib=N] [--ukai=DIR] [--out=DIR] [--no-plots]
 *   deno task bench --render=bench/results/DATE.json   (redraw its .md and plots)
 *
 * Targets: plain, c-ref, c-ref-2, c-ref-remote, ukai-1, ukai-2, ukai-3,
 * ukai-remote, nbd, gluster. Every fio run starts after a `sync`.
 * `--no-peers` drops nbd, gluster and etcd. `--ukai=DIR` runs the ukai of
 * another checkout (its main.ts and tests/harness). Missing Debian packages
 * are installed when running as root. Everything the run starts is stopped
 * and unmounted when it ends, fails or is interrupted (Ctrl-C).
 *
 * @module
 */

import {
  Cleanup,
  cpuBetween,
  cpuTicks,
  GiB,
  loadAverage,
  MiB,
  note,
  round,
  run,
  TiB,
} from "./common.ts";
import { type FioSample, runWorkload, type Workload, WORKLOADS } from "./fio.ts";
import { ensurePackages, PACKAGES, packageVersions } from "./packages.ts";
import { drawPlots } from "./plots.ts";
import { raftBench, type RaftReport } from "./raft_bench.ts";
import {
  type BenchResults,
  checkResults,
  type FioRecord,
  renderMarkdown,
  SCHEMA,
  type TargetRecord,
  verdicts,
} from "./report.ts";
import { resyncBench, type ResyncReport } from "./resync_bench.ts";
import { scaleBench, type ScaleReport } from "./scale_bench.ts";
import { cReferenceGroup } from "./targets/c_reference.ts";
import { glusterGroup } from "./targets/gluster.ts";
import { nbdGroup } from "./targets/nbd.ts";
import { plainGroup } from "./targets/plain.ts";
import type { StartedGroup, Target, TargetGroup } from "./targets/target.ts";
import { ukaiGroup } from "./targets/ukai.ts";
import { THIS_CHECKOUT } from "./targets/ukai_cluster.ts";

const GROUPS: readonly TargetGroup[] = [
  plainGroup,
  cReferenceGroup,
  ukaiGroup,
  nbdGroup,
  glusterGroup,
];
const ALL_TARGETS = GROUPS.flatMap((group) => group.ids);
const SECTIONS = ["fio", "raft", "resync", "scale"] as const;
type Section = typeof SECTIONS[number];

/** The run's settings. */
export interface Options {
  readonly quick: boolean;
  readonly targets: readonly string[];
  readonly peers: boolean;
  readonly sections: readonly Section[];
  readonly repeats: number;
  readonly runtimeSeconds: number;
  readonly rampSeconds: number;
  readonly sizeBytes: number;
  readonly ukaiRoot: string;
  readonly out: string;
  readonly plots: boolean;
  /** Only redraw the Markdown and plots of this JSON report. */
  readonly render: string | undefined;
}

/** Parses the command line; throws on unknown flags or values. */
export function parseOptions(args: readonly string[]): Options {
  const values = new Map<string, string>();
  for (const arg of args) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (match === null) throw new Error(`Unexpected argument "${arg}"`);
    values.set(match[1]!, match[2] ?? "");
  }
  const known = [
    "quick",
    "targets",
    "no-peers",
    "sections",
    "repeats",
    "runtime",
    "size-mib",
    "ukai",
    "out",
    "no-plots",
    "render",
  ];
  for (const key of values.keys()) {
    if (!known.includes(key)) {
      throw new Error(`Unknown option "--${key}" (known: ${known.join(", ")})`);
    }
  }
  const quick = values.has("quick");
  const peers = !values.has("no-peers");
  const list = (key: string, all: readonly string[]) => {
    const text = values.get(key);
    if (text === undefined || text === "") return [...all];
    const chosen = text.split(",").map((item) => item.trim()).filter((item) => item !== "");
    for (const item of chosen) {
      if (!all.includes(item)) {
        throw new Error(`Unknown ${key} "${item}" (known: ${all.join(", ")})`);
      }
    }
    return chosen;
  };
  const peerTargets = GROUPS.filter((group) => group.peer).flatMap((group) => group.ids);
  const targets = list("targets", ALL_TARGETS).filter((id) => peers || !peerTargets.includes(id));
  const number = (key: string, fallback: number) => {
    const text = values.get(key);
    const value = text === undefined ? fallback : Number(text);
    if (!Number.isFinite(value) || value <= 0) {
      throw new Error(`--${key} must be a positive number`);
    }
    return value;
  };
  return {
    quick,
    targets,
    peers,
    sections: list("sections", SECTIONS) as Section[],
    repeats: number("repeats", quick ? 1 : 3),
    runtimeSeconds: number("runtime", quick ? 1 : 5),
    rampSeconds: quick ? 0.5 : 1,
    sizeBytes: number("size-mib", quick ? 128 : 1024) * MiB,
    ukaiRoot: (values.get("ukai") || THIS_CHECKOUT).replace(/\/$/, ""),
    out: values.get("out") || new URL("./results", import.meta.url).pathname,
    plots: !values.has("no-plots"),
    render: values.get("render") || undefined,
  };
}

function neededPackages(options: Options): string[] {
  const names = new Set<string>(PACKAGES.core);
  if (!options.plots) names.delete("gnuplot-nox");
  for (const group of GROUPS) {
    if (group.ids.some((id) => options.targets.includes(id)) && options.sections.includes("fio")) {
      group.packages.forEach((name) => names.add(name));
    }
  }
  if (options.peers && options.sections.includes("raft")) {
    PACKAGES.etcd.forEach((n) => names.add(n));
  }
  return [...names];
}

async function machineInfo(): Promise<Record<string, unknown>> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown";
  const memory = /MemTotal:\s*(\d+) kB/.exec(await Deno.readTextFile("/proc/meminfo"))?.[1];
  return {
    cpus: navigator.hardwareConcurrency,
    cpuModel: model,
    memoryBytes: Number(memory ?? 0) * 1024,
    kernel: Deno.osRelease(),
    hostname: Deno.hostname(),
  };
}

async function ukaiVersion(root: string): Promise<Record<string, unknown>> {
  const git = (...args: string[]) => run("git", ["-C", root, ...args], { allowFailure: true });
  // An exported tree (git archive) has no .git: its commit may be written in a file `.commit`.
  const exported = await Deno.readTextFile(`${root}/.commit`).catch(() => "");
  const commit = (await git("rev-parse", "HEAD")).stdout.trim() || exported.trim();
  const dirty = (await git("status", "--porcelain", "--untracked-files=no")).stdout.trim();
  return {
    root,
    commit: commit || null,
    modifiedFiles: dirty === "" ? 0 : dirty.split("\n").length,
  };
}

/**
 * Runs the fio matrix: repeats × workloads × targets, the target order rotating
 * per repeat. Each run starts after a `sync`: the dirty pages a write job
 * leaves behind would otherwise be written back during the next run, and the
 * kernel throttles that run's writers (measured: the C reference's 4 KiB
 * writes fell from ~130k to ~53k IOPS behind such a backlog).
 */
async function fioSection(
  cleanup: Cleanup,
  options: Options,
  targets: readonly Target[],
): Promise<FioRecord[]> {
  const records: FioRecord[] = [];
  const timing = {
    sizeBytes: options.sizeBytes,
    runtimeSeconds: options.runtimeSeconds,
    rampSeconds: options.rampSeconds,
  };
  for (let repeat = 1; repeat <= options.repeats; repeat++) {
    for (const workload of WORKLOADS) {
      const shift = (repeat - 1) % Math.max(1, targets.length);
      const order = [...targets.slice(shift), ...targets.slice(0, shift)];
      for (const target of order) {
        cleanup.check();
        let sample: FioSample;
        try {
          await run("sync", [], { cleanup });
          sample = await runWorkload(cleanup, target.file, workload, timing);
        } catch (error) {
          cleanup.check();
          console.error(
            `fio ${workload.id} on ${target.id} failed: ${String(error).slice(0, 400)}`,
          );
          continue;
        }
        records.push({ target: target.id, workload: workload.id, repeat, ...sample });
        note(
          `#${repeat} ${workload.id.padEnd(24)} ${target.id.padEnd(12)} ${
            String(sample.mbPerSecond).padStart(7)
          } MB/s ${
            (sample.iops / 1000).toFixed(1).padStart(6)
          } kIOPS p50 ${sample.p50Us} µs p99 ${sample.p99Us} µs ` +
            `steal ${sample.stealPercent}%`,
        );
      }
    }
  }
  return records;
}

function fioSubset(workloads: readonly Workload[], records: readonly FioRecord[]) {
  return workloads.filter((w) => records.some((r) => r.workload === w.id));
}

interface Collected {
  targets: TargetRecord[];
  targetDetails: Record<string, unknown>;
  fio: FioRecord[];
  raft: RaftReport | null;
  resync: ResyncReport | null;
  scale: ScaleReport | null;
  errors: { section: string; message: string }[];
}

async function runSections(cleanup: Cleanup, options: Options, work: string, collected: Collected) {
  const attempt = async (section: string, action: () => Promise<void>) => {
    cleanup.check();
    try {
      await action();
    } catch (error) {
      cleanup.check();
      const message = error instanceof Error ? error.message : String(error);
      console.error(`${section} failed: ${message}`);
      collected.errors.push({ section, message: message.slice(0, 2000) });
    }
  };
  if (options.sections.includes("fio") && options.targets.length > 0) {
    const started: StartedGroup[] = [];
    const targets: Target[] = [];
    try {
      for (const group of GROUPS) {
        const ids = group.ids.filter((id) => options.targets.includes(id));
        if (ids.length === 0) continue;
        await attempt(`start ${ids.join(", ")}`, async () => {
          note(`starting ${ids.join(", ")}`);
          const folder = `${work}/${ids[0]}`;
          await Deno.mkdir(folder, { recursive: true });
          const group_ = await group.start({
            cleanup,
            work: folder,
            sizeBytes: options.sizeBytes,
            ukaiRoot: options.ukaiRoot,
          }, ids);
          started.push(group_);
          targets.push(...group_.targets);
          for (const id of ids) collected.targetDetails[id] = group_.details;
        });
      }
      targets.sort((a, b) => ALL_TARGETS.indexOf(a.id) - ALL_TARGETS.indexOf(b.id));
      collected.targets = targets.map(({ id, title, fillMiBPerSecond }) => ({
        id,
        title,
        fillMiBPerSecond,
      }));
      await attempt("fio", async () => {
        collected.fio = await fioSection(cleanup, options, targets);
      });
    } finally {
      for (const group of started.reverse()) {
        await group.stop().catch((error) => console.error(`stopping a target failed: ${error}`));
      }
    }
  }
  if (options.sections.includes("raft")) {
    await attempt("raft", async () => {
      note("Raft commits: ukai against etcd");
      collected.raft = await raftBench(cleanup, {
        ukaiRoot: options.ukaiRoot,
        work,
        repeats: options.repeats,
        latencyCount: options.quick ? 100 : 500,
        proposers: 64,
        seconds: options.quick ? 2 : 8,
        etcd: options.peers,
      });
    });
  }
  if (options.sections.includes("resync")) {
    await attempt("resync", async () => {
      note("resync against a plain copy, and rate caps");
      collected.resync = await resyncBench(cleanup, {
        ukaiRoot: options.ukaiRoot,
        sizes: options.quick
          ? [64 * MiB, 256 * MiB]
          : [1 * GiB, 2 * GiB, 4 * GiB, 8 * GiB, 16 * GiB],
        capSizeBytes: options.quick ? 96 * MiB : 1 * GiB,
        capBytesPerSecond: options.quick ? 32_000_000 : 64_000_000,
      });
    });
  }
  if (options.sections.includes("scale")) {
    await attempt("scale", async () => {
      note("scale: image size and cluster size");
      collected.scale = await scaleBench(cleanup, {
        ukaiRoot: options.ukaiRoot,
        imageSizes: options.quick ? [1 * GiB, 1 * TiB] : [1 * GiB, 16 * GiB, 256 * GiB, 1 * TiB],
        nodeCounts: options.quick ? [1, 3] : [1, 2, 3, 4, 5],
        repeats: 3,
        latencyCount: options.quick ? 30 : 200,
        proposers: 32,
        seconds: options.quick ? 1 : 4,
        fioSizeBytes: options.quick ? 64 * MiB : 256 * MiB,
        fioRuntimeSeconds: options.quick ? 1 : 4,
        fioRampSeconds: options.quick ? 0.5 : 1,
      });
    });
  }
}

/** Writes the Markdown report (and plots) of `results` beside its JSON file `json`. */
async function writeMarkdown(results: BenchResults, json: string, plots: boolean): Promise<string> {
  const folder = json.slice(0, json.lastIndexOf("/")) || ".";
  const prefix = json.slice(folder.length + 1).replace(/\.json$/, "");
  let drawn: string[] = [];
  if (plots) {
    try {
      drawn = await drawPlots(results, folder, prefix);
    } catch (error) {
      console.error(`plots failed: ${error}`);
    }
  }
  const markdown = `${folder}/${prefix}.md`;
  await Deno.writeTextFile(markdown, renderMarkdown(results, drawn));
  return markdown;
}

/** Runs the suite; returns the paths of the JSON and Markdown reports. */
export async function main(args: readonly string[]): Promise<{ json: string; markdown: string }> {
  const options = parseOptions(args);
  if (options.render !== undefined) {
    const results = checkResults(JSON.parse(await Deno.readTextFile(options.render)));
    const markdown = await writeMarkdown(results, options.render, options.plots);
    note(`report: ${markdown}`);
    return { json: options.render, markdown };
  }
  const cleanup = new Cleanup();
  const interrupt = () => {
    console.error("interrupted: stopping everything");
    cleanup.abort();
  };
  Deno.addSignalListener("SIGINT", interrupt);
  Deno.addSignalListener("SIGTERM", interrupt);
  const startedAt = new Date();
  const began = performance.now();
  const cpuBefore = cpuTicks();
  const loadBefore = loadAverage();
  const collected: Collected = {
    targets: [],
    targetDetails: {},
    fio: [],
    raft: null,
    resync: null,
    scale: null,
    errors: [],
  };
  let work = "";
  try {
    await ensurePackages(neededPackages(options));
    work = await Deno.makeTempDir({ prefix: "ukai-bench-" });
    cleanup.defer("remove the work folder", () => Deno.remove(work, { recursive: true }));
    await runSections(cleanup, options, work, collected);
  } finally {
    await cleanup.runAll();
    Deno.removeSignalListener("SIGINT", interrupt);
    Deno.removeSignalListener("SIGTERM", interrupt);
  }
  if (cleanup.aborted) throw new Error("Interrupted: nothing is left running; no report written");
  const cpu = cpuBetween(cpuBefore, cpuTicks());
  const date = startedAt.toISOString().slice(0, 19).replaceAll(":", "-");
  const versions = {
    deno: Deno.version.deno,
    ukai: await ukaiVersion(options.ukaiRoot),
    packages: await packageVersions([...new Set([...Object.values(PACKAGES).flat()])]),
    fio: (await run("fio", ["--version"])).stdout.trim(),
  };
  const partial = { fio: collected.fio, raft: collected.raft, resync: collected.resync };
  const results: BenchResults = {
    schema: SCHEMA,
    date: startedAt.toISOString(),
    mode: options.quick ? "quick" : "full",
    arguments: args,
    durationSeconds: round((performance.now() - began) / 1000, 1),
    machine: {
      ...(await machineInfo()),
      loadBefore,
      loadAfter: loadAverage(),
      stealPercent: round(cpu.steal, 1),
      busyPercent: round(cpu.busy, 1),
      worstStealPercent: Math.max(0, ...collected.fio.map((r) => r.stealPercent)),
    },
    versions,
    settings: {
      sizeBytes: options.sizeBytes,
      runtimeSeconds: options.runtimeSeconds,
      rampSeconds: options.rampSeconds,
      repeats: options.repeats,
      targets: options.targets,
      sections: options.sections,
    },
    targets: collected.targets,
    targetDetails: collected.targetDetails,
    workloads: fioSubset(WORKLOADS, collected.fio),
    fio: collected.fio,
    raft: collected.raft,
    resync: collected.resync,
    scale: collected.scale,
    verdicts: verdicts(partial),
    errors: collected.errors,
  };
  checkResults(results);
  await Deno.mkdir(options.out, { recursive: true });
  const json = `${options.out}/${date}.json`;
  await Deno.writeTextFile(json, `${JSON.stringify(results, null, 2)}\n`);
  const markdown = await writeMarkdown(results, json, options.plots);
  note(`report: ${markdown}`);
  return { json, markdown };
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
