/** Tests of the in-memory network harness itself: faults, determinism and restarts. */

import assert from "node:assert/strict";
import { msg } from "../_test_util.ts";
import { MessageType } from "../types.ts";
import { Network } from "./network.ts";

function heartbeatFrom1(network: Network, to: string) {
  network.send(msg(MessageType.Heartbeat, "1", to, { term: 1 }));
}

Deno.test("cut() drops both directions between two peers; recover() heals", () => {
  const network = new Network({ seed: 1, peers: ["1", "2", "3"] });
  network.cut("1", "2");
  const before = network.delivered;
  heartbeatFrom1(network, "2");
  network.send(msg(MessageType.Heartbeat, "2", "1", { term: 1 }));
  assert.equal(network.delivered, before);
  heartbeatFrom1(network, "3");
  assert.equal(network.delivered, before + 2, "heartbeat and its response");
  network.recover();
  heartbeatFrom1(network, "2");
  assert.equal(network.delivered, before + 4);
});

Deno.test("isolate() drops everything to and from a peer", () => {
  const network = new Network({ seed: 2, peers: ["1", "2", "3"] });
  network.isolate("2");
  network.campaign("2");
  assert.equal(network.status("1").term, 0);
  assert.equal(network.status("3").term, 0);
  assert.equal(network.status("2").state, "candidate");
  network.campaign("1");
  assert.deepEqual(network.leaders(), ["1"]);
  assert.equal(network.status("3").lead, "1");
  assert.equal(network.status("2").lead, "", "2 never heard of the leader");
});

Deno.test("ignore() and dropIf() drop by message kind or by predicate", () => {
  const network = new Network({ seed: 3, peers: ["1", "2", "3"] });
  network.ignore(MessageType.Vote);
  network.campaign("1");
  assert.equal(network.status("1").state, "candidate");
  network.recover();
  network.dropIf((m) => m.to === "3");
  network.campaign("1");
  assert.equal(network.status("1").state, "leader");
  assert.equal(network.status("3").term, 0);
});

Deno.test("drop() loses about the given fraction of messages, the same ones for the same seed", () => {
  const losses = [1, 2].map(() => {
    const network = new Network({ seed: 4, peers: ["1", "2"] });
    network.drop("1", "2", 0.3);
    const before = network.delivered;
    for (let i = 0; i < 1000; i++) network.send(msg(MessageType.Heartbeat, "1", "2", { term: 1 }));
    return network.delivered - before;
  });
  assert.equal(losses[0], losses[1], "deterministic for a seed");
  // 1000 heartbeats, 70% arrive, each answered: about 1400 deliveries.
  assert.ok(losses[0]! > 1300 && losses[0]! < 1500, `${losses[0]} deliveries`);
});

Deno.test("reorder() delivers queued messages out of order, deterministically", () => {
  const orders = [1, 2].map(() => {
    const network = new Network({ seed: 5, peers: ["1", "2"] });
    network.reorder(1);
    const seen: number[] = [];
    network.dropIf((m) => {
      if (m.type === MessageType.Heartbeat) seen.push(m.commit);
      return true;
    });
    network.queue.push(
      ...Array.from(
        { length: 20 },
        (_, i) => msg(MessageType.Heartbeat, "1", "2", { term: 1, commit: i }),
      ),
    );
    network.stabilize();
    return seen;
  });
  assert.deepEqual(orders[0], orders[1]);
  assert.notDeepEqual(orders[0], Array.from({ length: 20 }, (_, i) => i));
  assert.deepEqual([...orders[0]!].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
});

Deno.test("a down peer is a black hole that still counts as a member", () => {
  const network = new Network({ seed: 6, peers: ["1", "2", { id: "3", down: true }] });
  network.campaign("1");
  assert.equal(network.status("1").state, "leader");
  assert.deepEqual(network.status("1").confState.voters, ["1", "2", "3"]);
  assert.throws(() => network.peer("3"), /no running peer/);
});

Deno.test("a restarted peer resumes from its storage with its term, vote and log", () => {
  const network = new Network({ seed: 7, peers: ["1", "2", "3"] });
  network.campaign("1");
  network.propose("1", "a");
  network.peer("2").restart();
  const status = network.status("2");
  assert.deepEqual([status.state, status.term, status.vote, status.commit], [
    "follower",
    1,
    "1",
    2,
  ]);
  network.propose("1", "b");
  assert.deepEqual(network.peer("2").appliedData(), ["a", "b"]);
});

Deno.test("the same seed replays the same elections tick for tick", () => {
  const histories = [1, 2].map(() => {
    const network = new Network({
      seed: 8,
      peers: ["1", "2", "3", "4", "5"],
      config: { preVote: true },
    });
    network.drop("1", "2", 0.5);
    network.reorder(0.3);
    const history: string[] = [];
    for (let tick = 0; tick < 200; tick++) {
      network.tickAll(1);
      history.push(network.leaders().join(",") + "@" + network.status("3").term);
    }
    return history;
  });
  assert.deepEqual(histories[0], histories[1]);
});
