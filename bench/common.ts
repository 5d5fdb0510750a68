/**
 * Helpers shared by the benchmark suite (`deno task bench`): running
 * commands and long-lived child processes with their output in a log file,
 * a cleanup stack that stops everything the suite started (also on failure
 * and Ctrl-C), CPU steal and load from /proc, medians and percentiles, and
 * polling. Nothing here knows about a particular target.
 *
 * @module
 */

import { terminate } from "../base/child_process.ts";

/** Sizes. */
const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

const decoder = new TextDecoder();

/** Thrown once the run was interrupted (Ctrl-C, SIGTERM): stop at the next step. */
export class Interrupted extends Error {
  constructor() {
    super("Interrupted");
  }
}

/**
 * Everything the run must undo, newest first: processes to stop, mounts to
 * unmount, files to remove. `abort()` kills the foreground commands at once.
 */
export class Cleanup {
  readonly #steps: { what: string; undo: () => Promise<void> | void }[] = [];
  readonly #running = new Set<Deno.ChildProcess>();
  #aborted = false;

  /** Whether the run was interrupted. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** Throws {@link Interrupted} once the run was interrupted. */
  check(): void {
    if (this.#aborted) throw new Interrupted();
  }

  /** Registers `undo`; returns a function that runs it now (once) and forgets it. */
  defer(what: string, undo: () => Promise<void> | void): () => Promise<void> {
    const step = { what, undo };
    this.#steps.push(step);
    return async () => {
      const index = this.#steps.indexOf(step);
      if (index < 0) return;
      this.#steps.splice(index, 1);
      await step.undo();
    };
  }

  /** Interrupts: kills the commands in the foreground; `runAll` does the rest. */
  abort(): void {
    this.#aborted = true;
    for (const child of this.#running) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  }

  /** Tracks a short-lived command so that {@link abort} can kill it. */
  track(child: Deno.ChildProcess): () => void {
    this.#running.add(child);
    return () => this.#running.delete(child);
  }

  /** Undoes every step, newest first; a failing step is reported and the rest still run. */
  async runAll(): Promise<void> {
    while (this.#steps.length > 0) {
      const step = this.#steps.pop()!;
      try {
        await step.undo();
      } catch (error) {
        console.error(`cleanup: ${step.what} failed: ${String(error)}`);
      }
    }
  }
}

/** What a finished command printed. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `command args…` to completion and returns its output; throws when it
 * fails (unless `allowFailure`), with the end of its stderr.
 */
export async function run(
  command: string,
  args: readonly string[],
  options: {
    cleanup?: Cleanup;
    env?: Record<string, string>;
    allowFailure?: boolean;
    cwd?: string;
  } = {},
): Promise<CommandResult> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command, {
      args: [...args],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`Cannot run "${command}": not found`);
    }
    throw error;
  }
  const untrack = options.cleanup?.track(child) ?? (() => undefined);
  const output = await child.output().finally(untrack);
  const result = {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
  options.cleanup?.check();
  if (result.code !== 0 && !options.allowFailure) {
    throw new Error(
      `"${command} ${args.join(" ")}" failed (exit ${result.code}): ${result.stderr.slice(-1500)}`,
    );
  }
  return result;
}

/** A long-lived child process whose stdout and stderr go to a log file. */
export interface Daemon {
  readonly name: string;
  readonly process: Deno.ChildProcess;
  readonly log: string;
  /** SIGTERM, then SIGKILL after `graceMs`; waits for the exit. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `command args…` with its output in `log` (through `sh -c exec`, so
 * the pid is the command's own) and registers its stop with `cleanup`.
 */
export function startDaemon(
  cleanup: Cleanup,
  name: string,
  command: string,
  args: readonly string[],
  log: string,
  env?: Record<string, string>,
): Daemon {
  const process = new Deno.Command("sh", {
    args: ["-c", 'log="$1"; shift; exec "$@" >>"$log" 2>&1', "sh", log, command, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "null",
    ...(env === undefined ? {} : { env }),
  }).spawn();
  const stop = (graceMs = 5000) => terminate(process, graceMs);
  const forget = cleanup.defer(`stop ${name}`, () => stop());
  return {
    name,
    process,
    log,
    stop: async (graceMs?: number) => {
      await stop(graceMs);
      await forget();
    },
  };
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until `done` holds (errors count as not done); throws after `timeoutMs`. */
export async function until<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
  options: { timeoutMs?: number; intervalMs?: number; cleanup?: Cleanup } = {},
): Promise<T> {
  const deadline = performance.now() + (options.timeoutMs ?? 60_000);
  let last: unknown = undefined;
  for (;;) {
    options.cleanup?.check();
    try {
      const value = await probe();
      if (done(value)) return value;
      last = value;
    } catch (error) {
      last = error instanceof Error ? error.message : error;
    }
    if (performance.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}: ${JSON.stringify(last)?.slice(0, 300)}`);
    }
    await sleep(options.intervalMs ?? 100);
  }
}

/** Cumulative CPU ticks from /proc/stat. */
export interface CpuTicks {
  readonly steal: number;
  readonly idle: number;
  readonly total: number;
}

/** Reads the aggregate CPU line of /proc/stat. */
export function cpuTicks(): CpuTicks {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0] ?? "";
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.slice(0, 8).reduce((sum, ticks) => sum + ticks, 0);
  return { steal: fields[7] ?? 0, idle: (fields[3] ?? 0) + (fields[4] ?? 0), total };
}

/** CPU steal and busy share (percent of all CPU time) between two readings. */
export function cpuBetween(before: CpuTicks, after: CpuTicks): { steal: number; busy: number } {
  const total = after.total - before.total;
  if (total <= 0) return { steal: 0, busy: 0 };
  return {
    steal: (100 * (after.steal - before.steal)) / total,
    busy: (100 * (total - (after.idle - before.idle))) / total,
  };
}

/** The 1-minute load average. */
export function loadAverage(): number {
  return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
}

/** The median of `values` (NaN when empty). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The `p`-th percentile (0-100, nearest rank) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Rounds to `digits` decimals (keeps JSON readable). */
export function round(value: number, digits = 3): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Mount points (from /proc/mounts) under `folder`. */
export async function mountsUnder(folder: string): Promise<string[]> {
  const table = await Deno.readTextFile("/proc/mounts");
  return table.split("\n").map((line) => (line.split(" ")[1] ?? "").replace(/\\040/g, " "))
    .filter((point) => point === folder || point.startsWith(`${folder}/`));
}

/** Unmounts a FUSE mount (lazily when busy); quiet when it is not mounted. */
export async function unmount(point: string): Promise<void> {
  if ((await mountsUnder(point)).length === 0) return;
  const normal = await run("fusermount3", ["-u", point], { allowFailure: true });
  if (normal.code !== 0) await run("fusermount3", ["-u", "-z", point], { allowFailure: true });
  if ((await mountsUnder(point)).length > 0) {
    await run("umount", ["-l", point], { allowFailure: true });
  }
}

/** Logs one progress line with the time of day. */
export function note(message: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}
