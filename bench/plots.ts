/**
 * PNG plots of a benchmark report, drawn with gnuplot (Debian's gnuplot-nox,
 * pngcairo): latency percentiles per target (4 KiB at depth 1), throughput
 * per target (4 KiB IOPS at depth 16, 1 MiB MB/s), and the scale curves
 * (metadata operations against image size, resync against size, Raft and
 * writes against cluster size). Data files and scripts go to a temporary
 * folder; only the PNGs land beside the report.
 *
 * @module
 */

import { run } from "./common.ts";
import { type BenchResults, medianOf } from "./report.ts";

const TERMINAL = "set terminal pngcairo size 1200,720 font 'Sans,10'";

function quote(text: string): string {
  return `"${text.replaceAll('"', "'")}"`;
}

async function draw(folder: string, name: string, data: string, script: string): Promise<void> {
  await Deno.writeTextFile(`${folder}/${name}.dat`, data);
  await Deno.writeTextFile(`${folder}/${name}.gp`, script);
  await run("gnuplot", [`${folder}/${name}.gp`]);
}

function perTarget(
  results: BenchResults,
  columns: [
    string,
    string,
    (s: { p50Us: number; p99Us: number; iops: number; mbPerSecond: number }) => number,
  ][],
): string {
  const targets = results.targets.map((t) => t.id);
  const lines = [`target ${columns.map(([label]) => quote(label)).join(" ")}`];
  for (const target of targets) {
    const values = columns.map(([, workload, pick]) => medianOf(results, target, workload, pick));
    if (values.every((v) => !Number.isFinite(v))) continue;
    lines.push(
      `${target} ${values.map((v) => (Number.isFinite(v) ? v.toFixed(2) : "NaN")).join(" ")}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

function histogram(
  output: string,
  dat: string,
  title: string,
  ylabel: string,
  columns: number,
  log: boolean,
) {
  return [
    TERMINAL,
    `set output ${quote(output)}`,
    `set title ${quote(title)}`,
    `set ylabel ${quote(ylabel)}`,
    "set style data histograms",
    "set style histogram clustered gap 1",
    "set style fill solid 0.8 border -1",
    "set key top left",
    "set grid ytics",
    "set xtics rotate by -20",
    log ? "set logscale y" : "set yrange [0:*]",
    `plot for [i=2:${columns + 1}] ${quote(dat)} using i:xtic(1) title columnheader(i)`,
    "",
  ].join("\n");
}

/**
 * Draws every plot that has data; returns the PNG file names (relative to
 * `outputFolder`), prefixed with `prefix`.
 */
export async function drawPlots(
  results: BenchResults,
  outputFolder: string,
  prefix: string,
): Promise<string[]> {
  const folder = await Deno.makeTempDir({ prefix: "ukai-bench-plots-" });
  const made: string[] = [];
  try {
    if (results.fio.length > 0) {
      const latency = perTarget(results, [
        ["read p50", "rand-read-4k-qd1", (s) => s.p50Us],
        ["read p99", "rand-read-4k-qd1", (s) => s.p99Us],
        ["write p50", "rand-write-4k-qd1", (s) => s.p50Us],
        ["write p99", "rand-write-4k-qd1", (s) => s.p99Us],
      ]);
      const png = `${prefix}-latency.png`;
      await draw(
        folder,
        "latency",
        latency,
        histogram(
          `${outputFolder}/${png}`,
          `${folder}/latency.dat`,
          "4 KiB random I/O at depth 1: latency percentiles",
          "µs (log scale)",
          4,
          true,
        ),
      );
      made.push(png);
      const iops = perTarget(results, [
        ["4 KiB read kIOPS (QD16)", "rand-read-4k-qd16", (s) => s.iops / 1000],
        ["4 KiB write kIOPS (QD16)", "rand-write-4k-qd16", (s) => s.iops / 1000],
      ]);
      const bandwidth = perTarget(results, [
        ["1 MiB read MB/s (QD16)", "seq-read-1m-qd16", (s) => s.mbPerSecond],
        ["1 MiB write MB/s (QD16)", "seq-write-1m-qd16", (s) => s.mbPerSecond],
      ]);
      await Deno.writeTextFile(`${folder}/iops.dat`, iops);
      const throughputPng = `${prefix}-throughput.png`;
      const one = (dat: string, title: string, ylabel: string) =>
        histogram("", dat, title, ylabel, 2, false).split("\n").filter((line) =>
          !line.startsWith("set terminal") && !line.startsWith("set output")
        ).join("\n");
      await draw(
        folder,
        "bandwidth",
        bandwidth,
        [
          TERMINAL,
          `set output ${quote(`${outputFolder}/${throughputPng}`)}`,
          "set multiplot layout 1,2",
          one(`${folder}/iops.dat`, "4 KiB random, depth 16", "kIOPS"),
          one(`${folder}/bandwidth.dat`, "1 MiB sequential, depth 16", "MB/s"),
          "unset multiplot",
          "",
        ].join("\n"),
      );
      made.push(throughputPng);
    }
    if (results.scale !== null || results.resync !== null) {
      made.push(await drawScale(results, folder, outputFolder, prefix));
    }
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
  return made;
}

async function drawScale(
  results: BenchResults,
  folder: string,
  outputFolder: string,
  prefix: string,
): Promise<string> {
  const png = `${prefix}-scale.png`;
  const panels: string[] = [];
  const scale = results.scale;
  if (scale !== null && scale.metadata.length > 0) {
    const operations = Object.keys(scale.metadata[0]!.milliseconds);
    const rows = scale.metadata.map((m) =>
      `${m.sizeBytes / 2 ** 30} ${operations.map((o) => m.milliseconds[o] ?? "NaN").join(" ")}`
    );
    await Deno.writeTextFile(
      `${folder}/metadata.dat`,
      `size ${operations.map(quote).join(" ")}\n${rows.join("\n")}\n`,
    );
    panels.push([
      "set title 'Metadata operations against image size'",
      "set xlabel 'image size, GiB (log)'",
      "set ylabel 'ms'",
      "set logscale x 2",
      "unset logscale y",
      "set yrange [0:*]",
      "set key top left",
      `plot for [i=2:${operations.length + 1}] ${
        quote(`${folder}/metadata.dat`)
      } using 1:i with linespoints title columnheader(i)`,
      "unset logscale x",
    ].join("\n"));
  }
  const resync = results.resync;
  if (resync !== null && resync.sizes.length > 0) {
    const rows = resync.sizes.map((s) => `${s.sizeBytes / 2 ** 30} ${s.ukaiMBps} ${s.plainMBps}`);
    await Deno.writeTextFile(
      `${folder}/resync.dat`,
      `size "ukai resync" "cp -r + sync"\n${rows.join("\n")}\n`,
    );
    panels.push([
      "set title 'Resync throughput against image size'",
      "set xlabel 'image size, GiB (log)'",
      "set ylabel 'MB/s'",
      "set logscale x 2",
      "set yrange [0:*]",
      "set key bottom right",
      `plot for [i=2:3] ${
        quote(`${folder}/resync.dat`)
      } using 1:i with linespoints title columnheader(i)`,
      "unset logscale x",
    ].join("\n"));
  }
  if (scale !== null && scale.nodes.length > 0) {
    const rows = scale.nodes.map((n) =>
      `${n.nodes} ${n.commitsPerSecond} ${n.seqWriteMBps} ${n.commitP50Ms}`
    );
    await Deno.writeTextFile(
      `${folder}/nodes.dat`,
      `nodes "commits/s" "1 MiB write MB/s" "commit p50 ms"\n${rows.join("\n")}\n`,
    );
    panels.push([
      "set title 'Against cluster size (one copy per node)'",
      "set xlabel 'nodes'",
      "set ylabel 'commits/s, MB/s'",
      "set y2label 'commit p50 ms'",
      "set y2tics",
      "set yrange [0:*]",
      "set y2range [0:*]",
      "set xtics 1",
      "set key top right",
      `plot ${quote(`${folder}/nodes.dat`)} using 1:2 with linespoints title columnheader(2), ` +
      `'' using 1:3 with linespoints title columnheader(3), '' using 1:4 axes x1y2 with linespoints title columnheader(4)`,
    ].join("\n"));
  }
  await draw(
    folder,
    "scale",
    "",
    [
      TERMINAL,
      `set output ${quote(`${outputFolder}/${png}`)}`,
      "set grid",
      `set multiplot layout 1,${Math.max(1, panels.length)}`,
      ...panels,
      "unset multiplot",
      "",
    ].join("\n"),
  );
  return png;
}
