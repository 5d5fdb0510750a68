/**
 * Snapshot tests of what people read: the image list and details, the
 * statistics per node, the member table, the error list and the status
 * screen, from fixed API answers and a fixed clock.
 */

import assert from "node:assert/strict";
import type { ImageStatsByNode, NodeView, StatusView } from "../control/api_types.ts";
import { applyCommand, type Command, imageView, MetaState } from "../meta/mod.ts";
import { imageInfoText, imageListText, imageStatsText } from "./image_views.ts";
import { nodeErrorsText, nodeTableText, statusText } from "./node_views.ts";
import { stripStyles, style } from "./output.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const NOW = 1_800_000_000_000;
const plain = style({ colors: false });

function state(): MetaState {
  const meta = new MetaState();
  const commands: Command[] = [
    { type: "node.add", id: "n1", address: "10.0.0.1:7850", zone: "dc1", role: "voter" },
    { type: "node.add", id: "n2", address: "10.0.0.2:7850", zone: "dc1", role: "voter" },
    { type: "node.add", id: "n3", address: "10.0.0.3:7850", zone: "dc2", role: "voter" },
    {
      type: "image.create",
      name: "vm1",
      size: 64 * MiB,
      blockSize: 4 * MiB,
      locations: ["n1", "n2"],
      hypervisors: ["n1", "n2"],
      createdAtMs: NOW,
    },
    { type: "move.start", name: "vm1", from: "n2", to: "n3", startedAtMs: NOW },
    {
      type: "image.create",
      name: "db",
      size: 8 * MiB,
      blockSize: MiB,
      locations: ["n3"],
      hypervisors: [],
      createdAtMs: NOW,
    },
  ];
  for (const command of commands) assert.ok(applyCommand(meta, command).ok, command.type);
  return meta;
}

function node(id: string, fields: Partial<NodeView> = {}): NodeView {
  return {
    id,
    address: `10.0.0.${id.slice(1)}:7850`,
    zone: "dc1",
    role: "voter",
    desiredRole: "voter",
    leader: false,
    self: false,
    reachable: true,
    lastContactAtMs: NOW - 300,
    rttMs: 0.412,
    appliedIndex: 42,
    suspendedUntilMs: null,
    ...fields,
  };
}

function statusFixture(): StatusView {
  return {
    node: "n1",
    version: "0.1.0",
    uptimeSeconds: 3725,
    cluster: { leader: "n1", term: 4, voters: 3, reachableVoters: 3, quorum: true },
    nodes: [
      node("n1", { self: true, leader: true, rttMs: 0 }),
      node("n2"),
      node("n3", { zone: "dc2" }),
    ],
    images: [...state().images.values()].map(imageView),
    resyncs: [{
      image: "vm1",
      outOfSyncBlocks: 16,
      blocksPerSecond: 2,
      bytesPerSecond: 8 * MiB,
      etaSeconds: 8,
    }],
    owned: [{ image: "vm1", epoch: 3, kind: "resync", resyncRunning: true }],
    capacity: { totalBytes: 100 * GiB, availableBytes: 40 * GiB, freeBytes: 41 * GiB },
  };
}

Deno.test("imageListText() aligns one row per image with sizes, owners and moves", () => {
  const views = [...state().images.values()].map(imageView).sort((a, b) =>
    a.name.localeCompare(b.name)
  );
  assert.equal(
    imageListText(views, plain),
    `NAME  SIZE      BLOCKS        OWNER  LOCATIONS                                     OUT OF SYNC
db    8.0 MiB   8 × 1.0 MiB   -      n3                                            0
vm1   64.0 MiB  16 × 4.0 MiB  -      n1, n2, n3 (16 out of sync) (moving n2 → n3)  16
`,
  );
  assert.match(imageListText([], plain), /^no images yet; create one with: ukai image add/);
});

Deno.test("imageInfoText() shows the facts, then each location's block ranges", () => {
  assert.equal(
    imageInfoText(imageView(state().image("vm1")), plain),
    `name         vm1
size         64.0 MiB (67108864 bytes; capacity 64.0 MiB)
blocks       16 × 4.0 MiB
owner        none
open on      no node
hypervisors  n1, n2
out of sync  16 block copies
resync rate  the node's default
move         n2 → n3

LOCATION  BLOCKS  STATE
n1        0-15    in sync
n2        0-15    in sync
n3        0-15    out of sync
`,
  );
});

Deno.test("imageInfoText() sums up the ranges of a fragmented location past the first 20", () => {
  const meta = state();
  for (let block = 0; block < 16; block += 2) {
    const command: Command = {
      type: "location.remove",
      name: "vm1",
      node: "n1",
      range: { start: block, end: block + 1 },
    };
    assert.ok(applyCommand(meta, command).ok);
  }
  const view = imageView(meta.image("vm1"));
  const rows = imageInfoText(view, plain).split("\n").filter((line) => line.startsWith("n1 "));
  assert.equal(rows.length, 8, "eight one-block ranges are shown");
  const many = {
    ...view,
    locations: [{
      ...view.locations[0]!,
      ranges: Array.from({ length: 25 }, (_, index) => ({
        start: 2 * index,
        end: 2 * index + 1,
        state: "inSync" as const,
      })),
    }],
  };
  assert.match(imageInfoText(many, plain), /n1 {8}… 5 more ranges {2}\(see --json\)\n$/);
});

Deno.test("imageStatsText() shows a column per node with I/O and names nodes not asked", () => {
  const counters = {
    readOps: 10,
    readBytes: 40960,
    writeOps: 3,
    writeBytes: 3 * MiB,
    discardOps: 0,
    flushOps: 1,
    localReadBytes: 32768,
    remoteReadBytes: 8192,
    forwardedReadOps: 0,
    resyncBytes: 0,
    resyncBlocks: 0,
    errors: 0,
    readLatency: { count: 10, meanMs: 0.3, p50Ms: 0.25, p99Ms: 1 },
    writeLatency: { count: 3, meanMs: 2, p50Ms: 2.5, p99Ms: 5 },
    flushLatency: { count: 1, meanMs: 9, p50Ms: 10, p99Ms: 10 },
  };
  const idle = {
    ...counters,
    readOps: 0,
    readBytes: 0,
    writeOps: 0,
    writeBytes: 0,
    flushOps: 0,
    localReadBytes: 0,
    remoteReadBytes: 0,
    readLatency: { count: 0, meanMs: null, p50Ms: null, p99Ms: null },
    writeLatency: { count: 0, meanMs: null, p50Ms: null, p99Ms: null },
    flushLatency: { count: 0, meanMs: null, p50Ms: null, p99Ms: null },
  };
  const stats: ImageStatsByNode = {
    image: "vm1",
    nodes: [
      { node: "n1", reachable: true, ...counters },
      {
        node: "n2",
        reachable: true,
        ...idle,
        forwardedReadOps: 4,
        resyncBlocks: 2,
        resyncBytes: 8 * MiB,
      },
      { node: "n3", reachable: true, ...idle },
      { node: "n4", reachable: false, error: "Peer n4 was disconnected" },
    ],
  };
  assert.equal(
    imageStatsText(stats, plain),
    `                      n1                       n2
reads                 10 (40.0 KiB)            0 (0 B)
  from local copy     32.0 KiB                 0 B
  from other nodes    8.0 KiB                  0 B
  forwarded to owner  0                        4
writes                3 (3.0 MiB)              0 (0 B)
discards              0                        0
flushes               1                        0
resync                0 blocks (0 B)           2 blocks (8.0 MiB)
errors                0                        0
read latency          p50 ≤0.25 ms, p99 ≤1 ms  -
write latency         p50 ≤2.5 ms, p99 ≤5 ms   -
flush latency         p50 ≤10 ms, p99 ≤10 ms   -
n4: not asked (Peer n4 was disconnected)
`,
  );
  assert.equal(
    imageStatsText({ image: "db", nodes: [{ node: "n1", reachable: true, ...idle }] }, plain),
    "no I/O recorded for db on any node since the nodes started\n",
  );
});

Deno.test("nodeTableText() marks this node, the leader, suspensions and pending promotions", () => {
  const nodes = [
    node("n1", { self: true, leader: true, rttMs: 0, lastContactAtMs: NOW }),
    node("n2", {
      suspendedUntilMs: NOW + 30_000,
      rttMs: null,
      lastContactAtMs: NOW - 95_000,
      reachable: false,
      appliedIndex: null,
    }),
    node("n3", { zone: "dc2", role: "learner", desiredRole: "voter" }),
  ];
  assert.equal(
    nodeTableText(nodes, plain, NOW),
    `NODE       ADDRESS        ZONE  ROLE             REACHABLE  RTT      LAST CONTACT  APPLIED
n1 (this)  10.0.0.1:7850  dc1   voter (leader)   yes        0.00 ms  -             42
n2         10.0.0.2:7850  dc1   voter            suspended  -        1m35s ago     -
n3         10.0.0.3:7850  dc2   learner → voter  yes        0.41 ms  now           42
`,
  );
});

Deno.test("nodeErrorsText() lists who sees whom failing, and says so when nobody does", () => {
  const text = nodeErrorsText([
    {
      observer: "n1",
      node: "n2",
      observerReachable: true,
      consecutiveFailures: 3,
      suspendedUntilMs: NOW + 42_000,
      lastError: "Peer n2 was disconnected",
    },
    {
      observer: "n2",
      node: "n2",
      observerReachable: false,
      consecutiveFailures: null,
      suspendedUntilMs: null,
      lastError: "timed out",
    },
  ], NOW);
  assert.equal(
    text,
    `SEEN BY  NODE         FAILURES  SUSPENDED FOR  LAST ERROR
n1       n2           3         42s            Peer n2 was disconnected
n2       (not asked)  -         -              timed out
`,
  );
  assert.equal(nodeErrorsText([], NOW), "no node is suspended or failing\n");
});

Deno.test("statusText() shows health, this node, members, images and resyncs on one screen", () => {
  const status = statusFixture();
  assert.equal(
    statusText(status, plain, NOW),
    `cluster    healthy; leader n1, term 4; 3 of 3 voters reachable
this node  n1, ukai 0.1.0, up 1h02m; 40.0 GiB of 100.0 GiB free; owns vm1 (resync)

NODE       ADDRESS        ZONE  ROLE            REACHABLE  RTT      LAST CONTACT  APPLIED
n1 (this)  10.0.0.1:7850  dc1   voter (leader)  yes        0.00 ms  -             42
n2         10.0.0.2:7850  dc1   voter           yes        0.41 ms  now           42
n3         10.0.0.3:7850  dc2   voter           yes        0.41 ms  now           42

IMAGE  SIZE      OWNER  LOCATIONS                                     OUT OF SYNC
vm1    64.0 MiB  -      n1, n2, n3 (16 out of sync) (moving n2 → n3)  16
db     8.0 MiB   -      n3                                            0

RESYNC  LEFT       RATE       ETA
vm1     16 blocks  8.0 MiB/s  8s
`,
  );
});

Deno.test("statusText() in colour: NO QUORUM in red, and tables stay aligned around escapes", () => {
  const status = statusFixture();
  const lost = { ...status, cluster: { ...status.cluster, quorum: false, leader: null } };
  const text = statusText(lost, style({ colors: true }), NOW);
  assert.equal(
    text.split("\n")[0],
    "\x1b[1mcluster\x1b[0m    \x1b[31mNO QUORUM\x1b[0m; leader none, term 4; 3 of 3 voters reachable",
  );
  const stripped = stripStyles(text);
  assert.equal(
    stripped.split("\n").slice(1).join("\n"),
    statusText(lost, plain, NOW).split("\n").slice(1).join("\n"),
  );
});
