/** Tests of the per-peer read budget, alone and in a RemoteChannel over the memory transport. */

import assert from "node:assert/strict";
import { ManualClock } from "../base/clock.ts";
import { UkaiError } from "../base/errors.ts";
import { MemoryNetwork } from "../net/memory_transport.ts";
import type { Transport } from "../net/mod.ts";
import { type BlockHeader, BlockMessage, decodeBlockHeader } from "./block_protocol.ts";
import { RemoteChannel } from "./channels.ts";
import { ReadWindow } from "./read_window.ts";

const MiB = 1024 * 1024;

Deno.test("ReadWindow admits reads while their bytes fit, then in arrival order", async () => {
  const window = new ReadWindow(3 * MiB);
  assert.equal(window.acquire(MiB), undefined);
  assert.equal(window.acquire(2 * MiB), undefined);
  const admitted: string[] = [];
  const third = window.acquire(2 * MiB);
  const fourth = window.acquire(4096);
  assert.ok(third !== undefined && fourth !== undefined, "the window is full");
  void third.then(() => admitted.push("third"));
  void fourth.then(() => admitted.push("fourth"));
  assert.equal(window.waiting, 2);

  window.release(MiB);
  await Promise.resolve();
  // 2 MiB + 4 KiB would fit now, but the 4 KiB read does not overtake the one before it.
  assert.deepEqual(admitted, []);
  window.release(2 * MiB);
  await Promise.resolve();
  assert.deepEqual(admitted, ["third", "fourth"]);
  assert.equal(window.inFlightBytes, 2 * MiB + 4096);
  assert.equal(window.waiting, 0);
});

Deno.test("ReadWindow lets a read larger than the whole budget go alone", async () => {
  const window = new ReadWindow(MiB);
  assert.equal(window.acquire(4096), undefined);
  const big = window.acquire(8 * MiB);
  assert.ok(big !== undefined, "a big read waits while another is in flight");
  window.release(4096);
  await big;
  assert.equal(window.inFlightBytes, 8 * MiB);
  const next = window.acquire(4096);
  assert.ok(next !== undefined, "nothing joins a read that overflows the budget");
  window.release(8 * MiB);
  await next;
  assert.equal(window.inFlightBytes, 4096);
});

Deno.test("ReadWindow refuses a release it never admitted", () => {
  const window = new ReadWindow(MiB);
  assert.throws(() => window.release(4096), /did not admit/);
  assert.equal(window.acquire(4096), undefined);
  assert.throws(() => window.release(8192), /did not admit/);
});

function readHeader(block: number, length: number): BlockHeader {
  return { uid: 7, epoch: 1, block, offset: 0, length, flags: 0 };
}

Deno.test("RemoteChannel keeps at most its read window in flight, and frees it when a read fails", async () => {
  const network = new MemoryNetwork();
  const local = network.join("a");
  const peer = network.join("b");
  let serving = 0;
  let peak = 0;
  const gates: (() => void)[] = [];
  peer.handle(BlockMessage.read, async (_from, body) => {
    const { header } = decodeBlockHeader(body);
    serving++;
    peak = Math.max(peak, serving);
    await new Promise<void>((resolve) => gates.push(resolve));
    serving--;
    if (header.block === 2) throw new Error("disk error");
    return new Uint8Array(header.length).fill(header.block);
  });
  const timeouts: number[] = [];
  const recording: Transport = Object.create(local);
  recording.request = (target, type, body, options) => {
    timeouts.push(options?.timeoutMs ?? -1);
    return local.request(target, type, body, options);
  };
  // The clock ticks in fractions of a millisecond, as performance.now() does.
  const clock = new ManualClock(0.25);
  const channel = new RemoteChannel("b", recording, {
    timeoutMs: 5000,
    readWindowBytes: 2 * MiB,
    clock,
  });

  const reads = [0, 1, 2, 3, 4].map((block) =>
    channel.read(readHeader(block, MiB)).then(
      (data) => ({ block, byte: data[0], length: data.length }),
      (error: Error) => ({ block, failed: error.message.includes("disk error") }),
    )
  );
  const settled = [];
  while (settled.length < reads.length) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    const gate = gates.shift();
    if (gate === undefined) continue;
    assert.ok(serving <= 2, `${serving} reads in flight with a 2 MiB window`);
    clock.advance(0.5);
    gate();
    settled.push(gate);
  }
  const results = await Promise.all(reads);
  assert.equal(peak, 2);
  assert.equal(timeouts.length, 5);
  for (const timeoutMs of timeouts) {
    assert.ok(
      Number.isSafeInteger(timeoutMs) && timeoutMs > 0 && timeoutMs <= 5000,
      `${timeoutMs}`,
    );
  }
  assert.deepEqual(results, [
    { block: 0, byte: 0, length: MiB },
    { block: 1, byte: 1, length: MiB },
    { block: 2, failed: true },
    { block: 3, byte: 3, length: MiB },
    { block: 4, byte: 4, length: MiB },
  ]);
});

Deno.test("RemoteChannel counts the wait for the read window in a read's deadline", async () => {
  const network = new MemoryNetwork();
  const local = network.join("a");
  const peer = network.join("b");
  const clock = new ManualClock();
  const served: number[] = [];
  let answerFirst = () => {};
  peer.handle(BlockMessage.read, async (_from, body) => {
    const { header } = decodeBlockHeader(body);
    served.push(header.block);
    if (header.block === 0) await new Promise<void>((resolve) => answerFirst = resolve);
    return new Uint8Array(header.length);
  });
  const channel = new RemoteChannel("b", local, { timeoutMs: 5000, readWindowBytes: MiB, clock });

  const first = channel.read(readHeader(0, MiB));
  const queued = channel.read(readHeader(1, MiB)).then(() => null, (error: unknown) => error);
  await new Promise((resolve) => setTimeout(resolve, 1));
  assert.deepEqual(served, [0], "the second read waits for the window");
  // The peer hangs past the second read's deadline (the transport's own
  // timeout would end the first read about then).
  clock.advance(5000);
  answerFirst();
  await first;
  const error = await queued;
  assert.ok(error instanceof UkaiError && error.code === "TIMEOUT", `got ${String(error)}`);
  assert.deepEqual(served, [0], "a read past its deadline is not sent");
});
