/** Tests of readPieces: pieces in order and uncopied, failover, and settling only when all did. */

import assert from "node:assert/strict";
import { ManualClock } from "../base/clock.ts";
import { UkaiError } from "../base/errors.ts";
import { applyCommand, MetaState } from "../meta/mod.ts";
import type { BlockChannel, Channels } from "./channels.ts";
import type { BlockHeader } from "./block_protocol.ts";
import { PeerHealth } from "./peer_health.ts";
import { type ReadContext, readPieces } from "./reader.ts";

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
function only(answer: (header: BlockHeader) => Promise<Uint8Array>): BlockChannel {
  const unused = () => Promise.reject(new Error("not used by reads"));
  return {
    node: "a",
    read: answer,
    write: unused,
    punch: unused,
    flush: unused,
    fence: unused,
    exportBlock: unused,
    pull: unused,
  };
}

/** Every node's channel reads as `answer` says. */
function channel(answer: (header: BlockHeader) => Promise<Uint8Array>): Channels {
  const to = only(answer);
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

Deno.test("readPieces() answers one piece per block segment: the channels' own buffers", async () => {
  const answered: Uint8Array[] = [];
  const read = (header: BlockHeader) => {
    const data = new Uint8Array(header.length).fill(header.block + 1);
    answered.push(data);
    return Promise.resolve(data);
  };
  const pieces = await readPieces(context(channel(read)), image(), BLOCK / 2, 2 * BLOCK);
  assert.deepEqual(pieces.map((piece) => piece.length), [BLOCK / 2, BLOCK, BLOCK / 2]);
  assert.deepEqual(pieces.map((piece) => piece[0]), [1, 2, 3]);
  pieces.forEach((piece, index) => assert.equal(piece, answered[index], "not copied"));
});

Deno.test("readPieces() settles only after every segment, even when one fails first", async () => {
  let releaseSlow = () => {};
  const slowRequested = Promise.withResolvers<void>();
  const read = (header: BlockHeader) => {
    if (header.block === 0) return Promise.reject(new UkaiError("IO", "disk error"));
    slowRequested.resolve();
    return new Promise<Uint8Array>((resolve) => {
      releaseSlow = () => resolve(new Uint8Array(header.length).fill(9));
    });
  };
  let settled = false;
  const reading = readPieces(context(channel(read)), image(), 0, 2 * BLOCK).finally(() => {
    settled = true;
  });
  await slowRequested.promise;
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(settled, false, "the read settled while a segment was still in flight");
  releaseSlow();
  await assert.rejects(reading, (error: unknown) => {
    assert.ok(error instanceof UkaiError);
    assert.equal(error.code, "NO_IN_SYNC_LOCATION");
    return true;
  });
});

Deno.test("readPieces() skips a copy that answers with the wrong length for the next one", async () => {
  const short = (header: BlockHeader) => Promise.resolve(new Uint8Array(header.length - 1));
  const right = (header: BlockHeader) => Promise.resolve(new Uint8Array(header.length).fill(7));
  const channels: Channels = { to: (node) => node === "a" ? only(short) : only(right) };
  const pieces = await readPieces(
    { ...context(channels), copiesOf: () => ["a", "b"] },
    image(),
    0,
    100,
  );
  assert.equal(pieces.length, 1);
  assert.equal(pieces[0]!.length, 100);
  assert.equal(pieces[0]![99], 7, "served by the second copy");
});
