/**
 * The benchmark report: the JSON document with every raw figure (the
 * {@link BenchResults} shape, checked by {@link checkResults}), the verdicts
 * against the targets the issues set, and the Markdown rendering — one table
 * per fio workload with medians, ratios to the C reference and to GlusterFS
 * and a verdict column, then the Raft, resync, rate-cap and scale tables.
 * Ratios are medians of per-repeat ratios: within a repeat the targets ran
 * back to back, so a ratio compares runs under the same background load.
 *
 * @module
 */

import { median, round } from "./common.ts";
import { type FioSample, type Workload, WORKLOADS } from "./fio.ts";
import type { RaftReport } from "./raft_bench.ts";
import type { ResyncReport } from "./resync_bench.ts";
import type { ScaleReport } from "./scale_bench.ts";

/** Identifies the JSON layout. */
export const SCHEMA = "ukai-bench/1";

/** One fio run of one target. */
export interface FioRecord extends FioSample {
  readonly target: string;
  readonly workload: string;
  readonly repeat: number;
}

/** A target as the report lists it. */
export interface TargetRecord {
  readonly id: string;
  readonly title: string;
  readonly fillMiBPerSecond: number;
}

/** One verdict against an issue's target. */
export interface Verdict {
  readonly issue: string;
  readonly subject: string;
  readonly rule: string;
  readonly value: number | null;
  readonly pass: boolean | null;
  /**
   * The same ratio between the C reference layouts (c-ref-2 / c-ref for two
   * copies, …): what this machine allows without JavaScript. Absent when the
   * rule has no C analogue; null when not measured.
   */
  readonly analogue?: number | null;
}

/** The whole report. */
export interface BenchResults {
  readonly schema: typeof SCHEMA;
  readonly date: string;
  readonly mode: "quick" | "full";
  readonly arguments: readonly string[];
  readonly durationSeconds: number;
  readonly machine: Record<string, unknown>;
  readonly versions: Record<string, unknown>;
  readonly settings: {
    readonly sizeBytes: number;
    readonly runtimeSeconds: number;
    readonly rampSeconds: number;
    readonly repeats: number;
    readonly targets: readonly string[];
    readonly sections: readonly string[];
  };
  readonly targets: readonly TargetRecord[];
  readonly targetDetails: Record<string, unknown>;
  readonly workloads: readonly Workload[];
  readonly fio: readonly FioRecord[];
  readonly raft: RaftReport | null;
  readonly resync: ResyncReport | null;
  readonly scale: ScaleReport | null;
  readonly verdicts: readonly Verdict[];
  readonly errors: readonly { section: string; message: string }[];
}

type Metric = { label: string; pick: (sample: FioSample) => number; higherIsBetter: boolean };

/** The figures shown for each kind of workload. */
export function metricsOf(workload: Workload): Metric[] {
  switch (workload.measure) {
    case "latency":
      return [
        { label: "p50 µs", pick: (s) => s.p50Us, higherIsBetter: false },
        { label: "p99 µs", pick: (s) => s.p99Us, higherIsBetter: false },
        { label: "kIOPS", pick: (s) => s.iops / 1000, higherIsBetter: true },
      ];
    case "iops":
      return [{ label: "kIOPS", pick: (s) => s.iops / 1000, higherIsBetter: true }];
    case "bandwidth":
      return [{ label: "MB/s", pick: (s) => s.mbPerSecond, higherIsBetter: true }];
    case "sync":
      return [
        { label: "writes/s", pick: (s) => s.iops, higherIsBetter: true },
        { label: "sync p50 µs", pick: (s) => s.syncP50Us, higherIsBetter: false },
      ];
  }
}

function samplesOf(results: Pick<BenchResults, "fio">, target: string, workload: string) {
  return results.fio.filter((r) => r.target === target && r.workload === workload);
}

/** Median of `target`'s metric for `workload` (NaN when it did not run). */
export function medianOf(
  results: Pick<BenchResults, "fio">,
  target: string,
  workload: string,
  pick: (sample: FioSample) => number,
): number {
  return median(samplesOf(results, target, workload).map(pick));
}

/** Median over repeats of `target`'s metric divided by `base`'s in the same repeat. */
export function ratioOf(
  results: Pick<BenchResults, "fio">,
  target: string,
  base: string,
  workload: string,
  pick: (sample: FioSample) => number,
): number {
  const bases = new Map(samplesOf(results, base, workload).map((r) => [r.repeat, pick(r)]));
  const ratios = samplesOf(results, target, workload).flatMap((r) => {
    const denominator = bases.get(r.repeat);
    return denominator === undefined || denominator === 0 ? [] : [pick(r) / denominator];
  });
  return median(ratios);
}

interface FioRule {
  readonly issue: string;
  readonly target: string;
  readonly base: string;
  readonly workload: string;
  readonly metric: "p50" | "iops" | "mbps";
  readonly bound: number;
  readonly atMost: boolean;
  /** The C reference layouts whose ratio is this rule's yardstick. */
  readonly analogue?: { readonly target: string; readonly base: string };
}

const FIO_RULES: readonly FioRule[] = [
  ...["seq-read-1m-qd16", "seq-write-1m-qd16"].map((workload) => ({
    issue: "1 MiB sequential ≥ 0.85× C",
    target: "ukai-1",
    base: "c-ref",
    workload,
    metric: "mbps" as const,
    bound: 0.85,
    atMost: false,
  })),
  ...["rand-read-4k-qd16", "rand-write-4k-qd16"].map((workload) => ({
    issue: "4 KiB random IOPS at depth 16 ≥ 0.6× C",
    target: "ukai-1",
    base: "c-ref",
    workload,
    metric: "iops" as const,
    bound: 0.6,
    atMost: false,
  })),
  ...["rand-read-4k-qd1", "rand-write-4k-qd1"].map((workload) => ({
    issue: "4 KiB depth-1 latency ≤ 1.5× C",
    target: "ukai-1",
    base: "c-ref",
    workload,
    metric: "p50" as const,
    bound: 1.5,
    atMost: true,
  })),
  ...["seq-write-1m-qd16", "rand-write-4k-qd16"].map((workload) => ({
    issue: "two-location write throughput ≥ 0.6× one location",
    target: "ukai-2",
    base: "ukai-1",
    workload,
    metric: workload.startsWith("seq") ? "mbps" as const : "iops" as const,
    bound: 0.6,
    atMost: false,
    analogue: { target: "c-ref-2", base: "c-ref" },
  })),
  {
    issue: "remote-only 1 MiB reads ≥ 0.5× local",
    target: "ukai-remote",
    base: "ukai-1",
    workload: "seq-read-1m-qd16",
    metric: "mbps",
    bound: 0.5,
    atMost: false,
    analogue: { target: "c-ref-remote", base: "c-ref" },
  },
];

const PICK = {
  p50: (s: FioSample) => s.p50Us,
  iops: (s: FioSample) => s.iops,
  mbps: (s: FioSample) => s.mbPerSecond,
};

function judge(value: number, bound: number, atMost: boolean): boolean | null {
  if (!Number.isFinite(value)) return null;
  return atMost ? value <= bound : value >= bound;
}

/** Every verdict the issues ask for (pass null: not measured in this run). */
export function verdicts(
  results: Pick<BenchResults, "fio" | "raft" | "resync">,
): Verdict[] {
  const rounded = (value: number) => Number.isFinite(value) ? round(value, 3) : null;
  const out: Verdict[] = FIO_RULES.map((rule) => {
    const ratio = (target: string, base: string) =>
      ratioOf(results, target, base, rule.workload, PICK[rule.metric]);
    const value = ratio(rule.target, rule.base);
    return {
      issue: rule.issue,
      subject: `${rule.target} / ${rule.base}, ${rule.workload} (${rule.metric})`,
      rule: `${rule.atMost ? "≤" : "≥"} ${rule.bound}`,
      value: rounded(value),
      pass: judge(value, rule.bound, rule.atMost),
      ...(rule.analogue === undefined
        ? {}
        : { analogue: rounded(ratio(rule.analogue.target, rule.analogue.base)) }),
    };
  });
  for (const sample of results.resync?.sizes ?? []) {
    out.push({
      issue: "resync ≥ 0.7× a plain copy",
      subject: `resync of ${sample.sizeBytes / 2 ** 20} MiB / cp -r + sync`,
      rule: "≥ 0.7",
      value: sample.ratio,
      pass: judge(sample.ratio, 0.7, false),
    });
  }
  for (const cap of results.resync?.caps ?? []) {
    out.push({
      issue: "rate cap held within 10%",
      subject: `${cap.kind} cap ${cap.capBytesPerSecond / 1e6} MB/s: deviation %`,
      rule: "|x| ≤ 10",
      value: cap.deviationPercent,
      pass: judge(Math.abs(cap.deviationPercent), 10, true),
    });
  }
  const raft = results.raft?.samples ?? [];
  const ukai = raft.filter((s) => s.system === "ukai");
  const etcd = raft.filter((s) => s.system === "etcd");
  if (ukai.length > 0 && etcd.length > 0) {
    const latency = median(ukai.map((s) => s.latency.p50Ms)) /
      median(etcd.map((s) => s.latency.p50Ms));
    const throughput = median(ukai.map((s) => s.throughput.commitsPerSecond)) /
      median(etcd.map((s) => s.throughput.commitsPerSecond));
    out.push({
      issue: "Raft p50 commit latency no worse than etcd",
      subject: "ukai p50 / etcd p50",
      rule: "≤ 1",
      value: round(latency, 3),
      pass: judge(latency, 1, true),
    });
    out.push({
      issue: "Raft throughput ≥ 1× etcd",
      subject: "ukai commits/s / etcd commits/s",
      rule: "≥ 1",
      value: round(throughput, 3),
      pass: judge(throughput, 1, false),
    });
  }
  return out;
}

function cell(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "–";
}

function digitsFor(label: string): number {
  return label === "MB/s" || label === "writes/s" ? 0 : 1;
}

function passText(pass: boolean | null): string {
  return pass === null ? "not measured" : pass ? "**pass**" : "**FAIL**";
}

/** The Markdown table of one workload. */
export function workloadTable(results: BenchResults, workload: Workload): string {
  const metrics = metricsOf(workload);
  const targets = results.targets.filter((t) => samplesOf(results, t.id, workload.id).length > 0);
  const header = ["target", ...metrics.flatMap((m) => [m.label, "× C", "× Gluster"]), "verdict"];
  const rows = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`];
  for (const target of targets) {
    const cells = metrics.flatMap((metric) => [
      cell(medianOf(results, target.id, workload.id, metric.pick), digitsFor(metric.label)),
      cell(ratioOf(results, target.id, "c-ref", workload.id, metric.pick), 2),
      cell(ratioOf(results, target.id, "gluster", workload.id, metric.pick), 2),
    ]);
    const judged = results.verdicts.filter((v) =>
      v.subject.startsWith(`${target.id} /`) && v.subject.includes(`, ${workload.id} (`)
    );
    const verdict = judged.map((v) =>
      `${v.rule} ${v.subject.split(",")[0]!.split("/ ")[1]}: ${v.value ?? "–"} ${passText(v.pass)}`
    )
      .join("; ");
    rows.push(`| ${target.id} | ${cells.join(" | ")} | ${verdict} |`);
  }
  return rows.join("\n");
}

function raftSection(raft: RaftReport): string[] {
  const lines = ["## Raft commits (3 nodes, fsync on)", ""];
  lines.push(`- ukai: ${raft.operation.ukai}`, `- etcd: ${raft.operation.etcd}`);
  if (raft.etcdVersion) lines.push(`- ${raft.etcdVersion}`);
  lines.push(
    "",
    "| system | p50 ms | p99 ms | commits/s | proposers | repeats |",
    "|---|---|---|---|---|---|",
  );
  for (const system of ["ukai", "etcd"] as const) {
    const samples = raft.samples.filter((s) => s.system === system);
    if (samples.length === 0) continue;
    lines.push(
      `| ${system} | ${median(samples.map((s) => s.latency.p50Ms)).toFixed(2)} | ${
        median(samples.map((s) => s.latency.p99Ms)).toFixed(2)
      } | ${median(samples.map((s) => s.throughput.commitsPerSecond)).toFixed(0)} | ${
        samples[0]!.throughput.proposers
      } | ${samples.length} |`,
    );
  }
  return lines;
}

function cacheNote(coldCache: boolean | undefined): string {
  if (coldCache === true) {
    return "Page cache: emptied (sync, drop_caches) before the plain copy and before the resync, " +
      "so both read the source from disk.";
  }
  if (coldCache === false) {
    return "Page cache: the kernel refused drop_caches; each copy found whatever the one before " +
      "left cached.";
  }
  return "Page cache: not emptied (this run predates that): the plain copy ran first, with the " +
    "source still cached from the fill.";
}

function resyncSection(resync: ResyncReport): string[] {
  const lines = [
    `## Resync (2 nodes, ${resync.blockSize / 2 ** 20} MiB blocks) against a plain copy`,
    "",
    "| size | ukai s | ukai MB/s | first block s | steady MB/s | cp -r + sync s | plain MB/s | ukai / plain |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const s of resync.sizes) {
    const cells = [
      formatBytes(s.sizeBytes),
      s.ukaiSeconds,
      s.ukaiMBps,
      s.firstBlockSeconds,
      s.steadyMBps,
      s.plainSeconds,
      s.plainMBps,
      s.ratio.toFixed(2),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  lines.push("", cacheNote(resync.coldCache));
  lines.push(
    "",
    "Rate caps: the steady rate runs from 1 s after the first block in sync (the token bucket " +
      "allows a 1 s burst); the overall rate includes start-up.",
    "",
    "| rate cap | cap MB/s | size | seconds | overall MB/s | steady MB/s | deviation (steady) |",
    "|---|---|---|---|---|---|---|",
  );
  for (const c of resync.caps) {
    const cells = [
      c.kind === "image" ? "per image (sync --rate)" : "per node (--resync-rate)",
      (c.capBytesPerSecond / 1e6).toFixed(1),
      formatBytes(c.sizeBytes),
      c.seconds,
      (c.overallBytesPerSecond / 1e6).toFixed(1),
      (c.measuredBytesPerSecond / 1e6).toFixed(1),
      `${c.deviationPercent}%`,
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines;
}

function scaleSection(scale: ScaleReport): string[] {
  const operations = [...new Set(scale.metadata.flatMap((m) => Object.keys(m.milliseconds)))];
  const lines = [
    `## Scale: metadata operations against image size (${
      scale.metadataBlockSize / 2 ** 20
    } MiB blocks, ms, committed)`,
    "",
    `| image | blocks | ${operations.join(" | ")} |`,
    `|---|---|${operations.map(() => "---").join("|")}|`,
  ];
  for (const m of scale.metadata) {
    lines.push(
      `| ${formatBytes(m.sizeBytes)} | ${m.blocks} | ${
        operations.map((o) => m.milliseconds[o] ?? "–").join(" | ")
      } |`,
    );
  }
  lines.push(
    "",
    "## Scale: cluster size (image with one copy per node, written through n1)",
    "",
    "| nodes | form s | commit p50 ms | commit p99 ms | commits/s | 1 MiB write MB/s | 4 KiB write p50 µs |",
    "|---|---|---|---|---|---|---|",
  );
  for (const n of scale.nodes) {
    lines.push(
      `| ${n.nodes} | ${n.formSeconds} | ${n.commitP50Ms} | ${n.commitP99Ms} | ${n.commitsPerSecond} | ${n.seqWriteMBps} | ${n.randWriteP50Us} |`,
    );
  }
  return lines;
}

/** `1 GiB`, `64 MiB`, `1 TiB`. */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [["TiB", 2 ** 40], ["GiB", 2 ** 30], ["MiB", 2 ** 20]] as const) {
    if (bytes >= size) return `${round(bytes / size, 1)} ${unit}`;
  }
  return `${bytes} B`;
}

/** What every reader of the figures should know, printed under the machine line. */
const READING_NOTES = [
  "Reading these figures:",
  '- Every node and peer runs on this one machine: a "remote" copy shares the same CPUs and disk, so ' +
  "replication costs CPU twice (owner and copy) where real hosts would split it; loopback hides network latency.",
  "- ukai images are held open read-write by the suite through n1 with one write first, as a running VM " +
  "would, so n1 owns them while fio runs (a node that merely has an image open pays a Raft ReadIndex per read).",
  "- c-ref is single-threaded and writes into the page cache (c-ref-2 and c-ref-remote add a single-threaded " +
  "C peer over loopback TCP); plain is O_DIRECT on the disk; nbdkit runs " +
  "`cache=none` (design.md §7); GlusterFS uses `group virt`. The ratio columns are medians of per-repeat ratios.",
  "- Every fio run starts after a `sync`, so no run pays for the dirty pages of the one before (the kernel " +
  "throttles writers while a backlog of them is written back).",
  "- The machine is shared with other engineers' test runs: see the load and steal figures, and prefer ratios.",
];

/** The whole Markdown report; `plots` are PNG file names beside it. */
export function renderMarkdown(results: BenchResults, plots: readonly string[]): string {
  const m = results.machine;
  const lines = [
    `# ukai benchmark ${results.date} (${results.mode})`,
    "",
    `Command: \`deno task bench ${results.arguments.join(" ")}\` — ${
      results.durationSeconds.toFixed(0)
    } s.`,
    `Machine: ${m.cpus} CPUs (${m.cpuModel}), ${
      formatBytes(Number(m.memoryBytes))
    }, kernel ${m.kernel}; ` +
    `load average ${m.loadBefore} before, ${m.loadAfter} after; CPU steal ${m.stealPercent}% ` +
    `(worst fio run ${m.worstStealPercent}%), CPU busy ${m.busyPercent}% over the run.`,
    `ukai ${JSON.stringify(results.versions.ukai)}; Deno ${results.versions.deno}.`,
    `fio: ${
      formatBytes(results.settings.sizeBytes)
    } per target, ${results.settings.runtimeSeconds} s per run ` +
    `after ${results.settings.rampSeconds} s ramp, ${results.settings.repeats} interleaved repeats, medians; ` +
    "job file bench/workloads.fio (direct=1, libaio).",
    "",
    ...READING_NOTES,
    "",
    "## Targets",
    "",
    "| id | what | fill MiB/s |",
    "|---|---|---|",
    ...results.targets.map((t) => `| ${t.id} | ${t.title} | ${t.fillMiBPerSecond} |`),
    "",
    "## Verdicts",
    "",
    "| issue target | measured | rule | value | verdict | C analogue |",
    "|---|---|---|---|---|---|",
    ...results.verdicts.map((v) =>
      `| ${v.issue} | ${v.subject} | ${v.rule} | ${v.value ?? "–"} | ${passText(v.pass)} | ${
        v.analogue ?? "–"
      } |`
    ),
    "",
    "C analogue: the same ratio between the C reference layouts (c-ref-2 or c-ref-remote / c-ref), " +
    "what this machine allows without JavaScript.",
  ];
  for (const workload of results.workloads) {
    if (!results.fio.some((r) => r.workload === workload.id)) continue;
    lines.push(
      "",
      `## ${workload.title} (\`${workload.id}\`)`,
      "",
      workloadTable(results, workload),
    );
  }
  if (results.raft) lines.push("", ...raftSection(results.raft));
  if (results.resync) lines.push("", ...resyncSection(results.resync));
  if (results.scale) lines.push("", ...scaleSection(results.scale));
  if (plots.length > 0) {
    lines.push("", "## Plots", "", ...plots.map((plot) => `![${plot}](${plot})`));
  }
  if (results.errors.length > 0) {
    lines.push("", "## Errors", "", ...results.errors.map((e) => `- ${e.section}: ${e.message}`));
  }
  return `${lines.join("\n")}\n`;
}

function fail(message: string): never {
  throw new Error(`Malformed benchmark results: ${message}`);
}

/** Checks the JSON document's shape (what a reader of the report relies on). */
export function checkResults(value: unknown): BenchResults {
  if (typeof value !== "object" || value === null) fail("not an object");
  const results = value as Record<string, unknown>;
  if (results.schema !== SCHEMA) fail(`schema is ${JSON.stringify(results.schema)}`);
  for (const key of ["date", "mode"]) {
    if (typeof results[key] !== "string") fail(`${key} is not a string`);
  }
  for (const key of ["machine", "versions", "settings"]) {
    if (typeof results[key] !== "object" || results[key] === null) fail(`${key} is missing`);
  }
  for (const key of ["targets", "fio", "verdicts", "errors", "workloads"]) {
    if (!Array.isArray(results[key])) fail(`${key} is not a list`);
  }
  const numbers = ["mbPerSecond", "iops", "p50Us", "p99Us", "stealPercent", "repeat"];
  for (const record of results.fio as Record<string, unknown>[]) {
    if (typeof record.target !== "string" || typeof record.workload !== "string") {
      fail("a fio record lacks target or workload");
    }
    for (const key of numbers) {
      if (typeof record[key] !== "number" || !Number.isFinite(record[key])) {
        fail(`fio record ${record.target}/${record.workload} has no number ${key}`);
      }
    }
  }
  const known = new Set(WORKLOADS.map((w) => w.id));
  for (const record of results.fio as { workload: string }[]) {
    if (!known.has(record.workload)) fail(`unknown workload ${record.workload}`);
  }
  for (const verdict of results.verdicts as Record<string, unknown>[]) {
    if (typeof verdict.issue !== "string" || !("pass" in verdict)) fail("a verdict is malformed");
  }
  return value as BenchResults;
}
