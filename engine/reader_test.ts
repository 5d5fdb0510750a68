/** Tests of readRange: copy order, failover, and a target left alone once the read settles. */

import assert from "node:assert/strict";
import { ManualClock } from "../base/clock.ts";
import { UkaiError } from "../base/errors.ts";
import { applyCommand, MetaState } from "../meta/mod.ts";
import type { BlockChannel, Channels } from "./channels.ts";
import type { BlockHeader } from "./block_protocol.ts";
import { PeerHealth } from "./peer_health.ts";
import { type ReadContext, readRange } from "./reader.ts";

const BLOCK = 65536;

function image() {
  const state = new MetaState();
  applyCommand(state, { type: "node.add", id: "a", address: "h:1", zone: "z", role: "voter" });
  const created = applyCommand(state, {
    type: "image.create",
    name: "vm",
    size: 4 * BLOCK,
    blockSize: BLOCK,
    locations: ["a"],
    hypervisors: [],
    createdAtMs: 0,
  });
  assert.ok(created.ok);
  return state.image("vm");
}

/** A channel whose reads answer as `answer` says, per block. */
function channel(answer: (header: BlockHeader) => Promise<Uint8Array>): Channels {
  const unused = () => Promise.reject(new Error("not used by reads"));
  const to: BlockChannel = {
    node: "a",
    read: answer,
    write: unused,
    punch: unused,
    flush: unused,
    fence: unused,
    exportBlock: unused,
    pull: unused,
  };
  return { to: () => to };
}

function context(channels: Channels): ReadContext {
  return {
    nodeId: "a",
    channels,
    health: new PeerHealth({ clock: new ManualClock(), suspensionMs: 1000 }),
    copiesOf: () => ["a"],
    epoch: 1,
  };
}

Deno.test("readRange() fills each segment from its block", async () => {
  const read = (header: BlockHeader) =>
    Promise.resolve(new Uint8Array(header.length).fill(header.block + 1));
  const target = new Uint8Array(2 * BLOCK);
  await readRange(context(channel(read)), image(), BLOCK / 2, target);
  assert.equal(target[0], 1);
  assert.equal(target[BLOCK / 2 - 1], 1);
  assert.equal(target[BLOCK / 2], 2);
  assert.equal(target[2 * BLOCK - 1], 3);
});

Deno.test("readRange() settles only after every segment, even when one fails first", async () => {
  let releaseSlow = () => {};
  const slowRequested = Promise.withResolvers<void>();
  const read = (header: BlockHeader) => {
    if (header.block === 0) return Promise.reject(new UkaiError("IO", "disk error"));
    slowRequested.resolve();
    return new Promise<Uint8Array>((resolve) => {
      releaseSlow = () => resolve(new Uint8Array(header.length).fill(9));
    });
  };
  const target = new Uint8Array(2 * BLOCK);
  let settled = false;
  const reading = readRange(context(channel(read)), image(), 0, target).finally(() => {
    settled = true;
  });
  await slowRequested.promise;
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(settled, false, "the read settled while a segment could still write");
  releaseSlow();
  await assert.rejects(reading, (error: unknown) => {
    assert.ok(error instanceof UkaiError);
    assert.equal(error.code, "NO_IN_SYNC_LOCATION");
    return true;
  });
  assert.equal(target[BLOCK], 9, "the slow segment wrote before the read settled");
});
