/**
 * Tests of Membership's quorum check on removal against a scripted Raft node:
 * a voter the leader has not heard from yet in its current activity round
 * gets that round to show up, and one that stays silent makes the removal
 * refused.
 */

import assert from "node:assert/strict";
import { silentLogger } from "../base/log.ts";
import { MemoryMetaStore } from "../meta/mod.ts";
import { MemoryNetwork } from "../net/memory_transport.ts";
import { Membership } from "./membership.ts";
import type { RaftNode } from "./raft_node.ts";

/**
 * Leader "a" of voters a, b, c. `cHeardAfter` is how many status reads pass
 * before the leader has heard from c in this round (Infinity: never).
 */
function scriptedLeader(cHeardAfter: number) {
  const confState = { voters: ["a", "b", "c"], learners: [] as string[] };
  let reads = 0;
  const node = {
    leader: "a",
    get confState() {
      return confState;
    },
    status: () => {
      reads++;
      return {
        commit: 1,
        progress: new Map([
          ["b", { recentActive: true }],
          ["c", { recentActive: reads > cHeardAfter }],
        ]),
      };
    },
    proposeConfChange: (change: { nodeId: string }) => {
      confState.voters = confState.voters.filter((voter) => voter !== change.nodeId);
      return { kind: "accepted" };
    },
  } as unknown as RaftNode;
  const membership = new Membership({
    nodeId: "a",
    node,
    meta: new MemoryMetaStore(),
    transport: new MemoryNetwork().join("a"),
    logger: silentLogger,
    livenessGraceMs: 300,
  });
  return { membership, confState };
}

Deno.test("a voter not yet heard from in the leader's round gets that round before a removal is refused", async () => {
  const { membership, confState } = scriptedLeader(3);
  await membership.change({ op: "remove", id: "b", force: false });
  assert.deepEqual(confState.voters, ["a", "c"]);
});

Deno.test("a removal is refused when a voter stays silent for the whole grace", async () => {
  const { membership, confState } = scriptedLeader(Infinity);
  const started = performance.now();
  await assert.rejects(membership.change({ op: "remove", id: "b", force: false }), {
    code: "NO_QUORUM",
  });
  assert.ok(performance.now() - started >= 300, "refused only after the grace");
  assert.deepEqual(confState.voters, ["a", "b", "c"], "nothing changed");
});
