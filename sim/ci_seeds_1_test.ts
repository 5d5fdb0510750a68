import { extraSeedsFromEnvironment } from "./vopr.ts";
import { CI_SEEDS, REGRESSION_SEEDS, sweep } from "./_ci_sweep.ts";

Deno.test("simulator: the first half of the CI seeds and the regressions pass every check", () => {
  const extra = extraSeedsFromEnvironment().filter((_, i) => i % 2 === 0);
  sweep([...REGRESSION_SEEDS, ...CI_SEEDS.slice(0, CI_SEEDS.length / 2), ...extra]);
});
