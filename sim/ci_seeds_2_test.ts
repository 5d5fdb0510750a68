import { extraSeedsFromEnvironment } from "./vopr.ts";
import { CI_SEEDS, sweep } from "./_ci_sweep.ts";

Deno.test("simulator: the second half of the CI seeds and UKAI_SIM_SEEDS more pass", () => {
  const extra = extraSeedsFromEnvironment().filter((_, i) => i % 2 === 1);
  sweep([...CI_SEEDS.slice(CI_SEEDS.length / 2), ...extra]);
});
