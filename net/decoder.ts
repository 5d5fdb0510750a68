/**
 * An incremental frame decoder: a pure state machine over the byte stream of
 * one connection. It accepts any split of the stream, checks each header
 * (CRC-32, fields, body limit) before it trusts the body length, and checks the
 * body CRC-32 once the body is complete. A large body's CRC is computed piece
 * by piece as the pieces arrive, so that checking it does not add a pass over
 * the whole body between its last byte and its delivery. Bodies are copied
 * once, into their own buffer (from a {@link BodyPool} when one is given and
 * the size is pooled); a reader may even receive a large body straight into
 * that buffer through {@link FrameDecoder.bodyTarget}.
 *
 * States: header (collecting 32 bytes) → body (collecting `bodySize` bytes) →
 * ready (one frame waiting for {@link FrameDecoder.take}) → header …, and
 * failed (terminal) from header or body.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { crc32 } from "../base/checksum.ts";
import type { BodyPool } from "./body_pool.ts";
import {
  decodeFrameHeader,
  type Frame,
  FRAME_HEADER_SIZE,
  frameBodyInvalid,
  type FrameHeader,
} from "./frame.ts";

const EMPTY_BODY = new Uint8Array(0);
/** Bodies from this size on are checksummed as they arrive; smaller ones in one pass at the end. */
const INCREMENTAL_CHECKSUM_BYTES_MIN = 64 * 1024;

/**
 * Decodes frames from a byte stream fed in pieces of any size.
 *
 * @example
 * ```ts
 * import { FrameDecoder } from "./decoder.ts";
 * import { encodeFrame } from "./frame.ts";
 * const bytes = encodeFrame({ kind: "one-way", type: 100, requestId: 0, status: 0 }, [
 *   new Uint8Array([1, 2, 3]),
 * ]);
 * const decoder = new FrameDecoder({ bodySizeMax: 1024 });
 * let offset = 0;
 * while (offset < bytes.length) offset += decoder.feed(bytes.subarray(offset, offset + 1));
 * const frame = decoder.take();
 * if (frame === null || frame.body.length !== 3) throw new Error("not decoded");
 * ```
 */
export class FrameDecoder {
  #bodySizeMax: number;
  readonly #bodies: BodyPool | undefined;
  /** Invariant: `#headerFilled <= FRAME_HEADER_SIZE`. */
  readonly #header = new Uint8Array(FRAME_HEADER_SIZE);
  #headerFilled = 0;
  /** The parsed header whose body is being collected. Invariant: set iff `#body` is. */
  #current: FrameHeader | null = null;
  #body: Uint8Array | null = null;
  /** Invariant: `#bodyFilled <= #body.length`. */
  #bodyFilled = 0;
  /** CRC-32 of `#body[0, #bodyFilled)` when the body is checksummed as it arrives. */
  #bodyChecksum = 0;
  #ready: Frame | null = null;
  #failure: string | null = null;

  /**
   * Creates a decoder that refuses bodies larger than `options.bodySizeMax`
   * and takes body buffers from `options.bodies` when given.
   */
  constructor(options: { bodySizeMax: number; bodies?: BodyPool }) {
    assert(Number.isSafeInteger(options.bodySizeMax) && options.bodySizeMax >= 0);
    this.#bodySizeMax = options.bodySizeMax;
    this.#bodies = options.bodies;
  }

  /** The body limit applied to headers decoded from now on. */
  get bodySizeMax(): number {
    return this.#bodySizeMax;
  }

  /** Changes the body limit (the transport raises it once the handshake is done). */
  set bodySizeMax(value: number) {
    assert(Number.isSafeInteger(value) && value >= 0);
    this.#bodySizeMax = value;
  }

  /** Why the stream was refused, or null. Once set, the decoder accepts nothing more. */
  get failure(): string | null {
    return this.#failure;
  }

  /** True at a frame boundary: no partial header or body is held (a clean place for EOF). */
  get atBoundary(): boolean {
    return this.#headerFilled === 0 && this.#body === null && this.#ready === null;
  }

  /**
   * Consumes bytes from `bytes` until one frame is complete or `bytes` is
   * used up, and returns how many it consumed. Consumes nothing while a frame
   * waits to be taken or after a failure; the caller then calls
   * {@link take} or checks {@link failure}.
   */
  feed(bytes: Uint8Array): number {
    let consumed = 0;
    while (consumed < bytes.length && this.#ready === null && this.#failure === null) {
      if (this.#body === null) {
        consumed += this.#feedHeader(bytes.subarray(consumed));
      } else {
        const count = Math.min(bytes.length - consumed, this.#body.length - this.#bodyFilled);
        this.#body.set(bytes.subarray(consumed, consumed + count), this.#bodyFilled);
        consumed += count;
        this.#bodyAdvanced(count);
      }
    }
    assert(consumed <= bytes.length);
    this.#invariants();
    return consumed;
  }

  /** The complete frame, if one is ready; taking it lets decoding go on. */
  take(): Frame | null {
    const frame = this.#ready;
    this.#ready = null;
    return frame;
  }

  /**
   * The still-empty tail of the body being collected, when at least
   * `minimumBytes` are missing: the reader may read into it directly and then
   * call {@link bodyFilled}. Null otherwise (read into a buffer and {@link feed}).
   */
  bodyTarget(minimumBytes: number): Uint8Array | null {
    if (this.#body === null || this.#failure !== null || this.#ready !== null) return null;
    const missing = this.#body.length - this.#bodyFilled;
    if (missing < minimumBytes || missing === 0) return null;
    return this.#body.subarray(this.#bodyFilled);
  }

  /** Records that `byteCount` bytes were written into the last {@link bodyTarget}. */
  bodyFilled(byteCount: number): void {
    assert(this.#body !== null, "bodyFilled() without a body in progress");
    assert(Number.isSafeInteger(byteCount) && byteCount >= 0);
    assert(this.#bodyFilled + byteCount <= this.#body.length, "bodyFilled() past the body end");
    this.#bodyAdvanced(byteCount);
    this.#invariants();
  }

  #feedHeader(bytes: Uint8Array): number {
    const count = Math.min(bytes.length, FRAME_HEADER_SIZE - this.#headerFilled);
    this.#header.set(bytes.subarray(0, count), this.#headerFilled);
    this.#headerFilled += count;
    if (this.#headerFilled < FRAME_HEADER_SIZE) return count;
    const header = decodeFrameHeader(this.#header, { bodySizeMax: this.#bodySizeMax });
    if (typeof header === "string") {
      this.#failure = header;
      return count;
    }
    this.#headerFilled = 0;
    if (header.bodySize === 0) {
      this.#ready = { header, body: EMPTY_BODY };
    } else {
      this.#current = header;
      this.#body = this.#bodies?.take(header.bodySize) ?? new Uint8Array(header.bodySize);
      this.#bodyFilled = 0;
      this.#bodyChecksum = 0;
    }
    return count;
  }

  #bodyAdvanced(count: number): void {
    assert(this.#body !== null && this.#current !== null);
    const incremental = this.#body.length >= INCREMENTAL_CHECKSUM_BYTES_MIN;
    if (incremental) {
      const arrived = this.#body.subarray(this.#bodyFilled, this.#bodyFilled + count);
      this.#bodyChecksum = crc32(arrived, this.#bodyChecksum);
    }
    this.#bodyFilled += count;
    if (this.#bodyFilled < this.#body.length) return;
    const known = incremental ? this.#bodyChecksum : undefined;
    const reason = frameBodyInvalid(this.#current, this.#body, known);
    if (reason !== null) {
      this.#failure = reason;
    } else {
      this.#ready = { header: this.#current, body: this.#body };
    }
    this.#current = null;
    this.#body = null;
    this.#bodyFilled = 0;
  }

  #invariants(): void {
    assert(this.#headerFilled <= FRAME_HEADER_SIZE);
    assert((this.#body === null) === (this.#current === null));
    if (this.#body !== null) {
      assert(this.#bodyFilled < this.#body.length);
      assert(this.#headerFilled === 0);
    }
    if (this.#ready !== null) assert(this.#ready.body.length === this.#ready.header.bodySize);
  }
}
