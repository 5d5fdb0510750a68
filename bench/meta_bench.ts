/**
 * Benchmarks of the metadata state machine at scale: a 1 TiB image with
 * 1 MiB blocks (1,048,576 blocks) and three locations — create, flip one
 * block, snapshot, restore. Run with `deno bench bench/meta_bench.ts`.
 */

import { applyCommand, decodeSnapshot, encodeSnapshot, MetaState } from "../meta/mod.ts";

const MiB = 1024 * 1024;
const TiB = 1024 * 1024 * MiB;

function cluster(): MetaState {
  const state = new MetaState();
  for (const id of ["n1", "n2", "n3"]) {
    applyCommand(state, { type: "node.add", id, address: "127.0.0.1:1", zone: "z", role: "voter" });
  }
  return state;
}

function createBig(state: MetaState): void {
  const result = applyCommand(state, {
    type: "image.create",
    name: "big",
    size: TiB,
    blockSize: MiB,
    locations: ["n1", "n2", "n3"],
    hypervisors: [],
    createdAtMs: 0,
  });
  if (!result.ok) throw new Error(result.message);
}

const prepared = cluster();
createBig(prepared);
applyCommand(prepared, {
  type: "owner.take",
  name: "big",
  node: "n1",
  kind: "io",
  expectedEpoch: 0,
});
// A realistic worst case for the encoder: every 97th block out of sync somewhere.
for (let block = 0; block < 1_048_576; block += 97) {
  applyCommand(prepared, {
    type: "blocks.mark",
    name: "big",
    epoch: 1,
    marks: [{ node: "n2", ranges: [{ start: block, end: block + 1 }], status: "outOfSync" }],
    retireActivity: [],
  });
}
const snapshot = encodeSnapshot(prepared);
let flip = 0;

Deno.bench("create a 1 TiB image (1 MiB blocks, 3 locations)", () => {
  createBig(cluster());
});

Deno.bench("flip one block's status", () => {
  flip = (flip + 1) % 1_048_576;
  applyCommand(prepared, {
    type: "blocks.mark",
    name: "big",
    epoch: 1,
    marks: [{ node: "n3", ranges: [{ start: flip, end: flip + 1 }], status: "outOfSync" }],
    retireActivity: [],
  });
  applyCommand(prepared, {
    type: "blocks.mark",
    name: "big",
    epoch: 1,
    marks: [{ node: "n3", ranges: [{ start: flip, end: flip + 1 }], status: "inSync" }],
    retireActivity: [],
  });
});

Deno.bench(`snapshot it (${snapshot.length} bytes, 10811 runs)`, () => {
  encodeSnapshot(prepared);
});

Deno.bench("restore it", () => {
  decodeSnapshot(snapshot);
});
