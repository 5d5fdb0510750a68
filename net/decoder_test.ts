/**
 * Tests of the incremental decoder: every frame decoded byte by byte and at
 * every split point, every single-bit flip refused, a large body checksummed
 * as it arrives, seeded fuzzing, direct body reads and the body limit.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Rng } from "../base/rng.ts";
import { FrameDecoder } from "./decoder.ts";
import { encodeFrame, type Frame, type FrameHeaderFields } from "./frame.ts";
import { concatBytes } from "../base/bytes.ts";

const BODY_SIZE_MAX = 1 << 20;

interface Sample {
  readonly fields: FrameHeaderFields;
  readonly body: Uint8Array;
}

function samples(rng: Rng): Sample[] {
  const sizes = [0, 1, 2, 31, 32, 33, 100, 1000];
  const kinds = ["request", "response", "one-way"] as const;
  return sizes.map((size, index) => {
    const kind = kinds[index % 3] as (typeof kinds)[number];
    return {
      fields: {
        kind,
        type: 1 + rng.int(65535),
        requestId: kind === "one-way" ? 0 : 1 + rng.int(0xffff_fffe),
        status: kind === "response" ? rng.int(30) : 0,
      },
      body: rng.fill(new Uint8Array(size)),
    };
  });
}

function encode(sample: Sample): Uint8Array {
  return encodeFrame(sample.fields, sample.body.length === 0 ? [] : [sample.body]);
}

/** Feeds `chunks` in order and returns the frames and the failure, if any. */
function decodeChunks(chunks: Iterable<Uint8Array>, bodySizeMax = BODY_SIZE_MAX) {
  const decoder = new FrameDecoder({ bodySizeMax });
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    let offset = 0;
    while (offset < chunk.length && decoder.failure === null) {
      offset += decoder.feed(chunk.subarray(offset));
      const frame = decoder.take();
      if (frame !== null) frames.push(frame);
    }
  }
  return { frames, failure: decoder.failure, atBoundary: decoder.atBoundary };
}

function assertDecoded(frames: readonly Frame[], expected: readonly Sample[]): void {
  assertEquals(frames.length, expected.length);
  frames.forEach((frame, index) => {
    const sample = expected[index] as Sample;
    assertEquals(frame.header.kind, sample.fields.kind);
    assertEquals(frame.header.type, sample.fields.type);
    assertEquals(frame.header.requestId, sample.fields.requestId);
    assertEquals(frame.header.status, sample.fields.status);
    assertEquals(frame.body, sample.body);
  });
}

function* byteByByte(bytes: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i++) yield bytes.subarray(i, i + 1);
}

Deno.test("FrameDecoder decodes every frame fed one byte at a time", () => {
  const all = samples(new Rng(1));
  for (const sample of all) {
    const result = decodeChunks(byteByByte(encode(sample)));
    assertEquals(result.failure, null);
    assertDecoded(result.frames, [sample]);
    assert(result.atBoundary);
  }
  const stream = concatBytes(all.map(encode));
  assertDecoded(decodeChunks(byteByByte(stream)).frames, all);
});

Deno.test("FrameDecoder decodes a stream of frames split at every point", () => {
  const all = samples(new Rng(2));
  const stream = concatBytes(all.map(encode));
  for (let split = 0; split <= stream.length; split++) {
    const result = decodeChunks([stream.subarray(0, split), stream.subarray(split)]);
    assertEquals(result.failure, null, `split at ${split}`);
    assertDecoded(result.frames, all);
  }
});

Deno.test("FrameDecoder refuses every single-bit flip of header and body", () => {
  for (const sample of samples(new Rng(3))) {
    const bytes = encode(sample);
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const flipped = bytes.slice();
      flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
      const result = decodeChunks([flipped]);
      assertEquals(result.frames.length, 0, `bit ${bit} of a ${bytes.length}-byte frame accepted`);
      assert(result.failure !== null, `bit ${bit}: no failure reported`);
    }
  }
});

Deno.test("FrameDecoder round-trips random frames in random chunks (seeded fuzz)", () => {
  const seed = 20260901;
  const rng = new Rng(seed);
  for (let round = 0; round < 200; round++) {
    const frames: Sample[] = [];
    const count = 1 + rng.int(8);
    for (let i = 0; i < count; i++) {
      const sample = rng.pick(samples(rng));
      frames.push({ fields: sample.fields, body: rng.fill(new Uint8Array(rng.int(3000))) });
    }
    const stream = concatBytes(frames.map(encode));
    const chunks: Uint8Array[] = [];
    for (let offset = 0; offset < stream.length;) {
      const size = 1 + rng.int(rng.chance(0.5) ? 16 : 4096);
      chunks.push(stream.subarray(offset, offset + size));
      offset += size;
    }
    const result = decodeChunks(chunks);
    assertEquals(result.failure, null, `seed ${seed} round ${round}`);
    assertDecoded(result.frames, frames);
  }
});

Deno.test("FrameDecoder never accepts a frame from random garbage (seeded fuzz)", () => {
  const seed = 77;
  const rng = new Rng(seed);
  for (let round = 0; round < 2000; round++) {
    const garbage = rng.fill(new Uint8Array(1 + rng.int(200)));
    const result = decodeChunks([garbage]);
    assertEquals(result.frames.length, 0, `seed ${seed} round ${round}`);
    if (garbage.length >= 32) assert(result.failure !== null);
  }
});

Deno.test("FrameDecoder refuses a body over the limit before it arrives", () => {
  const bytes = encode({
    fields: { kind: "one-way", type: 100, requestId: 0, status: 0 },
    body: new Uint8Array(2048),
  });
  const result = decodeChunks([bytes.subarray(0, 32)], 1024);
  assertEquals(result.failure, "body of 2048 bytes exceeds 1024");
});

Deno.test("FrameDecoder lets a reader fill a large body directly", () => {
  const body = new Rng(5).fill(new Uint8Array(300_000));
  const bytes = encode({ fields: { kind: "response", type: 300, requestId: 9, status: 0 }, body });
  const decoder = new FrameDecoder({ bodySizeMax: BODY_SIZE_MAX });
  assertEquals(decoder.bodyTarget(1), null);
  assertEquals(decoder.feed(bytes.subarray(0, 100)), 100);
  let offset = 100;
  let directReads = 0;
  for (let target = decoder.bodyTarget(1000); target !== null; target = decoder.bodyTarget(1000)) {
    const count = Math.min(target.length, 65_536);
    target.set(bytes.subarray(offset, offset + count));
    decoder.bodyFilled(count);
    offset += count;
    directReads++;
  }
  assert(directReads >= 4);
  while (offset < bytes.length) offset += decoder.feed(bytes.subarray(offset));
  const frame = decoder.take();
  assert(frame !== null);
  assertEquals(frame.body, body);
  assert(decoder.atBoundary);
});

Deno.test("FrameDecoder checks a large body's CRC as it arrives: intact in any chunks, any flipped bit refused", () => {
  const rng = new Rng(8);
  const sample = {
    fields: { kind: "request", type: 300, requestId: 4, status: 0 } as const,
    body: rng.fill(new Uint8Array(200_000)),
  };
  const bytes = encode(sample);
  function* randomChunks(stream: Uint8Array): Generator<Uint8Array> {
    for (let offset = 0; offset < stream.length;) {
      const size = 1 + rng.int(40_000);
      yield stream.subarray(offset, offset + size);
      offset += size;
    }
  }
  const intact = decodeChunks(randomChunks(bytes));
  assertEquals(intact.failure, null);
  assertDecoded(intact.frames, [sample]);
  for (const position of [32, 32 + 65_536, 32 + 150_001, bytes.length - 1]) {
    const flipped = bytes.slice();
    flipped[position]! ^= 0x10;
    const outcome = decodeChunks(randomChunks(flipped));
    assertEquals(outcome.frames.length, 0, `flip at ${position} delivered a frame`);
    assertEquals(outcome.failure, "body checksum mismatch");
  }
});

Deno.test("FrameDecoder consumes nothing while a frame waits to be taken", () => {
  const sample = samples(new Rng(6))[3] as Sample;
  const stream = concatBytes([encode(sample), encode(sample)]);
  const decoder = new FrameDecoder({ bodySizeMax: BODY_SIZE_MAX });
  const first = decoder.feed(stream);
  assertEquals(first, encode(sample).length);
  assertEquals(decoder.feed(stream.subarray(first)), 0);
  assert(decoder.take() !== null);
  assertEquals(decoder.feed(stream.subarray(first)), stream.length - first);
  assert(decoder.take() !== null);
});
