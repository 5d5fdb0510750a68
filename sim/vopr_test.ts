import { assert } from "../base/assert.ts";
import { deriveKnobs, describeKnobs } from "./knobs.ts";
import { runSimulation } from "./simulator.ts";
import { failureReport, parseArguments, reproduceCommand } from "./vopr.ts";

Deno.test("the same seed produces the identical event trace", () => {
  for (const seed of [3, 17, 42]) {
    const first = runSimulation(seed);
    const second = runSimulation(seed);
    assert(first.events > 1_000, "a run does real work");
    assert(first.traceFingerprint === second.traceFingerprint, `seed ${seed}: traces differ`);
    assert(first.summary === second.summary, `seed ${seed}: summaries differ`);
  }
  assert(runSimulation(3).traceFingerprint !== runSimulation(4).traceFingerprint, "seeds differ");
});

Deno.test("a planted-bug failure replays exactly and prints its reproduction", () => {
  const first = runSimulation(1, { profile: "sendBeforeFsync" });
  const second = runSimulation(1, { profile: "sendBeforeFsync" });
  assert(first.violation !== undefined, "the planted bug is caught");
  assert(first.traceFingerprint === second.traceFingerprint, "the failing run replays exactly");
  const report = failureReport(first);
  assert(report.includes("reproduce: deno task sim --seed=1 --profile=sendBeforeFsync"), report);
  assert(report.includes("durability") && report.includes("last events:"), report);
  assert(report.includes(describeKnobs(first.knobs)), "the knobs are printed with the failure");
});

Deno.test("knobs are a pure function of the seed and profile", () => {
  assert(describeKnobs(deriveKnobs(5)) === describeKnobs(deriveKnobs(5)), "same seed, same knobs");
  assert(describeKnobs(deriveKnobs(5)) !== describeKnobs(deriveKnobs(6)), "seeds differ");
  const bug = deriveKnobs(5, "commitByCountingAnyTerm");
  assert(bug.bugs.commitByCountingAnyTerm && !bug.bugs.sendBeforeFsync, "one bug per profile");
});

Deno.test("parseArguments reads --seed, --seeds ranges and counts, --profile", async (t) => {
  const cases: { argv: string[]; seeds?: number[]; error?: boolean; profile?: string }[] = [
    { argv: ["--seed=7"], seeds: [7] },
    { argv: ["--seeds=3..5"], seeds: [3, 4, 5] },
    { argv: ["--seeds=2"], seeds: [100, 101] },
    {
      argv: ["--seed=1", "--profile=skipLogTermVoteCheck"],
      seeds: [1],
      profile: "skipLogTermVoteCheck",
    },
    { argv: ["--seeds=5..3"], error: true },
    { argv: ["--seed=x"], error: true },
    { argv: ["--profile=nope", "--seed=1"], error: true },
    { argv: [], error: true },
  ];
  for (const c of cases) {
    await t.step(c.argv.join(" ") || "(none)", () => {
      const parsed = parseArguments(c.argv, () => 100);
      if (c.error === true) {
        assert(typeof parsed === "string", `expected an error, got ${JSON.stringify(parsed)}`);
        return;
      }
      assert(typeof parsed !== "string", `unexpected error ${parsed}`);
      assert(JSON.stringify(parsed.seeds) === JSON.stringify(c.seeds), `seeds ${parsed.seeds}`);
      assert(parsed.profile === (c.profile ?? "default"), `profile ${parsed.profile}`);
    });
  }
  assert(
    reproduceCommand(9, "default") === "deno task sim --seed=9",
    "default profile is implicit",
  );
});

Deno.test("an assertion inside raft/ is reported as raftAssertion, with its stack", () => {
  // With the Figure-8 planted bug and reads waiting for a new leader's first
  // commit, raft's own assertion in `releasePendingReads` fires.
  const result = runSimulation(1, {
    profile: "commitByCountingAnyTerm",
    adjust: (knobs) => {
      knobs.clients.putShare = 0.3;
      knobs.clients.casShare = 0.2;
    },
  });
  assert(result.violation?.checker === "raftAssertion", `got ${result.violation?.checker}`);
  assert(result.violation.message.includes("raft_leader.ts"), result.violation.message);
});
