/**
 * Tests of the metadata group with real Raft nodes over TCP on loopback:
 * bootstrap, join and promotion, proposals from any member, a leader crash,
 * a restart from disk, and removal of the leader.
 */

import assert from "node:assert/strict";
import { silentLogger } from "../base/log.ts";
import { TcpTransport } from "../net/mod.ts";
import { eventually, startTestNode, TEST_SECRET, type TestNode } from "./_test_cluster.ts";
import { ClusterMessage } from "./raft_node.ts";

async function threeNodes(root: string): Promise<TestNode[]> {
  const n1 = await startTestNode("n1", `${root}/n1`);
  await eventually(() => n1.cluster.node.leader === "n1", "n1 to lead");
  const n2 = await startTestNode("n2", `${root}/n2`, { join: n1.transport.address });
  const n3 = await startTestNode("n3", `${root}/n3`, { join: n1.transport.address });
  await eventually(
    () => n1.cluster.node.confState.voters.length === 3,
    "both joiners to be promoted to voters",
  );
  return [n1, n2, n3];
}

function image(name: string, location = "n1") {
  return {
    type: "image.create" as const,
    name,
    size: 1 << 20,
    blockSize: 1 << 16,
    locations: [location],
    hypervisors: [],
    createdAtMs: 0,
  };
}

Deno.test("three nodes form a group: joiners are promoted and proposals from any member apply everywhere", async () => {
  const root = await Deno.makeTempDir({ prefix: "ukai-cluster-" });
  const nodes = await threeNodes(root);
  try {
    const [n1, n2, n3] = nodes as [TestNode, TestNode, TestNode];
    assert.deepEqual([...n3.cluster.meta.state().nodes.keys()].sort(), ["n1", "n2", "n3"]);
    await n2.cluster.meta.propose(image("from-n2"));
    await n3.cluster.meta.propose(image("from-n3"));
    await n3.cluster.meta.propose({
      type: "location.add",
      name: "from-n2",
      node: "n3",
      range: { start: 2, end: 5 },
    });
    assert.equal(
      n1.cluster.meta.state().image("from-n2").countsOf("n3").outOfSync,
      3,
      "ranges travel",
    );
    await assert.rejects(
      n2.cluster.meta.propose({
        type: "node.add",
        id: "n9",
        address: "no-port",
        zone: "z",
        role: "voter",
      }),
      { code: "INVALID_ARGUMENT" },
      "an invalid command is refused to its proposer, not committed",
    );
    await assert.rejects(n1.cluster.meta.propose(image("from-n2")), { code: "IMAGE_EXISTS" });
    for (const node of nodes) {
      await node.cluster.meta.sync();
      assert.deepEqual([...node.cluster.meta.state().images.keys()].sort(), ["from-n2", "from-n3"]);
    }
  } finally {
    for (const node of nodes) await node.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a node joins through a follower, which passes its request on to the leader", async () => {
  const root = await Deno.makeTempDir({ prefix: "ukai-cluster-" });
  const nodes = await threeNodes(root);
  try {
    const follower = nodes.find((node) => node.cluster.node.leader !== node.id) as TestNode;
    const n4 = await startTestNode("n4", `${root}/n4`, { join: follower.transport.address });
    nodes.push(n4);
    await eventually(
      () => nodes.every((node) => node.cluster.node.confState.voters.includes("n4")),
      "n4 to be a voter everywhere",
    );
    await n4.cluster.meta.propose(image("from-n4"));
    await follower.cluster.meta.sync(); // a follower applies a commit a moment later
    assert.ok(follower.cluster.meta.state().images.has("from-n4"));
  } finally {
    for (const node of nodes) await node.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a node that joined drops its connection to the bootstrap address", async () => {
  const root = await Deno.makeTempDir({ prefix: "ukai-cluster-" });
  const nodes = await threeNodes(root);
  try {
    for (const node of nodes.slice(1)) {
      const bootstrap = node.transport.peers().filter((peer) => peer.peer.startsWith("address:"));
      assert.deepEqual(bootstrap, [], `${node.id} reaches members by node id only`);
    }
  } finally {
    for (const node of nodes) await node.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a removed node refuses proposals at once instead of waiting for their deadline", async () => {
  const root = await Deno.makeTempDir({ prefix: "ukai-cluster-" });
  const nodes = await threeNodes(root);
  try {
    const leader = nodes.find((node) => node.cluster.node.leader === node.id) as TestNode;
    const removed = nodes.find((node) => node !== leader) as TestNode;
    await leader.cluster.changeMembership({ op: "remove", id: removed.id, force: false });
    await eventually(
      () => !removed.cluster.meta.state().nodes.has(removed.id),
      "the removed node to apply its removal from the metadata",
    );
    const started = performance.now();
    await assert.rejects(removed.cluster.meta.propose(image("too-late")), {
      code: "NODE_NOT_FOUND",
    });
    const elapsedMs = performance.now() - started;
    assert.ok(elapsedMs < 1000, `refused after ${elapsedMs} ms`);
    assert.equal(leader.cluster.meta.state().images.has("too-late"), false);
  } finally {
    for (const node of nodes) await node.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a peer that is not a member cannot join on behalf of another node", async () => {
  const root = await Deno.makeTempDir({ prefix: "ukai-cluster-" });
  const nodes = await threeNodes(root);
  const intruder = await TcpTransport.listen({
    nodeId: "n8",
    secret: TEST_SECRET,
    hostname: "127.0.0.1",
    port: 0,
    resolve: () => undefined,
    logger: silentLogger,
  });
  try {
    const request = { id: "n9", address: "127.0.0.1:1", zone: "z", learner: false, probe: false };
    for (const node of nodes) {
      await assert.rejects(
        intruder.request(
          { address: node.transport.address },
          ClusterMessage.join,
          new TextEncoder().encode(JSON.stringify(request)),
        ),
        { code: "PERMISSION_DENIED" },
      );
    }
    assert.equal(nodes[0]?.cluster.meta.state().nodes.has("n9"), false);
  } finally {
    await intruder.close();
    for (const node of nodes) await node.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the group survives the loss of its leader and a restarted node catches up from disk", async () => {
  const root = await Deno.makeTempDir({ prefix: "ukai-cluster-" });
  const nodes = await threeNodes(root);
  const running = new Set(nodes);
  try {
    const leader = nodes.find((node) => node.cluster.node.leader === node.id) as TestNode;
    await leader.cluster.meta.propose(image("before"));
    await leader.stop();
    running.delete(leader);
    const survivors = [...running];
    await eventually(
      () => survivors.some((node) => node.cluster.node.leader === node.id),
      "a new leader among the survivors",
    );
    for (let i = 0; i < 60; i++) await survivors[i % 2]!.cluster.meta.propose(image(`during-${i}`));
    const port = Number(leader.transport.address.split(":")[1]);
    const restarted = await startTestNode(leader.id, leader.folder, { port });
    running.add(restarted);
    await restarted.cluster.meta.sync();
    const names = [...restarted.cluster.meta.state().images.keys()];
    assert.equal(names.length, 61, "the restarted node has every committed command");
    assert.ok(names.includes("before"));
  } finally {
    for (const node of running) await node.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("removing the leader hands leadership over first and the rest keep committing", async () => {
  const root = await Deno.makeTempDir({ prefix: "ukai-cluster-" });
  const nodes = await threeNodes(root);
  try {
    const leader = nodes.find((node) => node.cluster.node.leader === node.id) as TestNode;
    const other = nodes.find((node) => node !== leader) as TestNode;
    await other.cluster.changeMembership({ op: "remove", id: leader.id, force: false });
    await eventually(
      () => !other.cluster.node.confState.voters.includes(leader.id),
      "removal applied",
    );
    assert.equal(other.cluster.meta.state().nodes.has(leader.id), false);
    await other.cluster.meta.propose(image("after-removal", other.id));
    assert.ok(other.cluster.meta.state().images.has("after-removal"));
  } finally {
    for (const node of nodes) await node.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("removing a voter is refused when the live voters left would not be a quorum", async () => {
  const root = await Deno.makeTempDir({ prefix: "ukai-cluster-" });
  const nodes = await threeNodes(root);
  const running = new Set(nodes);
  try {
    const leader = nodes.find((node) => node.cluster.node.leader === node.id) as TestNode;
    const [down, target] = nodes.filter((node) => node !== leader) as [TestNode, TestNode];
    await down.stop();
    running.delete(down);
    await eventually(
      () => leader.cluster.node.status().progress?.get(down.id)?.recentActive === false,
      "the leader to notice the stopped node",
    );
    await assert.rejects(
      leader.cluster.changeMembership({ op: "remove", id: target.id, force: false }),
      { code: "NO_QUORUM" },
    );
    assert.ok(leader.cluster.node.confState.voters.includes(target.id), "nothing changed");
  } finally {
    for (const node of running) await node.stop();
    await Deno.remove(root, { recursive: true });
  }
});
