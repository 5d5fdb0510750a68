/** Tests of validateConfig(): every bad value is named, and defaults are filled in. */

import assert from "node:assert/strict";
import { Rng } from "../base/rng.ts";
import { type Config, RaftConfigError, resolveConfig, validateConfig } from "./config.ts";
import { RawNode } from "./raw_node.ts";
import { MemoryStorage } from "./storage.ts";

function baseConfig(): Config {
  return {
    id: "n1",
    storage: new MemoryStorage(),
    applied: 0,
    maxSizePerMsg: 1024,
    maxInflightMsgs: 16,
    checkQuorum: true,
    preVote: true,
    rng: new Rng(1),
  };
}

Deno.test("validateConfig() accepts a minimal config and fills in defaults", () => {
  assert.equal(validateConfig(baseConfig()), null);
  const resolved = resolveConfig(baseConfig());
  assert.equal(resolved.electionTicks, 10);
  assert.equal(resolved.heartbeatTicks, 1);
  assert.equal(resolved.stepDownOnRemoval, true);
  assert.equal(resolved.maxInflightBytes, 0);
  assert.deepEqual(resolved.testingKnobs, {});
});

Deno.test("validateConfig() names the first bad value", async (t) => {
  const cases: [string, Partial<Config>, RegExp][] = [
    ["empty id", { id: "" }, /id must be a non-empty string/],
    ["long id", { id: "x".repeat(256) }, /at most 255 UTF-8 bytes/],
    ["zero heartbeat", { heartbeatTicks: 0 }, /heartbeatTicks must be an integer >= 1/],
    [
      "election not above heartbeat",
      { electionTicks: 3, heartbeatTicks: 3 },
      /must be greater than heartbeatTicks/,
    ],
    ["fractional election", { electionTicks: 2.5 }, /electionTicks must be an integer/],
    ["negative applied", { applied: -1 }, /applied must be an integer >= 0/],
    ["no inflight", { maxInflightMsgs: 0 }, /maxInflightMsgs must be an integer >= 1/],
    [
      "inflight bytes below message size",
      { maxInflightBytes: 10 },
      /maxInflightBytes \(10\) must be 0 or >=/,
    ],
    ["negative uncommitted size", { maxUncommittedEntriesSize: -5 }, /maxUncommittedEntriesSize/],
    ["bad rng", { rng: {} as Rng }, /rng must be a seeded Rng/],
  ];
  for (const [name, override, message] of cases) {
    await t.step(name, () => {
      const problem = validateConfig({ ...baseConfig(), ...override } as Config);
      assert.ok(problem !== null && message.test(problem), `got ${problem}`);
    });
  }
});

Deno.test("new RawNode() refuses an invalid config with RaftConfigError", () => {
  assert.throws(() => new RawNode({ ...baseConfig(), maxInflightMsgs: 0 }), RaftConfigError);
});

Deno.test("the randomised election timeout is drawn from the rng in [et, 2et)", () => {
  const seen = new Set<number>();
  for (let seed = 0; seed < 300; seed++) {
    const node = new RawNode({
      ...baseConfig(),
      storage: new MemoryStorage({ confState: { voters: ["n1", "n2"], learners: [] } }),
      rng: new Rng(seed),
      electionTicks: 5,
    });
    let ticks = 0;
    while (node.status().state === "follower") {
      node.tick();
      ticks++;
    }
    seen.add(ticks);
  }
  assert.deepEqual([...seen].sort((a, b) => a - b), [5, 6, 7, 8, 9]);
});

Deno.test("the same seed gives the same election timeout", () => {
  const timeouts = [1, 2].map(() => {
    const node = new RawNode({
      ...baseConfig(),
      storage: new MemoryStorage({ confState: { voters: ["n1", "n2"], learners: [] } }),
      rng: new Rng(42),
    });
    let ticks = 0;
    while (node.status().state === "follower") {
      node.tick();
      ticks++;
    }
    return ticks;
  });
  assert.equal(timeouts[0], timeouts[1]);
});
