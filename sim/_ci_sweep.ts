/**
 * The CI seed sweep shared by the two `ci_seeds_*_test.ts` files (two files so
 * that `deno test --parallel` runs the halves on both cores): a fixed list of
 * seeds, the regression seeds, and `UKAI_SIM_SEEDS=N` more from the
 * environment. Each seed runs to the end of its liveness and
 * linearizability checks; a failure prints the full report with its
 * `reproduce:` line.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { runSimulation } from "./simulator.ts";
import { failureReport } from "./vopr.ts";

/**
 * Seeds that once failed: each stays here for good once its cause is fixed.
 * (Knob derivation has changed since some of them failed, so they guard the
 * area rather than the exact trace.)
 *
 * - 30929: a proposal forwarded twice (n1 -> n2 -> n1) keeps `from: n1`; the
 *   simulated network routed it by `from` and asserted "n1 sends to itself".
 *   The network now routes from the node that sends.
 */
export const REGRESSION_SEEDS: readonly number[] = [30929];

/** The fixed CI list (each half runs in its own test file). */
export const CI_SEEDS: readonly number[] = Array.from({ length: 600 }, (_, i) => i + 1);

/** Runs `seeds`; fails with the first failure's report. */
export function sweep(seeds: readonly number[]): void {
  let events = 0;
  for (const seed of seeds) {
    const result = runSimulation(seed);
    if (result.violation !== undefined) {
      console.log(failureReport(result));
      assert(
        false,
        `seed ${seed} failed: ${result.violation.checker}: ${result.violation.message}`,
      );
    }
    events += result.events;
  }
  console.log(`simulator: ${seeds.length} seeds passed (${events} events)`);
}
