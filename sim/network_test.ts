import { assert } from "../base/assert.ts";
import { Rng } from "../base/rng.ts";
import type { NetworkKnobs } from "./knobs.ts";
import { SimNetwork } from "./network.ts";

const knobs: NetworkKnobs = {
  delayMinMs: 2,
  delayMaxMs: 30,
  spikeProbability: 0.05,
  spikeMaxMs: 50,
  lossProbability: 0.1,
  duplicateProbability: 0.05,
  partitionIntervalMs: 100,
  partitionDurationMinMs: 10,
  partitionDurationMaxMs: 20,
  asymmetricShare: 0.3,
  leaderIsolationShare: 0,
};

Deno.test("SimNetwork: the same seed gives the same fates", () => {
  const a = new SimNetwork(new Rng(11), knobs);
  const b = new SimNetwork(new Rng(11), knobs);
  for (let i = 0; i < 500; i++) {
    const from = `n${i % 3}`;
    const to = `n${(i + 1) % 3}`;
    assert(JSON.stringify(a.route(from, to)) === JSON.stringify(b.route(from, to)), "differs");
  }
});

Deno.test("SimNetwork: delays stay in range (plus spikes); loss and duplicates occur", () => {
  const network = new SimNetwork(new Rng(3), knobs);
  let lost = 0;
  let duplicated = 0;
  for (let i = 0; i < 5_000; i++) {
    const route = network.route("a", "b");
    if (route.kind === "lost") {
      lost++;
      continue;
    }
    if (route.delaysMs.length === 2) duplicated++;
    for (const delay of route.delaysMs) {
      assert(delay >= knobs.delayMinMs && delay <= knobs.delayMaxMs + knobs.spikeMaxMs, "delay");
    }
  }
  assert(lost > 300 && lost < 700, `about 10% lost (got ${lost})`);
  assert(duplicated > 100 && duplicated < 400, `about 5% duplicated (got ${duplicated})`);
});

Deno.test("SimNetwork: partitions block links (one way when asymmetric) until healed", () => {
  const network = new SimNetwork(new Rng(9), { ...knobs, lossProbability: 0 });
  const nodes = ["n1", "n2", "n3", "n4"];
  const kinds = new Set<string>();
  for (let trial = 0; trial < 200; trial++) {
    const { kind } = network.partition(nodes);
    kinds.add(kind);
    let blocked = 0;
    let oneWay = 0;
    for (const a of nodes) {
      for (const b of nodes) {
        if (a === b) continue;
        if (network.blocked(a, b)) blocked++;
        if (network.blocked(a, b) && !network.blocked(b, a)) oneWay++;
      }
    }
    assert(blocked > 0, "a partition blocks something");
    assert((kind === "oneWay") === (oneWay > 0), `${kind}: one-way links ${oneWay}`);
    network.heal();
    assert(!network.partitioned && network.route("n1", "n2").kind === "delivered", "healed");
  }
  assert(kinds.size === 3, "split, isolate and one-way all occur");
  network.partition(nodes, "n3");
  assert(network.blocked("n3", "n1") && network.blocked("n2", "n3"), "n3 isolated");
  assert(!network.blocked("n1", "n2"), "the others still talk");
});

Deno.test("SimNetwork: calm() heals and stops loss for good", () => {
  const network = new SimNetwork(new Rng(4), { ...knobs, lossProbability: 0.1 });
  network.partition(["a", "b"]);
  network.calm();
  for (let i = 0; i < 2_000; i++) assert(network.route("a", "b").kind === "delivered", "lost");
});
