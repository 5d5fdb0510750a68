/**
 * The simulator's command line (the VOPR of ukai):
 *
 * ```
 * deno task sim --seed=N            run one seed and print its knobs and summary
 * deno task sim --seeds=A..B        run seeds A to B inclusive
 * deno task sim --seeds=N           run N seeds from a random start (printed)
 * deno task sim ... --profile=NAME  a planted-bug profile (see knobs.ts)
 * deno task sim ... --verbose       print the knobs of every seed
 * ```
 *
 * On failure it prints the failing check, the last trace lines, the knobs,
 * and `reproduce: deno task sim --seed=N`, and exits with status 1. This is
 * the only file of `sim/` that reads the environment and prints.
 *
 * @module
 */

import { describeKnobs, isProfileName, type ProfileName } from "./knobs.ts";
import { runSimulation, type SimulationResult } from "./simulator.ts";

/** Most seeds in one invocation. */
export const SEEDS_PER_INVOCATION_MAX = 1_000_000;

/** Parsed command line. */
export interface VoprArguments {
  seeds: number[];
  profile: ProfileName;
  verbose: boolean;
}

/** Parses argv; returns an error message for bad input. */
export function parseArguments(
  argv: readonly string[],
  randomStart: () => number,
): VoprArguments | string {
  let seeds: number[] | undefined;
  let profile: ProfileName = "default";
  let verbose = false;
  for (const argument of argv) {
    const [name, value = ""] = argument.split("=", 2) as [string, string | undefined];
    if (name === "--seed" && /^\d+$/.test(value)) seeds = [Number(value)];
    else if (name === "--seeds" && /^\d+\.\.\d+$/.test(value)) {
      const [low, high] = value.split("..").map(Number) as [number, number];
      if (high < low || high - low >= SEEDS_PER_INVOCATION_MAX) return `bad range ${value}`;
      seeds = Array.from({ length: high - low + 1 }, (_, i) => low + i);
    } else if (name === "--seeds" && /^\d+$/.test(value)) {
      const count = Math.min(Number(value), SEEDS_PER_INVOCATION_MAX);
      const start = randomStart();
      seeds = Array.from({ length: count }, (_, i) => start + i);
    } else if (name === "--profile" && isProfileName(value)) profile = value;
    else if (name === "--verbose") verbose = true;
    else return `unknown or malformed argument: ${argument}`;
  }
  if (seeds === undefined) return "give --seed=N, --seeds=A..B or --seeds=COUNT";
  return { seeds, profile, verbose };
}

/** Where the extra CI seeds start unless `UKAI_SIM_SEED_START` says otherwise. */
export const EXTRA_SEEDS_START_DEFAULT = 1_000_000;

/**
 * Extra seeds for the CI sweep from the environment: `UKAI_SIM_SEEDS=N` adds N
 * seeds starting at `UKAI_SIM_SEED_START` (default {@link EXTRA_SEEDS_START_DEFAULT}).
 * Empty when unset (or when the environment may not be read).
 */
export function extraSeedsFromEnvironment(): number[] {
  const read = (name: string): string | undefined => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined; // no --allow-env: no extra seeds
    }
  };
  const count = Number(read("UKAI_SIM_SEEDS") ?? "0");
  const start = Number(read("UKAI_SIM_SEED_START") ?? EXTRA_SEEDS_START_DEFAULT);
  if (!Number.isSafeInteger(count) || count <= 0 || !Number.isSafeInteger(start) || start < 0) {
    return [];
  }
  return Array.from({ length: Math.min(count, SEEDS_PER_INVOCATION_MAX) }, (_, i) => start + i);
}

/** The reproduction command for a seed. */
export function reproduceCommand(seed: number, profile: ProfileName): string {
  const suffix = profile === "default" ? "" : ` --profile=${profile}`;
  return `deno task sim --seed=${seed}${suffix}`;
}

/** The failure report of a run (empty string when it passed). */
export function failureReport(result: SimulationResult): string {
  const violation = result.violation;
  if (violation === undefined) return "";
  return [
    `FAILED seed=${result.seed}: ${violation.checker} at ${violation.timeMs} ms`,
    `  ${violation.message.split("\n").join("\n  ")}`,
    "last events:",
    ...result.lastEvents.map((line) => `  ${line}`),
    describeKnobs(result.knobs),
    `summary: ${result.summary}`,
    `reproduce: ${reproduceCommand(result.seed, result.knobs.profile)}`,
  ].join("\n");
}

function main(): number {
  const parsed = parseArguments(
    Deno.args,
    () => Math.floor(Math.random() * 0xffffffff),
  );
  if (typeof parsed === "string") {
    console.error(`vopr: ${parsed}`);
    return 64;
  }
  const single = parsed.seeds.length === 1;
  if (!single) console.log(`vopr: seeds ${parsed.seeds[0]}..${parsed.seeds.at(-1)}`);
  for (const seed of parsed.seeds) {
    const result = runSimulation(seed, { profile: parsed.profile });
    if (result.violation !== undefined) {
      console.log(failureReport(result));
      return 1;
    }
    if (single || parsed.verbose) console.log(describeKnobs(result.knobs));
    console.log(`seed=${seed} ok ${result.summary} trace=${result.traceFingerprint}`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(main());
