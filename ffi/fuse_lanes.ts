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
 * pointers, while the lane waits. Replies go out on the lane's fd (libfuse
 * replies through the request's session), from whichever thread answers. A
 * forwarded WRITE keeps its lane buffer until its reply.
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
import { type CallbackName, CallbackSignature } from "./libfuse.ts";

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
  /** Set by the main thread once a forwarded call has been dispatched. */
  ack: 0,
  /** Set by the main thread: leave the loop. */
  stop: 1,
  /** Bumped by the main thread whenever it gives a lane buffer back. */
  freed: 2,
  /** From here on, one cell per receive buffer: 1 while the main thread holds it. */
  held: 3,
} as const;

/** Receive buffers per lane: at most this many of its WRITEs wait for the main thread. */
export const LANE_BUFFERS = 8;

/** The main thread's first message to a lane. */
export interface LaneStart {
  readonly type: "start";
  readonly lane: number;
  readonly sessionFd: number;
  readonly control: SharedArrayBuffer;
  readonly connection: ConnectionInfo;
  readonly limits: BackgroundLimits;
  readonly args: MountArguments;
  /** The operations the main thread implements (the lane installs these and no others). */
  readonly operations: readonly CallbackName[];
  readonly fastPath?: { module: string; config: unknown } | undefined;
}

/** A call forwarded to the main thread; pointers travel as their addresses. */
export interface LaneCall {
  readonly type: "call";
  readonly op: CallbackName;
  readonly args: readonly (number | bigint | null)[];
  /** The lane buffer a WRITE's payload lies in (-1 for other operations). */
  readonly buffer: number;
}

/** What a lane tells the main thread. */
export type LaneMessage =
  | { readonly type: "ready" }
  | { readonly type: "failed"; readonly error: string }
  | LaneCall
  | { readonly type: "ended" }
  | { readonly type: "destroyed" };

/** The main thread's side of a forwarded call. */
export interface LaneHost {
  /** Runs the callback of `op` with `args` (pointers restored); `release` frees a WRITE's lane buffer. */
  dispatch(op: CallbackName, args: unknown[], release: (() => void) | undefined): void;
}

/** Pointers back from their addresses, per the callback's C signature. */
export function restoreArgs(call: LaneCall): unknown[] {
  const parameters = CallbackSignature[call.op].parameters as readonly string[];
  assert(parameters.length === call.args.length, `${call.op}: wrong argument count`);
  return call.args.map((value, index) =>
    parameters[index] === "pointer"
      ? (value === null ? null : Deno.UnsafePointer.create(BigInt(value)))
      : value
  );
}

interface Lane {
  readonly worker: Worker;
  readonly control: Int32Array<SharedArrayBuffer>;
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
    start: Omit<LaneStart, "type" | "lane" | "control" | "fastPath">,
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
    start: Omit<LaneStart, "type" | "lane" | "control">,
    host: LaneHost,
  ): Promise<void> {
    const control = new Int32Array(
      new SharedArrayBuffer((LaneControl.held + LANE_BUFFERS) * Int32Array.BYTES_PER_ELEMENT),
    );
    const worker = new Worker(new URL("./fuse_lane_worker.ts", import.meta.url), {
      type: "module",
    });
    const lane: Lane = {
      worker,
      control,
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
          lane.ended.resolve();
          return lane.destroyed.resolve();
        case "call":
          return this.#dispatch(lane, message, host);
        case "ended":
          return lane.ended.resolve();
        case "destroyed":
          return lane.destroyed.resolve();
      }
    };
    // A lane that throws outside its guards has a bug: like the JS thread, it takes the process down.
    worker.onerror = (event) => {
      this.#logger.error("FUSE lane crashed", { lane: index, error: event.message });
    };
    worker.postMessage({ ...start, type: "start", lane: index, control: control.buffer });
    return ready.promise;
  }

  #dispatch(lane: Lane, call: LaneCall, host: LaneHost): void {
    this.#forwarded++;
    const release = call.buffer < 0 ? undefined : () => {
      Atomics.store(lane.control, LaneControl.held + call.buffer, 0);
      Atomics.add(lane.control, LaneControl.freed, 1);
      Atomics.notify(lane.control, LaneControl.freed);
    };
    try {
      host.dispatch(call.op, restoreArgs(call), release);
    } finally {
      Atomics.store(lane.control, LaneControl.ack, 1);
      Atomics.notify(lane.control, LaneControl.ack);
    }
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
