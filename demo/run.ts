/**
 * `deno task demo [--quick]`: ukai on this machine in about a minute. Three
 * nodes on loopback — n1 and n2 in zone dc1, n3 in zone dc2 — serve an image
 * stored on n1 and n2; a "VM" writes recognisable sectors into it through
 * n1's mount and keeps writing while the image moves from n2 to n3 (dc2),
 * with `ukai status` and the progress bar on screen. Then n1 stops, n3 serves
 * the disk from its own copy, and every sector is checked. Everything it
 * started is stopped, unmounted and removed at the end, also after an error
 * or Ctrl-C (exit 130). `--quick` (for CI) uses a smaller image and a faster
 * copy. Needs root and /dev/fuse, like `ukai serve`.
 *
 * @module
 */

import type { ImageView, NodeList } from "../control/api_types.ts";
import { DemoCluster, type DemoNode } from "./cluster.ts";
import { DemoWriter, SECTOR } from "./disk.ts";

const MiB = 1024 * 1024;
const quick = Deno.args.includes("--quick");
const IMAGE_BYTES = (quick ? 16 : 64) * MiB;
const MOVE_RATE = quick ? "32M" : "8M";
const colors = Deno.stdout.isTerminal() && (Deno.env.get("NO_COLOR") ?? "") === "";
const bold = (text: string) => (colors ? `\x1b[1m${text}\x1b[0m` : text);

function say(text: string): void {
  console.log(`\n${bold(`▶ ${text}`)}`);
}

/** Prints `$ ukai ARGS` and runs it on the terminal; throws if it fails. */
async function run(cluster: DemoCluster, node: DemoNode, args: string[]): Promise<void> {
  console.log(`$ ukai ${args.join(" ")}`);
  const code = await cluster.show(node, args);
  if (code !== 0) throw new Error(`ukai ${args.join(" ")} exited with ${code}`);
}

/** Runs `ukai ARGS --json` quietly and parses the answer. */
async function ask<T>(cluster: DemoCluster, node: DemoNode, args: string[]): Promise<T> {
  const output = await cluster.ukai(node, [...args, "--json"]);
  if (output.code !== 0) throw new Error(`ukai ${args.join(" ")}: ${output.stderr.trim()}`);
  return JSON.parse(output.stdout) as T;
}

async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, what: string) {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function firstLine(path: string): Promise<string> {
  const file = await Deno.open(path);
  try {
    const bytes = new Uint8Array(SECTOR);
    const length = (await file.read(bytes)) ?? 0;
    const text = new TextDecoder().decode(bytes.subarray(0, length));
    return text.slice(0, text.indexOf("\n"));
  } finally {
    file.close();
  }
}

async function startNodes(cluster: DemoCluster): Promise<[DemoNode, DemoNode, DemoNode]> {
  say("Three nodes on loopback: n1 and n2 in zone dc1, n3 in zone dc2");
  const n1 = await cluster.start("n1", "dc1");
  console.log(`$ ukai ${cluster.serveArgs(n1).join(" ")}`);
  console.log(`  (n2 and n3 start the same way with --join ${n1.address})`);
  const n2 = await cluster.start("n2", "dc1", n1.address);
  const n3 = await cluster.start("n3", "dc2", n1.address);
  await until(
    () => ask<NodeList>(cluster, n1, ["node", "list"]),
    (list) => list.nodes.filter((node) => node.role === "voter").length === 3,
    "three voters",
  );
  await run(cluster, n1, ["status"]);
  return [n1, n2, n3];
}

async function tour(cluster: DemoCluster, useWriter: (writer: DemoWriter) => void): Promise<void> {
  const [n1, , n3] = await startNodes(cluster);

  say("An image with copies on n1 and n2 (dc1)");
  const size = `${IMAGE_BYTES / MiB}M`;
  await run(cluster, n1, [
    ...["image", "add", "demo", "--size", size, "--block-size", "1M"],
    ...["--location", "n1", "--location", "n2"],
  ]);

  say(`A VM on n1 writes its disk through n1's mount: ${n1.mount}/demo`);
  const writer = await DemoWriter.open(`${n1.mount}/demo`, IMAGE_BYTES);
  useWriter(writer);
  await writer.fill();
  console.log(`$ head -n 1 ${n1.mount}/demo\n${await firstLine(`${n1.mount}/demo`)}`);
  console.log(
    `  … and so on for ${IMAGE_BYTES / SECTOR} sectors; it keeps rewriting them from now on`,
  );
  writer.start();

  say("Move the image's copy from n2 (dc1) to n3 (dc2) while the VM writes");
  await run(cluster, n1, [
    ...["image", "move", "demo", "--from", "n2", "--to", "n3"],
    ...["--rate", MOVE_RATE, "--no-wait"],
  ]);
  await run(cluster, n1, ["status"]);
  await run(cluster, n1, ["image", "sync", "demo"]);
  await until(
    () => ask<ImageView>(cluster, n1, ["image", "info", "demo"]),
    (view) => view.move === null,
    "the move to drop n2's copy",
  );
  await writer.close();
  console.log(`  the VM wrote ${writer.writes} sectors during the move`);
  await run(cluster, n1, ["image", "info", "demo"]);
  await run(cluster, n1, ["image", "stats", "demo"]);

  say("n1 stops; n3 in dc2 serves the disk from its own copy");
  await cluster.stop(n1);
  await until(
    () => ask<ImageView>(cluster, n3, ["image", "info", "demo"]).catch(() => null),
    (view) => view !== null && view.owner === null,
    "n1 to let go of the image",
  );
  const wrong = await writer.mismatches(`${n3.mount}/demo`);
  if (wrong.length > 0) {
    throw new Error(`${wrong.length} sectors read through n3 differ, first ${wrong[0]}`);
  }
  console.log(
    `verified: all ${IMAGE_BYTES / SECTOR} sectors read through n3 hold their last write`,
  );
}

async function preflight(): Promise<string | null> {
  if (Deno.uid() !== 0) return "the demo mounts FUSE filesystems: run it as root";
  if ((await Deno.stat("/dev/fuse").catch(() => null)) === null) return "no /dev/fuse";
  return null;
}

async function main(): Promise<number> {
  const problem = await preflight();
  if (problem !== null) {
    console.error(`ukai demo: ${problem}`);
    return 1;
  }
  const cluster = await DemoCluster.create();
  console.log(`ukai demo${quick ? " (quick)" : ""}: working in ${cluster.folder}`);
  let writer: DemoWriter | null = null;
  let interrupted = false;
  let cleaning: Promise<void> | null = null;
  const cleanup = () =>
    cleaning ??= (async () => {
      await writer?.close().catch(() => undefined);
      await cluster.close();
    })();
  const onInterrupt = () => {
    interrupted = true;
    console.log("\nCtrl-C: stopping the nodes and cleaning up");
    void cleanup();
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  let failed = false;
  try {
    await tour(cluster, (opened) => (writer = opened));
  } catch (error) {
    failed = true;
    if (!interrupted) console.error(`\nukai demo failed: ${(error as Error).message}`);
  } finally {
    await cleanup();
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
  console.log(`\ncleaned up: the nodes are stopped, nothing is mounted, ${cluster.folder} is gone`);
  if (interrupted) return 130;
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
