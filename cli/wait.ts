/**
 * Waiting for sync, move and location add: polls the image until the copies
 * concerned are in sync (or the move is done), showing progress. Ctrl-C and
 * `--timeout` stop the waiting only: the operation goes on in the cluster,
 * and the message (on stderr) says how to watch it. Exit codes: 0 done,
 * 130 interrupted, 1 timed out.
 *
 * @module
 */

import { EXIT } from "../base/errors.ts";
import { parseBlockRange } from "../base/units.ts";
import type { ImageView } from "../control/api_types.ts";
import type { ControlClient } from "../control/client.ts";
import { type CliEnvironment, ExitError, imagePath } from "./context.ts";
import { duration, printJson } from "./output.ts";
import { Progress } from "./progress.ts";

/** What to wait for. */
export type WaitTarget =
  | { readonly kind: "sync"; readonly range?: string; readonly node?: string }
  | { readonly kind: "move"; readonly from: string; readonly to: string };

/** How often the image is polled. */
export const POLL_INTERVAL_MS = 500;

/** What `--json` prints when the waiting ends. */
export interface WaitResult {
  name: string;
  operation: "sync" | "move";
  done: boolean;
  outOfSyncBlocks: number;
}

/** Out-of-sync block copies that `target` waits for, in `view`. */
export function remaining(view: ImageView, target: WaitTarget): number {
  const range = target.kind === "sync" && target.range !== undefined
    ? parseBlockRange(target.range, view.blockCount)
    : { start: 0, end: view.blockCount };
  const node = target.kind === "sync" ? target.node : target.to;
  let count = 0;
  for (const location of view.locations) {
    if (node !== undefined && location.node !== node) continue;
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

/** Options of {@link waitFor}. */
export interface WaitOptions {
  readonly json: boolean;
  /** Give up waiting after this long (the operation goes on). */
  readonly timeoutMs?: number;
  readonly pollMs?: number;
}

/**
 * Waits for `target` on image `name`, with progress.
 *
 * @throws {ExitError} 130 when interrupted, 1 when `timeoutMs` passed
 */
export async function waitFor(
  environment: CliEnvironment,
  client: ControlClient,
  name: string,
  target: WaitTarget,
  options: WaitOptions,
): Promise<void> {
  const { terminal } = environment;
  const path = `${imagePath(name)}?fresh=1`;
  let wake = () => {};
  let stop: "interrupted" | "timeout" | null = null;
  const halt = (why: "interrupted" | "timeout") => () => {
    stop ??= why;
    wake();
  };
  const unlisten = environment.onInterrupt(halt("interrupted"));
  const timer = options.timeoutMs === undefined
    ? undefined
    : setTimeout(halt("timeout"), options.timeoutMs);
  const progress = new Progress(terminal, `${target.kind} ${name}`);
  try {
    let view = await client.call<ImageView>("GET", path);
    const total = Math.max(remaining(view, target), 1);
    while (!finished(view, target)) {
      const left = Math.min(total, remaining(view, target));
      if (!options.json) progress.update(total - left, total, view.blockSize);
      if (stop === null) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, options.pollMs ?? POLL_INTERVAL_MS);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      if (stop !== null) return stopped(environment, progress, view, target, stop, options);
      view = await client.call<ImageView>("GET", path);
    }
    if (options.json) return printJson(terminal, result(view, target, true));
    progress.update(total, total, view.blockSize);
    progress.finish(
      target.kind === "move"
        ? `${name} moved from ${target.from} to ${target.to}`
        : `${name} is in sync`,
    );
  } finally {
    clearTimeout(timer);
    unlisten();
  }
}

function result(view: ImageView, target: WaitTarget, done: boolean): WaitResult {
  return {
    name: view.name,
    operation: target.kind,
    done,
    outOfSyncBlocks: remaining(view, target),
  };
}

function stopped(
  environment: CliEnvironment,
  progress: Progress,
  view: ImageView,
  target: WaitTarget,
  why: "interrupted" | "timeout",
  options: WaitOptions,
): never {
  if (options.json) printJson(environment.terminal, result(view, target, false));
  const reason = why === "interrupted"
    ? "stopped waiting"
    : `gave up waiting after ${duration((options.timeoutMs ?? 0) / 1000)}`;
  progress.finish(
    `${reason}; the ${target.kind} of ${view.name} goes on in the cluster. ` +
      `Watch it with: ukai image info ${view.name}  (or: ukai status)`,
    { toErr: true },
  );
  throw new ExitError(why === "interrupted" ? EXIT.interrupted : EXIT.failed);
}
