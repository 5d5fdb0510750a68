/**
 * The outbound half of a connection: a bounded queue of encoded frames and a
 * single write loop. Small frames queued within one microtask (or until
 * {@link FLUSH_THRESHOLD_BYTES} are queued) are copied into one buffer and go
 * out in one socket write; body parts of {@link DIRECT_WRITE_BYTES_MIN} bytes
 * or more are written from their own memory, never concatenated. The sink is a
 * narrow port, so tests drive the writer without sockets.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { FRAME_HEADER_SIZE } from "./frame.ts";
import { COALESCE_BUFFER_SIZE, DIRECT_WRITE_BYTES_MIN, FLUSH_THRESHOLD_BYTES } from "./limits.ts";
import { RingBuffer } from "./ring_buffer.ts";

/** Where the writer puts bytes: a socket, or a fake in tests. Returns bytes accepted (≥ 1). */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<number>;
}

/** One encoded frame waiting to be written. */
export interface OutboundFrame {
  /** The 32-byte encoded header. */
  readonly header: Uint8Array;
  /** The body, in pieces; they must not change until the frame is written. */
  readonly parts: readonly Uint8Array[];
  /** Header plus body bytes. Invariant: equals the sum of the lengths above. */
  readonly byteCount: number;
  /** Whether the frame counts against its owner's budget (handshake frames do not). */
  readonly budgeted: boolean;
  /** Set by the owner (e.g. the request timed out); a frame not yet started is then skipped. */
  cancelled: boolean;
}

/** Builds an {@link OutboundFrame}, computing its byte count. */
export function outboundFrame(
  header: Uint8Array,
  parts: readonly Uint8Array[],
  budgeted = true,
): OutboundFrame {
  assert(header.length === FRAME_HEADER_SIZE);
  let byteCount = header.length;
  for (const part of parts) byteCount += part.length;
  return { header, parts, byteCount, budgeted, cancelled: false };
}

/** How a queued frame left the queue. */
export type FrameOutcome = "written" | "skipped";

/** Callbacks and bounds of a {@link FrameWriter}. */
export interface FrameWriterOptions {
  /** Most frames queued at once. */
  readonly frameCountMax: number;
  /** Called once per frame when its last byte was accepted by the sink, or when it was skipped. */
  readonly onFrameDone: (frame: OutboundFrame, outcome: FrameOutcome) => void;
  /** Called once with the first write error; the writer then stops. */
  readonly onError: (error: unknown) => void;
}

/**
 * Coalescing frame writer.
 *
 * @example
 * ```ts
 * import { FrameWriter, outboundFrame } from "./frame_writer.ts";
 * import { encodeFrameHeader } from "./frame.ts";
 * const written: Uint8Array[] = [];
 * const sink = { write: (bytes: Uint8Array) => (written.push(bytes.slice()), Promise.resolve(bytes.length)) };
 * const writer = new FrameWriter(sink, {
 *   frameCountMax: 8,
 *   onFrameDone: () => {},
 *   onError: (error) => { throw error; },
 * });
 * for (let id = 1; id <= 3; id++) {
 *   const header = encodeFrameHeader({ kind: "request", type: 100, requestId: id, status: 0 }, []);
 *   writer.enqueue(outboundFrame(header, []));
 * }
 * await writer.idle();
 * if (written.length !== 1 || written[0]!.length !== 96) throw new Error("not coalesced");
 * ```
 */
export class FrameWriter {
  readonly #sink: ByteSink;
  readonly #options: FrameWriterOptions;
  readonly #queue: RingBuffer<OutboundFrame>;
  /** Invariant: the sum of `byteCount` over the queue. */
  #queuedBytes = 0;
  #coalesce: Uint8Array | null = null;
  #state: "idle" | "scheduled" | "writing" = "idle";
  #closed = false;
  #idleWaiters: (() => void)[] = [];
  #bytesWritten = 0;
  #framesWritten = 0;

  /** Creates a writer that writes to `sink`. */
  constructor(sink: ByteSink, options: FrameWriterOptions) {
    this.#sink = sink;
    this.#options = options;
    this.#queue = new RingBuffer(options.frameCountMax);
  }

  /** Frames waiting to be written. */
  get queuedFrames(): number {
    return this.#queue.length;
  }

  /** Bytes waiting to be written. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Bytes the sink accepted so far. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** Frames completely written so far. */
  get framesWritten(): number {
    return this.#framesWritten;
  }

  /** Queues `frame`; "full" when {@link FrameWriterOptions.frameCountMax} frames wait already. */
  enqueue(frame: OutboundFrame): "ok" | "full" | "closed" {
    if (this.#closed) return "closed";
    if (this.#queue.push(frame) === "full") return "full";
    this.#queuedBytes += frame.byteCount;
    if (this.#state === "idle") {
      if (this.#queuedBytes >= FLUSH_THRESHOLD_BYTES) {
        this.#start();
      } else {
        this.#state = "scheduled";
        queueMicrotask(() => this.#start());
      }
    }
    return "ok";
  }

  /** Resolves once nothing is queued or being written (or the writer is closed). */
  idle(): Promise<void> {
    if (this.#state === "idle" || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops writing and drops the queue; the owner settles whatever the frames stood for. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.drain();
    this.#queuedBytes = 0;
    this.#becomeIdle();
  }

  #start(): void {
    if (this.#state === "writing" || this.#closed) return;
    this.#state = "writing";
    this.#run().then(
      () => {
        this.#becomeIdle();
        if (this.#queue.length > 0 && !this.#closed) this.#start();
      },
      (error: unknown) => {
        this.#becomeIdle();
        if (!this.#closed) this.#options.onError(error);
      },
    );
  }

  #becomeIdle(): void {
    this.#state = "idle";
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Writes until the queue is empty. Frames copied into the buffer complete when it is written. */
  async #run(): Promise<void> {
    const coalesce = this.#coalesce ??= new Uint8Array(COALESCE_BUFFER_SIZE);
    const copied: OutboundFrame[] = []; // bounded by the queue capacity
    let used = 0;
    const flush = async () => {
      if (used > 0) await this.#writeAll(coalesce.subarray(0, used));
      used = 0;
      for (const frame of copied) this.#frameDone(frame, "written");
      copied.length = 0;
    };
    for (let frame = this.#queue.shift(); frame !== undefined; frame = this.#queue.shift()) {
      if (this.#closed) return;
      this.#queuedBytes -= frame.byteCount;
      if (frame.cancelled) {
        this.#options.onFrameDone(frame, "skipped");
        continue;
      }
      for (let index = -1; index < frame.parts.length; index++) {
        const piece = index === -1 ? frame.header : frame.parts[index] as Uint8Array;
        if (piece.length >= DIRECT_WRITE_BYTES_MIN) {
          await flush();
          await this.#writeAll(piece);
        } else {
          if (used + piece.length > coalesce.length) await flush();
          coalesce.set(piece, used);
          used += piece.length;
        }
        if (this.#closed) return;
      }
      if (used === 0) this.#frameDone(frame, "written");
      else copied.push(frame);
      if (this.#queue.length === 0) await flush();
    }
    await flush();
    assert(this.#closed || this.#queue.length > 0 || this.#queuedBytes === 0);
  }

  #frameDone(frame: OutboundFrame, outcome: FrameOutcome): void {
    if (this.#closed) return;
    this.#framesWritten++;
    this.#options.onFrameDone(frame, outcome);
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      if (this.#closed) return;
      const count = await this.#sink.write(bytes.subarray(offset));
      assert(count > 0 && offset + count <= bytes.length, "sink accepted an impossible count");
      offset += count;
      this.#bytesWritten += count;
    }
  }
}
