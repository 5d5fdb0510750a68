/**
 * A mounted FUSE filesystem served on the JS thread. The session fd is in
 * O_NONBLOCK mode; the receive loop drains `fuse_session_receive_buf` +
 * `fuse_session_process_buf` until EAGAIN (operation callbacks run inside,
 * synchronously), then awaits a `poll` on a worker thread: one thread hop per
 * batch, not per request. When every request of a batch was answered on the
 * spot, it first keeps trying for a few microseconds, so a queue-depth-1
 * client does not pay that hop on each request. Handlers answer when they
 * like, so any number of requests can be in flight while network round trips
 * complete.
 *
 * With lanes (fuse_lanes.ts), worker threads receive on clones of the fd
 * once INIT is answered, and the JS thread runs only what they forward.
 *
 * Requests are received into a pool of buffers; a WRITE keeps its buffer until
 * its reply (its payload is handed over without a copy) and the loop stops
 * receiving while the pool is empty. `unmount()` stops cleanly: umount2 off the
 * JS thread, retried while the mount is busy, the loop ends on ENODEV, the
 * replies still owed are awaited, then the session is destroyed and only then
 * the callbacks closed.
 *
 * The process that serves a mount must never touch it synchronously from its
 * JS thread (a sync read, stat or `FsFile.close()` on a file in it): the call
 * blocks the very thread that would answer it. Knows nothing of ukai.
 *
 * @module
 */

import { assert, AssertionError } from "../base/assert.ts";
import { type Logger, stderrLogger } from "../base/log.ts";
import { Errno, errnoName } from "./errno.ts";
import { cString, PollEvents, pollFd, setNonBlocking, umount2 } from "./libc.ts";
import { libfuse } from "./libfuse.ts";
import {
  BufLayout,
  LowlevelOpsLayout,
  MAX_TRANSFER_BYTES,
  RECEIVE_BUFFER_BYTES,
} from "./fuse_layout.ts";
import { buildFuseArgs } from "./fuse_args.ts";
import { createOperationTable, type DispatchHost, type OperationTable } from "./fuse_dispatch.ts";
import type { FuseOperations } from "./fuse_operations.ts";
import type { FuseRequest, WriteRequest } from "./fuse_request.ts";
import {
  type BackgroundLimits,
  checkBackgroundLimits,
  negotiateConnection,
} from "./fuse_negotiation.ts";
import type { ConnectionInfo } from "./fuse_types.ts";
import { canonicalMountPoint, findMount, isFuseType } from "./mount_table.ts";
import { type ReceiveBuffer, ReceivePool } from "./receive_pool.ts";
import { FuseLanes, type LaneOptions } from "./fuse_lanes.ts";
import type { MountArguments } from "./fuse_args.ts";
import type { CallbackName } from "./libfuse.ts";
import { clearStaleMount, type StaleMountOutcome } from "./stale_mount.ts";

/** Options of {@link FuseSession.mount}. */
export interface FuseSessionOptions {
  /** The mount's source name (`df`, `/proc/mounts`); letters, digits and `_.:@+-`. */
  fsName: string;
  /** The mount's type becomes `fuse.SUBTYPE`. */
  subtype: string;
  /** Let other users in (default true). */
  allowOther?: boolean;
  /** Let the kernel check permission bits (default true). */
  defaultPermissions?: boolean;
  /** Background requests (async reads, direct I/O) the kernel may keep in flight (default 128). */
  maxBackground?: number;
  /** Background requests above which the kernel reports congestion (default ¾ of maxBackground). */
  congestionThreshold?: number;
  /** Receive buffers of 1 MiB + 4 KiB: at most this many WRITEs wait for replies at once (default 32). */
  receiveBuffers?: number;
  /**
   * After answering requests with nothing else in flight, how long to keep
   * looking for the next request on the JS thread before sleeping in poll
   * (default 20 µs; 0 disables). Cuts queue-depth-1 latency by the poll's
   * thread hops at the price of that much CPU per burst.
   */
  idleSpinMicroseconds?: number;
  /**
   * Worker threads that also receive and answer requests (fuse_lanes.ts);
   * default none. A lane that cannot start is logged and the session serves
   * on the JS thread alone.
   */
  lanes?: LaneOptions;
  /** Where failures are logged (default: stderr). */
  logger?: Logger;
}

/** Options of {@link FuseSession.unmount}. */
export interface UnmountOptions {
  /**
   * How long to retry while files are still open (EBUSY) before aborting the
   * connection, which fails every pending request with ECONNABORTED
   * (default 10 000 ms).
   */
  busyTimeoutMs?: number;
}

const DEFAULT_MAX_BACKGROUND = 128;
const DEFAULT_RECEIVE_BUFFERS = 32;
const DEFAULT_BUSY_TIMEOUT_MS = 10_000;
const DEFAULT_IDLE_SPIN_MICROSECONDS = 20;
/**
 * Requests processed before the loop polls again even without EAGAIN: the
 * poll's completion is a macrotask, so timers and other I/O get their turn
 * under a steady stream of requests.
 */
const BATCH_LIMIT = 128;
/** An idle poll wakes this often, so that an exit request is seen. */
const POLL_TIMEOUT_MS = 250;
const UNMOUNT_RETRY_MS = 20;

/** Why a drain stopped: nothing to read (or a full batch), no free buffer, or the session ended. */
type DrainOutcome = "idle" | "starved" | "exited";

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A mounted FUSE filesystem and its receive loop. */
export class FuseSession {
  /** The canonical mount point. */
  readonly mountPoint: string;
  readonly #operations: FuseOperations;
  readonly #logger: Logger;
  readonly #limits: BackgroundLimits;
  readonly #spinMs: number;
  readonly #table: OperationTable;
  readonly #pool: ReceivePool;
  readonly #fuseBuf = new Uint8Array(BufLayout.byteLength);
  readonly #fuseBufView = new DataView(this.#fuseBuf.buffer);
  #session: Deno.PointerObject | undefined;
  #fd = -1;
  #receiving: ReceiveBuffer | undefined;
  #receivingKept = false;
  #drained = 0;
  #inFlight = 0;
  #allReplied: (() => void) | undefined;
  #connection: ConnectionInfo | undefined;
  #loopEnded = false;
  #stopping: Promise<void> | undefined;
  #mountArguments: MountArguments | undefined;
  #lanes: FuseLanes | undefined;
  /** While a lane's call is dispatched: how to give its buffer back (taken by the request). */
  #laneRelease: (() => void) | undefined;
  /** The lane buffer of the forwarded call being dispatched (undefined outside one). */
  #laneBuffer: ReceiveBuffer | undefined;
  readonly #initialized = Promise.withResolvers<void>();
  readonly #closed = Promise.withResolvers<void>();

  private constructor(mountPoint: string, operations: FuseOperations, options: FuseSessionOptions) {
    this.mountPoint = mountPoint;
    this.#operations = operations;
    this.#logger = (options.logger ?? stderrLogger()).child("fuse");
    const maxBackground = options.maxBackground ?? DEFAULT_MAX_BACKGROUND;
    this.#limits = {
      maxBackground,
      congestionThreshold: options.congestionThreshold ?? Math.floor(maxBackground * 3 / 4),
    };
    checkBackgroundLimits(this.#limits);
    this.#spinMs = (options.idleSpinMicroseconds ?? DEFAULT_IDLE_SPIN_MICROSECONDS) / 1000;
    this.#pool = new ReceivePool(
      options.receiveBuffers ?? DEFAULT_RECEIVE_BUFFERS,
      RECEIVE_BUFFER_BYTES,
    );
    this.#table = createOperationTable(operations, this.#dispatchHost());
  }

  /**
   * Mounts `operations` at `mountPoint` (an existing directory with nothing
   * mounted on it) and starts serving. Resolves once the kernel and libfuse
   * negotiated the connection ({@link connection}).
   */
  static async mount(
    mountPoint: string,
    operations: FuseOperations,
    options: FuseSessionOptions,
  ): Promise<FuseSession> {
    const canonical = await canonicalMountPoint(mountPoint);
    const existing = await findMount(canonical);
    if (existing !== undefined) {
      const hint = isFuseType(existing.fsType)
        ? "; FuseSession.clearStaleMount clears a dead one"
        : "";
      throw new Error(`${canonical} is already a mount point (${existing.fsType})${hint}`);
    }
    if (!(await Deno.stat(canonical)).isDirectory) {
      throw new Error(`${canonical} is not a directory`);
    }
    const session = new FuseSession(canonical, operations, options);
    session.#start(options);
    await Promise.race([
      session.#initialized.promise,
      session.#closed.promise.then(() => {
        throw new Error(`FUSE session at ${canonical} ended before init`);
      }),
    ]);
    if ((options.lanes?.count ?? 0) > 0) await session.#startLanes(options.lanes!);
    return session;
  }

  /**
   * Clears a stale FUSE mount (left by a killed process) at `mountPoint` so a
   * new mount there succeeds; leaves a live one alone. See stale_mount.ts.
   */
  static clearStaleMount(mountPoint: string): Promise<StaleMountOutcome> {
    return clearStaleMount(mountPoint);
  }

  /** The negotiated connection (max_write, max_read, max_background, …). */
  get connection(): ConnectionInfo {
    assert(this.#connection !== undefined, "connection read before init");
    return this.#connection;
  }

  /** Worker threads serving requests beside the JS thread. */
  get lanes(): number {
    return this.#lanes?.count ?? 0;
  }

  /** Requests the lanes received and handed to the JS thread so far. */
  get forwardedByLanes(): number {
    return this.#lanes?.forwarded ?? 0;
  }

  /** Requests received and not yet answered. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Resolves when the session has ended (unmounted by us or by someone else) and is destroyed. */
  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  /**
   * Unmounts and ends the session (see {@link UnmountOptions}); resolves when
   * everything is released. Safe to call more than once, and after an
   * external unmount.
   */
  unmount(options: UnmountOptions = {}): Promise<void> {
    this.#stopping ??= this.#stop(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
    return this.#stopping;
  }

  #start(options: FuseSessionOptions): void {
    const lib = libfuse();
    this.#mountArguments = {
      fsName: options.fsName,
      subtype: options.subtype,
      allowOther: options.allowOther ?? true,
      defaultPermissions: options.defaultPermissions ?? true,
    };
    const args = buildFuseArgs(this.#mountArguments);
    const session = lib.fuse_session_new(
      args.struct,
      this.#table.table,
      BigInt(LowlevelOpsLayout.byteLength),
      null,
    );
    lib.fuse_opt_free_args(args.struct);
    if (session === null) {
      this.#closeCallbacks();
      throw new Error("fuse_session_new failed (libfuse logged why on stderr)");
    }
    if (lib.fuse_session_mount(session, cString(this.mountPoint)) !== 0) {
      lib.fuse_session_destroy(session);
      this.#closeCallbacks();
      throw new Error(
        `fuse_session_mount ${this.mountPoint} failed (libfuse logged why on stderr)`,
      );
    }
    this.#session = session;
    this.#fd = lib.fuse_session_fd(session);
    setNonBlocking(this.#fd);
    this.#fuseBufView.setBigUint64(BufLayout.size, BigInt(RECEIVE_BUFFER_BYTES), true);
    this.#fuseBufView.setInt32(BufLayout.fd, -1, true);
    void this.#serve();
  }

  /** The receive loop: a batch of requests, then wait for more (poll) or for a free buffer. */
  async #serve(): Promise<void> {
    try {
      for (;;) {
        if (this.#lanes !== undefined) {
          // The lanes receive from here on; they end when the connection does.
          await this.#lanes.ended;
          break;
        }
        const outcome = this.#receiveBatch();
        if (outcome === "exited") break;
        if (outcome === "starved") await this.#pool.whenAvailable();
        else if (this.#exitRequested()) break;
        else {
          const events = await pollFd(this.#fd, PollEvents.IN, POLL_TIMEOUT_MS);
          assert((events & PollEvents.NVAL) === 0, "session fd closed under the receive loop");
        }
      }
    } catch (error) {
      this.#logger.error("receive loop failed", { error: String(error) });
    }
    this.#loopEnded = true;
    await this.#finish();
  }

  /** True once `fuse_session_exit` was called (an aborting unmount): no need to poll. */
  #exitRequested(): boolean {
    return this.#session === undefined || libfuse().fuse_session_exited(this.#session) !== 0;
  }

  /**
   * Receives and processes up to BATCH_LIMIT requests. When requests came and
   * every one is answered, keeps trying for `idleSpinMicroseconds` before
   * reporting idle: a request that follows quickly (a queue-depth-1 client)
   * then skips the two thread hops of a poll.
   */
  #receiveBatch(): DrainOutcome {
    let remaining = BATCH_LIMIT;
    let spinDeadline = -1;
    for (;;) {
      const outcome = this.#drain(remaining);
      remaining -= this.#drained;
      if (outcome !== "idle" || remaining <= 0 || remaining === BATCH_LIMIT) return outcome;
      if (this.#spinMs <= 0 || this.#inFlight > 0) return "idle";
      const now = performance.now();
      if (this.#drained > 0 || spinDeadline < 0) spinDeadline = now + this.#spinMs;
      else if (now >= spinDeadline) return "idle";
    }
  }

  /**
   * Receives and processes requests until EAGAIN or `limit` of them, an empty
   * pool, or the end; `#drained` tells how many.
   */
  #drain(limit: number): DrainOutcome {
    const lib = libfuse();
    const session = this.#session;
    assert(session !== undefined, "drain without a session");
    this.#drained = 0;
    while (this.#drained < limit) {
      const buffer = this.#receiving ?? this.#pool.take();
      if (buffer === undefined) return "starved";
      if (buffer !== this.#receiving) {
        this.#receiving = buffer;
        this.#fuseBufView.setBigUint64(BufLayout.mem, BigInt(buffer.address), true);
      }
      this.#fuseBufView.setInt32(BufLayout.flags, 0, true);
      const result = lib.fuse_session_receive_buf(session, this.#fuseBuf);
      if (result === -Errno.EAGAIN) return "idle";
      if (result === -Errno.EINTR) continue;
      if (result <= 0) {
        if (result < 0) {
          this.#logger.error("receiving a request failed", { errno: errnoName(-result) });
        }
        return "exited";
      }
      this.#drained++;
      this.#receivingKept = false;
      lib.fuse_session_process_buf(session, this.#fuseBuf);
      if (this.#receivingKept) this.#receiving = undefined;
    }
    return "idle";
  }

  async #startLanes(options: LaneOptions): Promise<void> {
    assert(this.#mountArguments !== undefined, "lanes before mount");
    try {
      this.#lanes = await FuseLanes.start(
        {
          sessionFd: this.#fd,
          connection: this.connection,
          limits: this.#limits,
          args: this.#mountArguments,
          operations: [...this.#table.functions.keys()],
        },
        options,
        {
          dispatch: (op, args, buffer, release) =>
            this.#dispatchLaneCall(op, args, buffer, release),
        },
        this.#logger,
      );
    } catch (error) {
      this.#logger.error("FUSE lanes did not start; serving on the JS thread alone", {
        error: String(error),
      });
    }
  }

  #dispatchLaneCall(
    op: CallbackName,
    args: unknown[],
    buffer: ReceiveBuffer | undefined,
    release: () => void,
  ): void {
    const callback = this.#table.functions.get(op);
    assert(callback !== undefined, `a lane forwarded ${op}, which has no handler`);
    this.#laneRelease = release;
    this.#laneBuffer = buffer;
    try {
      (callback as (...values: unknown[]) => void)(...args);
    } finally {
      this.#laneBuffer = undefined;
      // A call that made no request (forget) gives the buffer back now.
      const unused = this.#laneRelease;
      this.#laneRelease = undefined;
      unused?.();
    }
  }

  /** After the loop: stop replies reaching the kernel, close the fd, await replies, destroy. */
  async #finish(): Promise<void> {
    const lib = libfuse();
    const session = this.#session;
    assert(session !== undefined, "finish without a session");
    lib.fuse_session_exit(session);
    lib.fuse_session_unmount(session);
    await this.#lanes?.stop();
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => this.#allReplied = resolve);
    }
    await this.#lanes?.destroy();
    lib.fuse_session_destroy(session);
    this.#session = undefined;
    this.#closeCallbacks();
    if (this.#receiving !== undefined) this.#pool.give(this.#receiving);
    this.#receiving = undefined;
    this.#closed.resolve();
  }

  async #stop(busyTimeoutMs: number): Promise<void> {
    const deadline = Date.now() + busyTimeoutMs;
    while (!this.#loopEnded) {
      try {
        await umount2(this.mountPoint, 0);
        break;
      } catch {
        // errno is lost off-thread: still mounted means busy; gone means done.
        if (this.#loopEnded || (await findMount(this.mountPoint)) === undefined) break;
        if (Date.now() >= deadline) {
          this.#logger.warn("mount still busy; aborting its connection", {
            mountPoint: this.mountPoint,
            inFlight: this.#inFlight,
          });
          if (this.#session !== undefined) libfuse().fuse_session_exit(this.#session);
          void this.#lanes?.stop();
          break;
        }
        await delay(UNMOUNT_RETRY_MS);
      }
    }
    await this.#closed.promise;
  }

  #closeCallbacks(): void {
    for (const callback of this.#table.callbacks) callback.close();
  }

  #negotiate(pointer: Deno.PointerObject): void {
    this.#connection = negotiateConnection(pointer, this.#limits);
    if (this.#connection.maxWrite < MAX_TRANSFER_BYTES) {
      this.#logger.warn("kernel limits writes below 1 MiB", {
        maxWrite: this.#connection.maxWrite,
      });
    }
    this.#initialized.resolve();
    this.#operations.init?.(this.#connection);
  }

  #dispatchHost(): DispatchHost {
    return {
      started: (request: FuseRequest) => {
        this.#inFlight++;
        if (this.#laneRelease !== undefined) {
          request.heldBuffer = this.#laneRelease;
          this.#laneRelease = undefined;
        }
      },
      replied: (request: FuseRequest) => {
        this.#inFlight--;
        const held = request.heldBuffer;
        if (held !== undefined) {
          request.heldBuffer = undefined;
          if (typeof held === "function") held();
          else this.#pool.give(held);
        }
        if (this.#inFlight === 0) this.#allReplied?.();
      },
      keepPayload: (request: WriteRequest, payload: Deno.PointerObject, size: number) => {
        const laneBuffer = this.#laneBuffer;
        if (laneBuffer !== undefined) return ReceivePool.view(laneBuffer, payload, size);
        const buffer = this.#receiving;
        assert(buffer !== undefined && !this.#receivingKept, "payload outside a receive");
        this.#receivingKept = true;
        request.heldBuffer = buffer;
        return ReceivePool.view(buffer, payload, size);
      },
      init: (connection: Deno.PointerObject) => this.#negotiate(connection),
      destroy: () => this.#operations.destroy?.(),
      failed: (operation: string, request: FuseRequest | undefined, error: unknown) => {
        this.#logger.error("operation handler failed", {
          operation,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        });
        if (request !== undefined && !request.replied) request.error(Errno.EIO);
        // A failed assertion is a bug: crash, but outside the C frames.
        if (error instanceof AssertionError) {
          setTimeout(() => {
            throw error;
          }, 0);
        }
      },
    };
  }
}
