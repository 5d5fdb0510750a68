/**
 * Tests of the coalescing writer against fake sinks: small frames share one
 * write, large parts are written from their own memory, partial writes keep
 * the stream intact, cancelled frames are skipped, errors are reported once.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Rng } from "../base/rng.ts";
import { FrameDecoder } from "./decoder.ts";
import { encodeFrameHeader, type Frame } from "./frame.ts";
import { type ByteSink, FrameWriter, type OutboundFrame, outboundFrame } from "./frame_writer.ts";

function frame(requestId: number, parts: Uint8Array[]): OutboundFrame {
  return outboundFrame(
    encodeFrameHeader({ kind: "request", type: 100, requestId, status: 0 }, parts),
    parts,
  );
}

/** A sink that records each write; `accept` caps how much one write takes. */
function recordingSink(
  accept = Infinity,
): ByteSink & { writes: Uint8Array[]; buffers: ArrayBufferLike[] } {
  const writes: Uint8Array[] = [];
  const buffers: ArrayBufferLike[] = [];
  return {
    writes,
    buffers,
    write(bytes) {
      const count = Math.min(bytes.length, accept);
      // Copy: the writer reuses its coalescing buffer once a write completes.
      writes.push(bytes.slice(0, count));
      buffers.push(bytes.buffer);
      return Promise.resolve(count);
    },
  };
}

function decodeAll(writes: readonly Uint8Array[]): Frame[] {
  const decoder = new FrameDecoder({ bodySizeMax: 1 << 24 });
  const frames: Frame[] = [];
  for (const chunk of writes) {
    let offset = 0;
    while (offset < chunk.length) {
      offset += decoder.feed(chunk.subarray(offset));
      assertEquals(decoder.failure, null);
      const taken = decoder.take();
      if (taken !== null) frames.push(taken);
    }
  }
  return frames;
}

function writer(sink: ByteSink, done: OutboundFrame[] = [], errors: unknown[] = []) {
  return new FrameWriter(sink, {
    frameCountMax: 64,
    onFrameDone: (written) => done.push(written),
    onError: (error) => errors.push(error),
  });
}

Deno.test("FrameWriter coalesces small frames queued in one microtask into one write", async () => {
  const sink = recordingSink();
  const done: OutboundFrame[] = [];
  const frames = writer(sink, done);
  for (let id = 1; id <= 20; id++) {
    assertEquals(frames.enqueue(frame(id, [new Uint8Array(100)])), "ok");
  }
  assertEquals(sink.writes.length, 0);
  await frames.idle();
  assertEquals(sink.writes.length, 1);
  assertEquals(done.length, 20);
  assertEquals(
    decodeAll(sink.writes).map((f) => f.header.requestId),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  assertEquals(frames.queuedBytes, 0);
});

Deno.test("FrameWriter writes large parts from their own memory, without copying", async () => {
  const sink = recordingSink();
  const big = new Rng(1).fill(new Uint8Array(1 << 20));
  const frames = writer(sink);
  frames.enqueue(frame(1, [Uint8Array.of(1, 2), big]));
  await frames.idle();
  assert(sink.buffers.includes(big.buffer), "large part was copied");
  const [decoded] = decodeAll(sink.writes);
  assertEquals(decoded?.body.subarray(2), big);
});

Deno.test("FrameWriter keeps the stream intact across partial writes (seeded)", async () => {
  const rng = new Rng(2);
  const sink = recordingSink(777);
  const frames = writer(sink);
  const bodies = Array.from({ length: 30 }, () => rng.fill(new Uint8Array(rng.int(200_000))));
  bodies.forEach((body, index) => frames.enqueue(frame(index + 1, [body])));
  await frames.idle();
  const decoded = decodeAll(sink.writes);
  assertEquals(decoded.map((f) => f.body), bodies);
});

Deno.test("FrameWriter skips a cancelled frame and reports it", async () => {
  const sink = recordingSink();
  const outcomes: string[] = [];
  const frames = new FrameWriter(sink, {
    frameCountMax: 8,
    onFrameDone: (written, outcome) => outcomes.push(`${written.parts.length}:${outcome}`),
    onError: (error) => {
      throw error;
    },
  });
  const cancelled = frame(1, [Uint8Array.of(1)]);
  frames.enqueue(cancelled);
  frames.enqueue(frame(2, []));
  cancelled.cancelled = true;
  await frames.idle();
  assertEquals(outcomes, ["1:skipped", "0:written"]);
  assertEquals(decodeAll(sink.writes).map((f) => f.header.requestId), [2]);
});

Deno.test("FrameWriter refuses frames past its capacity and after close", () => {
  const frames = new FrameWriter(recordingSink(), {
    frameCountMax: 2,
    onFrameDone: () => {},
    onError: () => {},
  });
  assertEquals(frames.enqueue(frame(1, [])), "ok");
  assertEquals(frames.enqueue(frame(2, [])), "ok");
  assertEquals(frames.enqueue(frame(3, [])), "full");
  frames.close();
  assertEquals(frames.enqueue(frame(4, [])), "closed");
  assertEquals(frames.queuedFrames, 0);
});

Deno.test("FrameWriter reports a write error once and stops", async () => {
  const errors: unknown[] = [];
  const failing: ByteSink = { write: () => Promise.reject(new Error("broken pipe")) };
  const frames = writer(failing, [], errors);
  frames.enqueue(frame(1, []));
  frames.enqueue(frame(2, []));
  await frames.idle();
  assertEquals(errors.length, 1);
});

Deno.test("FrameWriter starts at once when queued bytes pass the flush threshold", () => {
  const sink = recordingSink();
  const frames = writer(sink);
  frames.enqueue(frame(1, [new Uint8Array(70_000)]));
  assert(sink.writes.length > 0, "did not start synchronously");
});
