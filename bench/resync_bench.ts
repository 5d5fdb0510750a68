/**
 * Resync throughput and rate caps (issue 4's targets), on two real ukai
 * nodes: an image filled through n1 gets a second location on n2, and the
 * time until every block is in sync gives the resync rate; the baseline is a
 * plain `cp -r` of the same block files from n1's folder into n2's, followed
 * by a sync (resync also makes each block durable). Both start with an empty
 * page cache, so both read the source from disk. Sizes run from small to
 * large, which is also the resync scale table. The caps: a per-image rate
 * (`POST /v1/images/NAME/sync {rate}`) and a node rate (`ukai serve
 * --resync-rate`, on a second cluster) must hold within 10%.
 *
 * @module
 */

import { type Cleanup, note, round, run, until } from "./common.ts";
import { fill } from "./fio.ts";
import {
  type ImageState,
  startUkaiCluster,
  type UkaiCluster,
  waitReleased,
} from "./targets/ukai_cluster.ts";
import { UKAI_BLOCK_SIZE } from "./targets/ukai.ts";

/** One size: ukai's resync against a plain copy. */
export interface ResyncSample {
  readonly sizeBytes: number;
  readonly ukaiSeconds: number;
  readonly ukaiMBps: number;
  /** Start-up latency: adding the location to the first block in sync. */
  readonly firstBlockSeconds: number;
  /** Throughput after the first second of copying. */
  readonly steadyMBps: number;
  readonly plainSeconds: number;
  readonly plainMBps: number;
  /** ukai / plain throughput. */
  readonly ratio: number;
}

/** One capped resync. */
export interface RateCapSample {
  readonly kind: "image" | "node";
  readonly capBytesPerSecond: number;
  readonly sizeBytes: number;
  readonly seconds: number;
  /** Size / seconds from adding the location (includes start-up and the 1 s burst). */
  readonly overallBytesPerSecond: number;
  /** Steady rate: from 1 s after the first block in sync to the end. */
  readonly measuredBytesPerSecond: number;
  /** (measured − cap) / cap, percent. */
  readonly deviationPercent: number;
}

/** What the resync benchmark measured. */
export interface ResyncReport {
  readonly blockSize: number;
  /**
   * Whether the page cache was emptied before each copy (both read the source
   * from disk); absent in reports made before it was.
   */
  readonly coldCache?: boolean;
  readonly sizes: ResyncSample[];
  readonly caps: RateCapSample[];
}

/** Options of the resync benchmark. */
export interface ResyncBenchOptions {
  readonly ukaiRoot: string;
  readonly sizes: readonly number[];
  readonly capSizeBytes: number;
  readonly capBytesPerSecond: number;
}

/** Whether folder `entry` of an `images/` folder belongs to image `name` (`<name>` + separator + uid). */
function isImageFolder(entry: string, name: string): boolean {
  return entry === name ||
    (entry.startsWith(name) && /^[^A-Za-z0-9]/.test(entry.slice(name.length)));
}

/** The folder holding image `name`'s block files under `data` (…/images/<name>…). */
async function imageFolder(data: string, name: string, depth = 0): Promise<string | null> {
  for await (const entry of Deno.readDir(data)) {
    if (!entry.isDirectory) continue;
    const path = `${data}/${entry.name}`;
    if (data.endsWith("/images") && isImageFolder(entry.name, name)) return path;
    const found = depth < 4 ? await imageFolder(path, name, depth + 1) : null;
    if (found !== null) return found;
  }
  return null;
}

async function image(cluster: UkaiCluster, name: string): Promise<ImageState> {
  return await cluster.processes.call<ImageState>("n1", "GET", `/v1/images/${name}`);
}

/** Creates image `name` on n1 and fills it through n1's mount; waits until nobody owns it. */
async function filledImage(cleanup: Cleanup, cluster: UkaiCluster, name: string, size: number) {
  await cluster.processes.call("n1", "POST", "/v1/images", {
    name,
    size,
    blockSize: UKAI_BLOCK_SIZE,
    locations: ["n1"],
  });
  await fill(cleanup, cluster.file("n1", name), size);
  await waitReleased(cleanup, cluster, name);
}

/** How one resync went. */
interface ResyncTiming {
  /** From adding the location to every block in sync. */
  readonly seconds: number;
  /** From adding the location to the first block in sync (start-up latency). */
  readonly firstBlockSeconds: number;
  /** Slope of the bytes in sync from 1 s after the first block to the end (excludes the burst). */
  readonly steadyBytesPerSecond: number;
}

/** Adds n2 as a location of `name` and follows the resync until every block is in sync. */
async function resync(
  cleanup: Cleanup,
  cluster: UkaiCluster,
  name: string,
  size: number,
): Promise<ResyncTiming> {
  const started = performance.now();
  await cluster.processes.call("n1", "POST", `/v1/images/${name}/locations`, { node: "n2" });
  const points: { seconds: number; blocks: number }[] = [];
  const view = await until(
    async () => {
      const view = await image(cluster, name);
      const blocks = view.locations.find((location) => location.node === "n2")?.inSyncBlocks ?? 0;
      points.push({ seconds: (performance.now() - started) / 1000, blocks });
      return view;
    },
    (view) => view.outOfSyncBlocks === 0 && view.locations.every((l) => l.outOfSyncBlocks === 0),
    `${name} in sync`,
    { cleanup, timeoutMs: Math.max(120_000, (size / 20e6) * 1000), intervalMs: 50 },
  );
  const seconds = (performance.now() - started) / 1000;
  const blockBytes = size / view.blockCount;
  const first = points.find((point) => point.blocks > 0)?.seconds ?? seconds;
  const from = points.find((point) => point.seconds >= first + 1) ?? points[0]!;
  const last = { seconds, blocks: view.blockCount };
  const steady = last.seconds - from.seconds > 0.5
    ? ((last.blocks - from.blocks) * blockBytes) / (last.seconds - from.seconds)
    : size / Math.max(0.001, seconds - first);
  return { seconds, firstBlockSeconds: first, steadyBytesPerSecond: steady };
}

/**
 * Writes back dirty pages and empties the page cache, so that the plain copy
 * and the resync both start from disk: the fill leaves the source in the
 * cache, and whichever copy ran second used to find it evicted by the first.
 * False when the kernel refused (not root, or a container without access).
 */
async function dropCaches(cleanup: Cleanup): Promise<boolean> {
  await run("sync", [], { cleanup });
  try {
    await Deno.writeTextFile("/proc/sys/vm/drop_caches", "3\n");
    return true;
  } catch {
    return false;
  }
}

async function plainCopySeconds(cleanup: Cleanup, cluster: UkaiCluster, name: string) {
  const source = await imageFolder(cluster.processes.node("n1").data, name);
  if (source === null) throw new Error(`Cannot find the block files of ${name} on n1`);
  const target = `${cluster.processes.node("n2").data}/plain-copy-${name}`;
  const started = performance.now();
  await run("sh", ["-c", 'cp -r "$1" "$2" && sync -f "$2"', "sh", source, target], { cleanup });
  const seconds = (performance.now() - started) / 1000;
  await Deno.remove(target, { recursive: true });
  return seconds;
}

async function capped(
  cleanup: Cleanup,
  cluster: UkaiCluster,
  kind: "image" | "node",
  options: ResyncBenchOptions,
): Promise<RateCapSample> {
  const name = `cap-${kind}`;
  const size = options.capSizeBytes;
  await filledImage(cleanup, cluster, name, size);
  if (kind === "image") {
    await cluster.processes.call("n1", "POST", `/v1/images/${name}/sync`, {
      rate: options.capBytesPerSecond,
    });
  }
  const timing = await resync(cleanup, cluster, name, size);
  const measured = timing.steadyBytesPerSecond;
  const cap = options.capBytesPerSecond;
  return {
    kind,
    capBytesPerSecond: cap,
    sizeBytes: size,
    seconds: round(timing.seconds, 2),
    overallBytesPerSecond: Math.round(size / timing.seconds),
    measuredBytesPerSecond: Math.round(measured),
    deviationPercent: round((100 * (measured - cap)) / cap, 1),
  };
}

/** Runs the size series and both caps. */
export async function resyncBench(
  cleanup: Cleanup,
  options: ResyncBenchOptions,
): Promise<ResyncReport> {
  const sizes: ResyncSample[] = [];
  const caps: RateCapSample[] = [];
  let coldCache = true;
  const cluster = await startUkaiCluster(cleanup, { nodes: 2, ukaiRoot: options.ukaiRoot });
  try {
    for (const size of options.sizes) {
      const name = `resync-${size}`;
      await filledImage(cleanup, cluster, name, size);
      coldCache = await dropCaches(cleanup) && coldCache;
      const plainSeconds = await plainCopySeconds(cleanup, cluster, name);
      coldCache = await dropCaches(cleanup) && coldCache;
      const timing = await resync(cleanup, cluster, name, size);
      const ukaiSeconds = timing.seconds;
      await cluster.processes.call("n1", "DELETE", `/v1/images/${name}?force=1`);
      const sample = {
        sizeBytes: size,
        ukaiSeconds: round(ukaiSeconds, 2),
        ukaiMBps: round(size / 1e6 / ukaiSeconds, 1),
        firstBlockSeconds: round(timing.firstBlockSeconds, 2),
        steadyMBps: round(timing.steadyBytesPerSecond / 1e6, 1),
        plainSeconds: round(plainSeconds, 2),
        plainMBps: round(size / 1e6 / plainSeconds, 1),
        ratio: round(plainSeconds / ukaiSeconds, 3),
      };
      sizes.push(sample);
      note(
        `resync ${
          size / 2 ** 20
        } MiB: ukai ${sample.ukaiMBps} MB/s, plain copy ${sample.plainMBps} MB/s`,
      );
    }
    caps.push(await capped(cleanup, cluster, "image", options));
  } finally {
    await cluster.close();
  }
  const nodeCapped = await startUkaiCluster(cleanup, {
    nodes: 2,
    ukaiRoot: options.ukaiRoot,
    extraArgs: ["--resync-rate", String(options.capBytesPerSecond)],
  });
  try {
    caps.push(await capped(cleanup, nodeCapped, "node", options));
  } finally {
    await nodeCapped.close();
  }
  for (const cap of caps) {
    note(
      `resync cap (${cap.kind}): ${cap.measuredBytesPerSecond} B/s for a cap of ${cap.capBytesPerSecond}`,
    );
  }
  return { blockSize: UKAI_BLOCK_SIZE, coldCache, sizes, caps };
}
