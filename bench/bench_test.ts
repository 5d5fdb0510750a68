/**
 * Tests of the benchmark suite: the fio parser, ratios and verdicts, the
 * command line, and one real `--quick` run against ukai and the C reference
 * layouts alone (no peers) whose JSON and Markdown reports must be well formed and
 * which must leave nothing mounted. The real run needs root, /dev/fuse, fio
 * and gcc; it is skipped (ignored) without them.
 */

import assert from "node:assert/strict";
import { parseFio, WORKLOADS } from "./fio.ts";
import { checkResults, ratioOf, renderMarkdown, SCHEMA, verdicts } from "./report.ts";
import type { BenchResults, FioRecord } from "./report.ts";
import { parseOptions } from "./run.ts";

const fioOutput = JSON.stringify({
  "fio version": "fio-3.33",
  jobs: [{
    jobname: "rand-write-4k-fdatasync",
    error: 0,
    read: { "bw_bytes": 0, iops: 0 },
    write: {
      "bw_bytes": 4_096_000,
      iops: 1000,
      "lat_ns": { percentile: { "50.000000": 20_000, "99.000000": 90_000, "99.900000": 150_000 } },
    },
    sync: { "lat_ns": { percentile: { "50.000000": 700_000, "99.000000": 1_500_000 } } },
  }],
});

Deno.test("parseFio() reads bandwidth, IOPS and latency percentiles, skipping warnings", () => {
  const workload = WORKLOADS.find((w) => w.id === "rand-write-4k-fdatasync")!;
  const sample = parseFio(`fio: a warning\n${fioOutput}`, workload);
  assert.equal(sample.mbPerSecond, 4.1);
  assert.equal(sample.iops, 1000);
  assert.equal(sample.p50Us, 20);
  assert.equal(sample.p99Us, 90);
  assert.equal(sample.syncP50Us, 700);
  assert.equal(sample.errors, 0);
  assert.throws(() => parseFio("no json here", workload), /no JSON/);
});

function record(target: string, workload: string, repeat: number, value: number): FioRecord {
  return {
    target,
    workload,
    repeat,
    mbPerSecond: value,
    iops: value * 10,
    p50Us: value,
    p99Us: value * 2,
    p999Us: value * 3,
    syncP50Us: 0,
    syncP99Us: 0,
    errors: 0,
    stealPercent: 0,
    busyPercent: 50,
    loadAverage: 1,
  };
}

function syntheticResults(fio: FioRecord[]): BenchResults {
  const partial = { fio, raft: null, resync: null };
  return {
    schema: SCHEMA,
    date: "2026-01-01T00:00:00.000Z",
    mode: "quick",
    arguments: ["--quick"],
    durationSeconds: 1,
    machine: { cpus: 2, cpuModel: "test", memoryBytes: 2 ** 30, kernel: "6" },
    versions: { deno: "2", ukai: { commit: "abc" } },
    settings: {
      sizeBytes: 2 ** 20,
      runtimeSeconds: 1,
      rampSeconds: 0,
      repeats: 2,
      targets: ["c-ref", "ukai-1"],
      sections: ["fio"],
    },
    targets: [
      { id: "c-ref", title: "C", fillMiBPerSecond: 1 },
      { id: "ukai-1", title: "ukai", fillMiBPerSecond: 1 },
    ],
    targetDetails: {},
    workloads: WORKLOADS,
    fio,
    raft: null,
    resync: null,
    scale: null,
    verdicts: verdicts(partial),
    errors: [],
  };
}

Deno.test("ratioOf() is the median of per-repeat ratios, and verdicts judge them", () => {
  const fio = [
    record("c-ref", "seq-read-1m-qd16", 1, 1000),
    record("ukai-1", "seq-read-1m-qd16", 1, 900),
    record("c-ref", "seq-read-1m-qd16", 2, 2000),
    record("ukai-1", "seq-read-1m-qd16", 2, 1000),
    record("c-ref", "rand-read-4k-qd1", 1, 20),
    record("ukai-1", "rand-read-4k-qd1", 1, 40),
  ];
  const results = syntheticResults(fio);
  assert.equal(ratioOf(results, "ukai-1", "c-ref", "seq-read-1m-qd16", (s) => s.mbPerSecond), 0.7);
  const byWorkload = (id: string) => results.verdicts.find((v) => v.subject.includes(`, ${id} (`))!;
  assert.equal(byWorkload("seq-read-1m-qd16").pass, false);
  assert.equal(byWorkload("rand-read-4k-qd1").value, 2);
  assert.equal(byWorkload("rand-read-4k-qd1").pass, false);
  assert.equal(byWorkload("seq-write-1m-qd16").pass, null, "not measured");
  checkResults(JSON.parse(JSON.stringify(results)));
  const markdown = renderMarkdown(results, []);
  assert.match(markdown, /## 1 MiB sequential read, depth 16/);
  assert.match(markdown, /\| ukai-1 \| 950 \| 0\.70 \| – \|/);
  assert.match(markdown, /## Verdicts/);
});

Deno.test("verdicts carry the C analogue of a replication rule, and only of those", () => {
  const fio = [
    record("c-ref", "seq-write-1m-qd16", 1, 2000),
    record("c-ref-2", "seq-write-1m-qd16", 1, 1500),
    record("ukai-1", "seq-write-1m-qd16", 1, 1000),
    record("ukai-2", "seq-write-1m-qd16", 1, 400),
  ];
  const results = syntheticResults(fio);
  const find = (prefix: string, workload: string) =>
    results.verdicts.find((v) => v.subject.startsWith(prefix) && v.subject.includes(workload))!;
  const twoCopies = find("ukai-2 / ukai-1", "seq-write-1m-qd16");
  assert.equal(twoCopies.value, 0.4);
  assert.equal(twoCopies.pass, false);
  assert.equal(twoCopies.analogue, 0.75, "c-ref-2 / c-ref");
  assert.equal(find("ukai-remote / ukai-1", "seq-read-1m-qd16").analogue, null, "not measured");
  assert.ok(!("analogue" in find("ukai-1 / c-ref", "seq-write-1m-qd16")), "no C analogue");
  checkResults(JSON.parse(JSON.stringify(results)));
  assert.match(
    renderMarkdown(results, []),
    /\| ukai-2 \/ ukai-1, seq-write-1m-qd16 \(mbps\) \| ≥ 0\.6 \| 0\.4 \| \*\*FAIL\*\* \| 0\.75 \|/,
  );
});

Deno.test("checkResults() refuses documents without the schema or with broken records", () => {
  assert.throws(() => checkResults({ schema: "other" }), /schema/);
  const results = syntheticResults([record("c-ref", "seq-read-1m-qd16", 1, 1)]);
  const broken = JSON.parse(JSON.stringify(results));
  broken.fio[0].iops = "fast";
  assert.throws(() => checkResults(broken), /iops/);
});

Deno.test("parseOptions() knows quick defaults, --no-peers and refuses unknown input", () => {
  const quick = parseOptions(["--quick", "--no-peers"]);
  assert.equal(quick.repeats, 1);
  assert.ok(!quick.targets.includes("gluster") && !quick.targets.includes("nbd"));
  assert.ok(quick.targets.includes("ukai-remote"));
  assert.deepEqual(parseOptions(["--targets=ukai-1,c-ref"]).targets, ["ukai-1", "c-ref"]);
  assert.throws(() => parseOptions(["--targets=zfs"]), /Unknown targets "zfs"/);
  assert.throws(() => parseOptions(["--fast"]), /Unknown option/);
  assert.throws(() => parseOptions(["--repeats=0"]), /positive/);
});

async function has(command: string): Promise<boolean> {
  const result = await new Deno.Command("sh", { args: ["-c", `command -v ${command}`] }).output();
  return result.success;
}

const canRun = Deno.uid() === 0 && (await Deno.stat("/dev/fuse").then(() => true, () => false)) &&
  (await has("fio")) && (await has("gcc"));

Deno.test({
  name:
    "run --quick against ukai and the C reference writes well-formed reports and leaves nothing mounted",
  ignore: !canRun,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "ukai-bench-test-" });
    try {
      const plots = await has("gnuplot");
      const args = [
        "run",
        "--allow-all",
        new URL("./run.ts", import.meta.url).pathname,
        "--quick",
        "--no-peers",
        "--targets=c-ref,c-ref-2,c-ref-remote,ukai-1,ukai-2",
        "--size-mib=64",
        `--out=${out}`,
        ...(plots ? [] : ["--no-plots"]),
      ];
      const run = await new Deno.Command(Deno.execPath(), {
        args,
        stdout: "piped",
        stderr: "piped",
      })
        .output();
      const log = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
      assert.equal(run.code, 0, log.slice(-3000));
      const files = [...Deno.readDirSync(out)].map((entry) => entry.name).sort();
      const json = files.find((name) => name.endsWith(".json"));
      const markdown = files.find((name) => name.endsWith(".md"));
      assert.ok(json !== undefined && markdown !== undefined, `report files: ${files}`);
      const results = checkResults(JSON.parse(await Deno.readTextFile(`${out}/${json}`)));
      assert.deepEqual(results.errors, [], "no section failed");
      assert.equal(results.mode, "quick");
      for (const target of ["c-ref", "c-ref-2", "c-ref-remote", "ukai-1", "ukai-2"]) {
        for (const workload of WORKLOADS) {
          assert.ok(
            results.fio.some((r) => r.target === target && r.workload === workload.id),
            `${target} ran ${workload.id}`,
          );
        }
      }
      assert.ok(results.raft !== null && results.raft.samples.length > 0, "Raft figures");
      assert.ok(results.raft.samples.every((s) => s.system === "ukai"), "no etcd without peers");
      assert.ok(results.resync !== null && results.resync.sizes.length === 2, "resync sizes");
      assert.equal(results.resync.caps.length, 2, "both rate caps");
      assert.equal(results.resync.coldCache, true, "both copies started from an empty cache");
      assert.ok(results.scale !== null && results.scale.nodes.length === 2, "node counts");
      assert.ok(results.verdicts.some((v) => v.pass !== null), "some verdicts judged");
      assert.ok(
        results.verdicts.some((v) => typeof v.analogue === "number"),
        "the C analogue of the two-copy rules",
      );
      const text = await Deno.readTextFile(`${out}/${markdown}`);
      for (
        const heading of [
          "## Verdicts",
          "## 4 KiB random read, depth 1",
          "## Raft commits",
          "## Resync",
          "## Scale",
        ]
      ) {
        assert.ok(text.includes(heading), `the Markdown has "${heading}"`);
      }
      assert.match(text, /\| ukai-1 \| [0-9.]+ \| [0-9.]+ \|/, "a table row for ukai-1");
      assert.ok(text.includes("Page cache: emptied"), "the resync table says how the cache was");
      if (plots) assert.ok(files.some((name) => name.endsWith("-latency.png")), "latency plot");
      const mounts = await Deno.readTextFile("/proc/mounts");
      assert.ok(!mounts.includes("ukai-bench-"), "nothing left mounted");
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
