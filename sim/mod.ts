/**
 * A deterministic simulator of a ukai Raft group, run from a seed (the VOPR
 * of ukai, after TigerBeetle's). Everything (cluster shape, fault rates,
 * Raft options, the workload) derives from the seed; one seed replays one
 * exact trace. See `simulator.ts` for the phases of a run, `knobs.ts` for the
 * knobs and their budgets, `checkers/` for the safety properties checked
 * after every step, and `linearizability.ts` for the history check at the
 * end. `vopr.ts` is the command line (`deno task sim --seed=N`).
 *
 * @example
 * ```ts
 * import { runSimulation } from "./mod.ts";
 * const result = runSimulation(1);
 * if (result.violation !== undefined) throw new Error(result.violation.message);
 * ```
 *
 * @module
 */

export { CHECKER_NAMES, type CheckerName, type Violation } from "./checkers/mod.ts";
export {
  CRASH_POINTS,
  type CrashPoint,
  deriveKnobs,
  describeKnobs,
  type Knobs,
  type ProfileName,
  PROFILES,
} from "./knobs.ts";
export { checkLinearizability, type LinearizabilityResult } from "./linearizability.ts";
export { runSimulation, type SimulationOptions, type SimulationResult } from "./simulator.ts";
