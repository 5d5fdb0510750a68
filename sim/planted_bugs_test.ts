/**
 * The simulator proves it can fail: each planted bug (design.md section 4)
 * runs under its profile, seed after seed, until a checker reports a
 * violation; the test requires it within a bounded number of seeds and
 * requires the checker that fired to be the one that names the bug. The
 * checkers are the general ones; the profiles only bias the fault mix.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { CheckerName } from "./checkers/mod.ts";
import type { ProfileName } from "./knobs.ts";
import { runSimulation } from "./simulator.ts";
import { failureReport } from "./vopr.ts";

/** Most seeds a planted bug may take to be caught. */
const SEEDS_TO_CATCH_MAX = 100;

const plantedBugs: { profile: ProfileName; checker: CheckerName; what: string }[] = [
  {
    profile: "forgetVoteOnRestart",
    checker: "electionSafety",
    what: "a restarted voter forgets its vote and votes twice in one term",
  },
  {
    profile: "skipLogTermVoteCheck",
    checker: "leaderCompleteness",
    what: "a voter compares last indexes only and elects a leader missing committed entries",
  },
  {
    profile: "commitByCountingAnyTerm",
    checker: "leaderCompleteness",
    what: "a leader commits an earlier-term entry by counting (Figure 8)",
  },
  {
    profile: "sendBeforeFsync",
    checker: "durability",
    what: "a node sends messages before their term, vote and entries are fsynced",
  },
  {
    profile: "readBeforeApplied",
    checker: "linearizability",
    what: "a node serves a ReadIndex read before applying up to the read index",
  },
];

for (const bug of plantedBugs) {
  Deno.test(`planted bug ${bug.profile} is caught by ${bug.checker}: ${bug.what}`, () => {
    for (let seed = 1; seed <= SEEDS_TO_CATCH_MAX; seed++) {
      const result = runSimulation(seed, { profile: bug.profile });
      const violation = result.violation;
      if (violation === undefined) continue;
      if (violation.checker !== bug.checker) console.log(failureReport(result));
      assert(
        violation.checker === bug.checker,
        `seed ${seed}: ${bug.profile} was reported by ${violation.checker}, not ${bug.checker}`,
      );
      console.log(
        `${bug.profile}: caught by ${violation.checker} at seed ${seed}: ${violation.message}`,
      );
      return;
    }
    assert(false, `${bug.profile} was not caught within ${SEEDS_TO_CATCH_MAX} seeds`);
  });
}
