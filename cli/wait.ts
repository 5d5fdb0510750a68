/**
 * `--wait` for sync, move and location add: polls the image until the copies
 * concerned are in sync (or the move is done), showing progress. Ctrl-C stops
 * waiting only: the operation goes on in the cluster, and the message says
 * how to watch it.
 *
 * @module
 */

import { parseBlockRange } from "../base/units.ts";
import type { ControlClient } from "../control/client.ts";
import type { ImageView } from "../meta/mod.ts";
import type { CliEnvironment } from "./context.ts";
import { printJson } from "./output.ts";
import { Progress } from "./progress.ts";

/** What to wait for. */
export type WaitTarget =
  | { readonly kind: "sync"; readonly range?: string; readonly node?: string }
  | { readonly kind: "move" };

/** How often the image is polled. */
export const POLL_INTERVAL_MS = 500;

/** Out-of-sync block copies that `target` waits for, in `view`. */
export function remaining(view: ImageView, target: WaitTarget): number {
  const range = target.kind === "sync" && target.range !== undefined
    ? parseBlockRange(target.range, view.blockCount)
    : { start: 0, end: view.blockCount };
  let count = 0;
  for (const location of view.locations) {
    if (target.kind === "sync" && target.node !== undefined && location.node !== target.node) {
      continue;
    }
    if (target.kind === "move" && location.node !== view.move?.to) continue;
    for (const run of location.ranges) {
      if (run.state !== "outOfSync") continue;
      count += Math.max(0, Math.min(run.end, range.end) - Math.max(run.start, range.start));
    }
  }
  return count;
}

function finished(view: ImageView, target: WaitTarget): boolean {
  return target.kind === "move" ? view.move === null : remaining(view, target) === 0;
}

/** Waits for `target` on image `name`, with progress; resolves when done or interrupted. */
export async function waitFor(
  environment: CliEnvironment,
  client: ControlClient,
  name: string,
  target: WaitTarget,
  json: boolean,
): Promise<void> {
  const { terminal } = environment;
  const path = `/v1/images/${encodeURIComponent(name)}`;
  let interrupted = false;
  const onInterrupt = () => (interrupted = true);
  Deno.addSignalListener("SIGINT", onInterrupt);
  const progress = new Progress(terminal, `${target.kind} ${name}`);
  try {
    let view = await client.call<ImageView>("GET", path);
    const total = Math.max(remaining(view, target), 1);
    while (!finished(view, target)) {
      if (!json) {
        progress.update(total - Math.min(total, remaining(view, target)), total, view.blockSize);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
      if (interrupted) {
        progress.finish(
          `stopped waiting; the ${target.kind} goes on in the cluster. Watch it with: ukai image info ${name} (or ukai status)`,
        );
        return;
      }
      view = await client.call<ImageView>("GET", path);
    }
    if (json) {
      return printJson(terminal, { name, done: true, outOfSyncBlocks: view.outOfSyncBlocks });
    }
    progress.update(total, total, view.blockSize);
    progress.finish(target.kind === "move" ? `${name} moved` : `${name} in sync`);
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}
