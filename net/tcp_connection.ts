/**
 * One socket carrying frames: a read loop that feeds a {@link FrameDecoder}
 * (reading large bodies straight into their buffer) and hands each frame to
 * the current handler, a {@link FrameWriter} for the other direction, counters,
 * and an idempotent close. Reading pauses on request, which is how an inbound
 * connection pushes back on a peer that sends faster than handlers finish.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Clock } from "../base/clock.ts";
import { describeError } from "../base/errors.ts";
import type { BodyPool } from "./body_pool.ts";
import { FrameDecoder } from "./decoder.ts";
import type { Frame } from "./frame.ts";
import { type FrameOutcome, FrameWriter, type OutboundFrame } from "./frame_writer.ts";
import {
  DIRECT_READ_BYTES_MIN,
  FRAMES_QUEUED_PER_CONNECTION_MAX,
  HANDSHAKE_BODY_SIZE_MAX,
  READ_BUFFER_SIZE,
} from "./limits.ts";

/** The socket operations a connection needs; `Deno.Conn` and `Deno.TlsConn` have them. */
export interface Socket {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

/** Traffic counters of one connection. */
export interface ConnectionCounters {
  bytesSent: number;
  bytesReceived: number;
  framesSent: number;
  framesReceived: number;
  /** Wall-clock milliseconds of the last bytes received, or null. */
  lastReceiveMs: number | null;
}

/** Counters of a connection that has not carried anything. */
export const ZERO_COUNTERS: ConnectionCounters = Object.freeze({
  bytesSent: 0,
  bytesReceived: 0,
  framesSent: 0,
  framesReceived: 0,
  lastReceiveMs: null,
});

/** The sums of two sets of counters (the later last-receive time). */
export function addCounters(a: ConnectionCounters, b: ConnectionCounters): ConnectionCounters {
  const last = Math.max(a.lastReceiveMs ?? -1, b.lastReceiveMs ?? -1);
  return {
    bytesSent: a.bytesSent + b.bytesSent,
    bytesReceived: a.bytesReceived + b.bytesReceived,
    framesSent: a.framesSent + b.framesSent,
    framesReceived: a.framesReceived + b.framesReceived,
    lastReceiveMs: last < 0 ? null : last,
  };
}

/** What a {@link Connection} is built with. */
export interface ConnectionOptions {
  readonly clock: Clock;
  /** Called once when the connection closes, with the reason. */
  readonly onClose: (reason: string) => void;
  /** Called once per frame that left the write queue (the owner releases its byte budget). */
  readonly onFrameDone: (frame: OutboundFrame, outcome: FrameOutcome) => void;
  /** Where large bodies are received into. */
  readonly bodies: BodyPool;
}

/** A frame-carrying socket. Frames are refused until the owner sets a handler with {@link start}. */
export class Connection {
  readonly #socket: Socket;
  readonly #options: ConnectionOptions;
  readonly #decoder: FrameDecoder;
  readonly #writer: FrameWriter;
  #onFrame: ((frame: Frame) => void) | null = null;
  #closeReason: string | null = null;
  #paused: { promise: Promise<void>; resolve: () => void } | null = null;
  #readLoop: Promise<void> | null = null;
  readonly #closed: Promise<string>;
  #resolveClosed: (reason: string) => void = () => {};
  #bytesReceived = 0;
  #framesReceived = 0;
  #lastReceiveMs: number | null = null;

  /** Wraps `socket`; nothing is read until {@link start}. */
  constructor(socket: Socket, options: ConnectionOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#decoder = new FrameDecoder({
      bodySizeMax: HANDSHAKE_BODY_SIZE_MAX,
      bodies: options.bodies,
    });
    this.#closed = new Promise((resolve) => this.#resolveClosed = resolve);
    this.#writer = new FrameWriter({ write: (bytes) => socket.write(bytes) }, {
      frameCountMax: FRAMES_QUEUED_PER_CONNECTION_MAX,
      onFrameDone: options.onFrameDone,
      onError: (error) => this.close(`write failed: ${describeError(error)}`),
    });
  }

  /** Why the connection closed, or null while it is open. */
  get closeReason(): string | null {
    return this.#closeReason;
  }

  /** Resolves with the reason once the connection closes. */
  get closed(): Promise<string> {
    return this.#closed;
  }

  /** Whether the connection is still open. */
  get open(): boolean {
    return this.#closeReason === null;
  }

  /** Frames queued for writing. */
  get queuedFrames(): number {
    return this.#writer.queuedFrames;
  }

  /** Traffic so far. */
  counters(): ConnectionCounters {
    return {
      bytesSent: this.#writer.bytesWritten,
      bytesReceived: this.#bytesReceived,
      framesSent: this.#writer.framesWritten,
      framesReceived: this.#framesReceived,
      lastReceiveMs: this.#lastReceiveMs,
    };
  }

  /** Starts the read loop, handing every frame to `onFrame` (replaceable with {@link setFrameHandler}). */
  start(onFrame: (frame: Frame) => void): void {
    assert(this.#readLoop === null, "Connection.start() called twice");
    this.#onFrame = onFrame;
    this.#readLoop = this.#read();
  }

  /** Replaces the frame handler (after the handshake). */
  setFrameHandler(onFrame: (frame: Frame) => void): void {
    this.#onFrame = onFrame;
  }

  /** Sets the largest body accepted from now on (raised once the peer is authenticated). */
  setBodySizeMax(bodySizeMax: number): void {
    this.#decoder.bodySizeMax = bodySizeMax;
  }

  /** Queues a frame for writing. */
  send(frame: OutboundFrame): "ok" | "full" | "closed" {
    return this.#writer.enqueue(frame);
  }

  /** Stops reading after the current frame until {@link resumeReading}. */
  pauseReading(): void {
    if (this.#paused !== null) return;
    let resolve = () => {};
    const promise = new Promise<void>((done) => resolve = done);
    this.#paused = { promise, resolve };
  }

  /** Lets a paused read loop go on. */
  resumeReading(): void {
    const paused = this.#paused;
    this.#paused = null;
    paused?.resolve();
  }

  /** Resolves once the writer has nothing left to write. */
  flushed(): Promise<void> {
    return this.#writer.idle();
  }

  /** Closes the socket (once); queued frames are dropped and `onClose` is called. */
  close(reason: string): void {
    if (this.#closeReason !== null) return;
    this.#closeReason = reason;
    this.#writer.close();
    this.resumeReading();
    try {
      this.#socket.close();
    } catch (error) {
      // The socket may already be gone (the peer reset it); the connection is closed either way.
      assert(error instanceof Error, `socket close threw a non-error: ${String(error)}`);
    }
    this.#resolveClosed(reason);
    this.#options.onClose(reason);
  }

  /** Resolves when the read loop has ended (always after {@link close}). */
  async finished(): Promise<void> {
    if (this.#readLoop !== null) await this.#readLoop;
  }

  async #read(): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_SIZE);
    while (this.#closeReason === null) {
      const target = this.#decoder.bodyTarget(DIRECT_READ_BYTES_MIN);
      let count: number | null;
      try {
        count = await this.#socket.read(target ?? buffer);
      } catch (error) {
        this.close(`read failed: ${describeError(error)}`);
        return;
      }
      if (this.#closeReason !== null) return;
      if (count === null) {
        this.close(
          this.#decoder.atBoundary ? "peer closed the connection" : "peer closed mid-frame",
        );
        return;
      }
      this.#bytesReceived += count;
      this.#lastReceiveMs = this.#options.clock.wallMs();
      if (target !== null) {
        this.#decoder.bodyFilled(count);
        if (this.#deliver()) await this.#whilePaused();
      } else {
        let offset = 0;
        while (offset < count && this.#closeReason === null) {
          offset += this.#decoder.feed(buffer.subarray(offset, count));
          if (this.#deliver()) await this.#whilePaused();
        }
      }
    }
  }

  /**
   * Hands over the ready frame, if any, and closes on a decoding failure.
   * Returns true when the reader must wait (paused); synchronous otherwise, so
   * the common path costs no promise per frame.
   */
  #deliver(): boolean {
    const failure = this.#decoder.failure;
    if (failure !== null) {
      this.close(`invalid frame: ${failure}`);
      return false;
    }
    const frame = this.#decoder.take();
    if (frame !== null) {
      this.#framesReceived++;
      const onFrame = this.#onFrame;
      assert(onFrame !== null);
      onFrame(frame);
    }
    return this.#paused !== null && this.#closeReason === null;
  }

  async #whilePaused(): Promise<void> {
    while (this.#paused !== null && this.#closeReason === null) await this.#paused.promise;
  }
}
