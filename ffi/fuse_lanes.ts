/**
 * FUSE lanes: worker threads that read requests from clones of a session's
 * /dev/fuse fd, so requests are received, and the simple ones answered, on
 * more than one core. Each lane runs a libfuse session of its own on its
 * clone (`fuse_session_custom_io`, told of the negotiated protocol by a
 * synthetic INIT that the kernel never sees) in a synchronous loop.
 *
 * A lane first offers READ and WRITE to the application's fast path (a module
 * it imports, see {@link LaneFastPath}); whatever the fast path declines, and
 * every other operation, is forwarded to the main thread, which runs the same
 * operation callback it would have run for its own fd, with the lane's
 * pointers. The structs libfuse passes on its stack are first copied past the
 * end of the request's receive buffer, which stays lent to the main thread
 * until the reply, so the lane goes on receiving meanwhile. Replies go out on
 * the lane's fd (libfuse replies through the request's session), from
 * whichever thread answers.
 *
 * This file holds what both sides share and the main thread's side; the
 * worker is fuse_lane_worker.ts. Knows nothing of ukai.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Logger } from "../base/log.ts";
import type { MountArguments } from "./fuse_args.ts";
import type { BackgroundLimits } from "./fuse_negotiation.ts";
import type { ConnectionInfo } from "./fuse_types.ts";
import { RECEIVE_BUFFER_BYTES } from "./fuse_layout.ts";
import { type CallbackName, CallbackSignature } from "./libfuse.ts";
import { allocateReceiveBuffer, type ReceiveBuffer } from "./receive_pool.ts";

/**
 * What a lane asks of the application before forwarding a READ or WRITE.
 * Runs on the lane's thread, synchronously; must not throw after it has
 * changed anything.
 */
export interface LaneFastPath {
  /**
   * Reads `target.length` bytes at `offset` of open file `handle` into
   * `target`; returns the bytes read (fewer only at the end of the file), or
   * -1 to hand the request to the main thread.
   */
  read(handle: number, offset: number, target: Uint8Array<ArrayBuffer>): number;
  /** Writes `data` at `offset` of open file `handle`; false hands the request to the main thread. */
  write(handle: number, offset: number, data: Uint8Array<ArrayBuffer>): boolean;
}

/** A module a lane imports: it exports `createLaneFastPath(config)`. */
export interface LaneFastPathModule {
  createLaneFastPath(config: unknown): LaneFastPath;
}

/** Lanes a session runs. */
export interface LaneOptions {
  /** Worker threads (0: none). */
  count: number;
  /** The module URL of the fast path and its (structured-cloneable) config; none: forward everything. */
  fastPath?: { module: string; config: unknown };
}

/** Cells of a lane's control array (an Int32Array on a SharedArrayBuffer). */
export const LaneControl = {
  /** Set by the main thread: leave the loop. */
  stop: 0,
  /** Bumped by the main thread whenever it gives a lane buffer back. */
  freed: 1,
  /** Calls the lane has put in its ring (wrapping 32-bit count). */
  head: 2,
  /** Calls the main thread has taken from the ring. */
  tail: 3,
  /** From here on, one cell per receive buffer: 1 while the main thread holds it. */
  held: 4,
} as const;

/** Forwarded calls a lane's ring holds; a lane waits when it is full. */
export const RING_CALLS = 256;
/** BigInt64 cells per call in the ring: operation, buffer, then the arguments. */
export const RING_RECORD = 8;
/** Operations by their number in the ring. */
export const RING_OPERATIONS = Object.keys(CallbackSignature) as CallbackName[];

/** Receive buffers per lane: at most this many of its forwarded requests await their replies. */
export const LANE_BUFFERS = 16;
/** Room after each lane receive buffer for the copies of a forwarded call's stack structs. */
export const LANE_SCRATCH_BYTES = 512;
/** Bytes of each lane buffer: a receive buffer and its scratch room. */
export const LANE_BUFFER_BYTES = RECEIVE_BUFFER_BYTES + LANE_SCRATCH_BYTES;

/** The main thread's first message to a lane. */
export interface LaneStart {
  readonly type: "start";
  readonly lane: number;
  readonly sessionFd: number;
  readonly control: SharedArrayBuffer;
  /** The ring of forwarded calls (RING_CALLS records of RING_RECORD BigInt64 cells). */
  readonly ring: SharedArrayBuffer;
  /**
   * The native addresses of the lane's LANE_BUFFERS buffers of
   * LANE_BUFFER_BYTES each. The main thread allocates them, so it reads a
   * forwarded WRITE's payload through views it already has.
   */
  readonly buffers: readonly bigint[];
  readonly connection: ConnectionInfo;
  readonly limits: BackgroundLimits;
  readonly args: MountArguments;
  /** The operations the main thread implements (the lane installs these and no others). */
  readonly operations: readonly CallbackName[];
  readonly fastPath?: { module: string; config: unknown } | undefined;
}

/** What a lane tells the main thread (forwarded calls go through the ring). */
export type LaneMessage =
  | { readonly type: "ready" }
  | { readonly type: "failed"; readonly error: string }
  | { readonly type: "ended" }
  | { readonly type: "destroyed" };

/** The main thread's side of a forwarded call. */
export interface LaneHost {
  /**
   * Runs the callback of `op` with `args` (pointers restored), which point
   * into `buffer` (none for a call without one); `release` gives the buffer back.
   */
  dispatch(
    op: CallbackName,
    args: unknown[],
    buffer: ReceiveBuffer | undefined,
    release: () => void,
  ): void;
}

/**
 * The call in the ring record at `base`: its operation, its lane buffer
 * (-1: none) and its arguments as the callback takes them (pointers from
 * their addresses, 0 for NULL; 32-bit integers as numbers).
 */
export function readRingCall(
  ring: BigInt64Array<SharedArrayBuffer>,
  base: number,
): { op: CallbackName; buffer: number; args: unknown[] } {
  const op = RING_OPERATIONS[Number(ring[base])];
  assert(op !== undefined, "a lane put an unknown operation in its ring");
  const parameters = CallbackSignature[op].parameters as readonly string[];
  const args = parameters.map((type, index) => {
    const value = ring[base + 2 + index]!;
    if (type === "pointer") return value === 0n ? null : Deno.UnsafePointer.create(value);
    return type === "i32" || type === "u32" ? Number(value) : value;
  });
  return { op, buffer: Number(ring[base + 1]), args };
}

interface Lane {
  readonly worker: Worker;
  readonly control: Int32Array<SharedArrayBuffer>;
  readonly ring: BigInt64Array<SharedArrayBuffer>;
  /** The lane's receive buffers (kept alive here: the worker uses their memory). */
  readonly buffers: readonly ReceiveBuffer[];
  /** Set when the lane said it left its loop: the pump stops once the ring is empty. */
  done: boolean;
  readonly ended: PromiseWithResolvers<void>;
  readonly destroyed: PromiseWithResolvers<void>;
}

/** The lanes of one session, seen from the main thread. */
export class FuseLanes {
  readonly #lanes: Lane[] = [];
  readonly #logger: Logger;
  #forwarded = 0;

  private constructor(logger: Logger) {
    this.#logger = logger;
  }

  /**
   * Starts `options.count` lanes on `sessionFd` and resolves once each has its
   * clone and its session; rejects (having stopped the ones that started)
   * when one fails.
   */
  static async start(
    start: Omit<LaneStart, "type" | "lane" | "control" | "ring" | "buffers" | "fastPath">,
    options: LaneOptions,
    host: LaneHost,
    logger: Logger,
  ): Promise<FuseLanes> {
    const lanes = new FuseLanes(logger);
    const ready: Promise<void>[] = [];
    for (let index = 0; index < options.count; index++) {
      ready.push(lanes.#spawn(index, { ...start, fastPath: options.fastPath }, host));
    }
    const outcomes = await Promise.allSettled(ready);
    const failure = outcomes.find((outcome) => outcome.status === "rejected");
    if (failure !== undefined) {
      await lanes.stop();
      await lanes.destroy();
      throw (failure as PromiseRejectedResult).reason;
    }
    return lanes;
  }

  /** Lanes running. */
  get count(): number {
    return this.#lanes.length;
  }

  /** Calls the lanes handed to the main thread so far. */
  get forwarded(): number {
    return this.#forwarded;
  }

  #spawn(
    index: number,
    start: Omit<LaneStart, "type" | "lane" | "control" | "ring" | "buffers">,
    host: LaneHost,
  ): Promise<void> {
    const control = new Int32Array(
      new SharedArrayBuffer((LaneControl.held + LANE_BUFFERS) * Int32Array.BYTES_PER_ELEMENT),
    );
    const worker = new Worker(new URL("./fuse_lane_worker.ts", import.meta.url), {
      type: "module",
    });
    const ring = new BigInt64Array(
      new SharedArrayBuffer(RING_CALLS * RING_RECORD * BigInt64Array.BYTES_PER_ELEMENT),
    );
    const buffers = Array.from(
      { length: LANE_BUFFERS },
      () => allocateReceiveBuffer(LANE_BUFFER_BYTES),
    );
    const lane: Lane = {
      worker,
      control,
      ring,
      buffers,
      done: false,
      ended: Promise.withResolvers(),
      destroyed: Promise.withResolvers(),
    };
    this.#lanes.push(lane);
    const ready = Promise.withResolvers<void>();
    worker.onmessage = (event: MessageEvent<LaneMessage>) => {
      const message = event.data;
      switch (message.type) {
        case "ready":
          return ready.resolve();
        case "failed":
          ready.reject(new Error(`FUSE lane ${index} failed to start: ${message.error}`));
          lane.done = true;
          Atomics.notify(lane.control, LaneControl.head);
          return lane.destroyed.resolve();
        case "ended":
          lane.done = true;
          Atomics.notify(lane.control, LaneControl.head);
          return;
        case "destroyed":
          return lane.destroyed.resolve();
      }
    };
    // A lane that throws outside its guards has a bug: like the JS thread, it takes the process down.
    worker.onerror = (event) => {
      this.#logger.error("FUSE lane crashed", { lane: index, error: event.message });
    };
    worker.postMessage({
      ...start,
      type: "start",
      lane: index,
      control: control.buffer,
      ring: ring.buffer,
      buffers: buffers.map((buffer) => BigInt(buffer.address)),
    });
    void this.#pump(lane, host);
    return ready.promise;
  }

  /**
   * Runs the calls a lane puts in its ring, as many as are there at each
   * wake-up, until the lane has left its loop and the ring is empty.
   */
  async #pump(lane: Lane, host: LaneHost): Promise<void> {
    const { control, ring } = lane;
    for (;;) {
      const head = Atomics.load(control, LaneControl.head);
      let tail = Atomics.load(control, LaneControl.tail);
      while (tail !== head) {
        const call = readRingCall(ring, (tail & (RING_CALLS - 1)) * RING_RECORD);
        tail = (tail + 1) | 0;
        Atomics.store(control, LaneControl.tail, tail);
        Atomics.notify(control, LaneControl.tail);
        this.#dispatch(lane, call.op, call.args, call.buffer, host);
      }
      if (lane.done && Atomics.load(control, LaneControl.head) === tail) break;
      const waiting = Atomics.waitAsync(control, LaneControl.head, head);
      if (waiting.async) await waiting.value;
    }
    lane.ended.resolve();
  }

  #dispatch(lane: Lane, op: CallbackName, args: unknown[], buffer: number, host: LaneHost): void {
    this.#forwarded++;
    host.dispatch(op, args, lane.buffers[buffer], () => {
      if (buffer < 0) return;
      Atomics.store(lane.control, LaneControl.held + buffer, 0);
      Atomics.add(lane.control, LaneControl.freed, 1);
      Atomics.notify(lane.control, LaneControl.freed);
    });
  }

  /** Resolves once every lane has left its loop (the connection ended, or {@link stop}). */
  get ended(): Promise<void> {
    return Promise.all(this.#lanes.map((lane) => lane.ended.promise)).then(() => {});
  }

  /** Asks every lane to leave its loop and resolves once all have (no more calls come). */
  stop(): Promise<void> {
    for (const lane of this.#lanes) {
      Atomics.store(lane.control, LaneControl.stop, 1);
      Atomics.notify(lane.control, LaneControl.freed);
    }
    return this.ended;
  }

  /**
   * Destroys the lanes' sessions (closing their fds) and ends the workers.
   * Only after {@link stop} and once every forwarded request is answered.
   */
  async destroy(): Promise<void> {
    for (const lane of this.#lanes) lane.worker.postMessage({ type: "destroy" });
    await Promise.all(this.#lanes.map((lane) => lane.destroyed.promise));
    for (const lane of this.#lanes) lane.worker.terminate();
    this.#lanes.length = 0;
  }
}
