/**
 * One FUSE lane (see fuse_lanes.ts), run as a worker: clones the session's
 * fd, opens a libfuse session on the clone, tells it the negotiated protocol
 * with a synthetic INIT (its answer, to a request id the kernel never issued,
 * is refused by the kernel and ignored by libfuse), then receives and
 * processes requests in a synchronous loop until the connection ends or the
 * main thread says stop. READ and WRITE go to the fast path first; the rest
 * is forwarded without waiting for the main thread: the structs libfuse
 * passes on its stack are copied into the request's buffer first, past the
 * bytes the kernel may fill. Knows nothing of ukai.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { assert } from "../base/assert.ts";
import { buildFuseArgs } from "./fuse_args.ts";
import { installCallback } from "./fuse_dispatch.ts";
import {
  BufLayout,
  FileInfoLayout,
  LowlevelOpsLayout,
  RECEIVE_BUFFER_BYTES,
  StatLayout,
} from "./fuse_layout.ts";
import {
  LANE_BUFFER_BYTES,
  LANE_BUFFERS,
  LaneControl,
  type LaneFastPath,
  type LaneFastPathModule,
  type LaneMessage,
  type LaneStart,
  RING_CALLS,
  RING_OPERATIONS,
  RING_RECORD,
} from "./fuse_lanes.ts";
import { negotiateConnection } from "./fuse_negotiation.ts";
import { fileHandleOf, safeNumber } from "./fuse_structs.ts";
import { Errno } from "./errno.ts";
import { cloneFuseFd, libcFunction, PollEvents, pollFdNow, setNonBlocking } from "./libc.ts";
import { type CallbackFunction, type CallbackName, CallbackSignature, libfuse } from "./libfuse.ts";
import { type ReceiveBuffer, ReceivePool } from "./receive_pool.ts";

/** A request id the kernel never hands out (ids count up from 1 in steps of 2). */
const SYNTHETIC_UNIQUE = 0xffff_ffff_ffff_fff0n;
const FUSE_INIT = 26;
const INIT_FLAGS = {
  asyncRead: 1 << 0,
  bigWrites: 1 << 5,
  asyncDio: 1 << 15,
  maxPages: 1 << 22,
} as const;
/** `struct fuse_in_header` (40 bytes) + `struct fuse_init_in` (64 bytes). */
const INIT_REQUEST_BYTES = 104;
const OPERATION_NUMBERS = new Map(RING_OPERATIONS.map((op, index) => [op, index]));

/** How often an idle lane looks at its stop cell. */
const IDLE_POLL_MS = 100;
/** How long a lane keeps trying to receive before it sleeps in poll. */
const IDLE_SPIN_MS = 0.02;

/**
 * The arguments of each operation that point to structs on libfuse's stack
 * (valid only during the callback), by index, with their sizes. Names and
 * payloads point into the receive buffer, which the main thread holds anyway.
 */
const STACK_STRUCTS: Partial<Record<CallbackName, readonly (readonly [number, number])[]>> = {
  getattr: [[2, FileInfoLayout.byteLength]],
  setattr: [[2, StatLayout.byteLength], [4, FileInfoLayout.byteLength]],
  open: [[2, FileInfoLayout.byteLength]],
  read: [[4, FileInfoLayout.byteLength]],
  write: [[5, FileInfoLayout.byteLength]],
  flush: [[2, FileInfoLayout.byteLength]],
  release: [[2, FileInfoLayout.byteLength]],
  fsync: [[3, FileInfoLayout.byteLength]],
  opendir: [[2, FileInfoLayout.byteLength]],
  readdir: [[4, FileInfoLayout.byteLength]],
  releasedir: [[2, FileInfoLayout.byteLength]],
  create: [[4, FileInfoLayout.byteLength]],
  fallocate: [[5, FileInfoLayout.byteLength]],
};

function post(message: LaneMessage): void {
  self.postMessage(message);
}

function syntheticInit(start: LaneStart): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(INIT_REQUEST_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, INIT_REQUEST_BYTES, true);
  view.setUint32(4, FUSE_INIT, true);
  view.setBigUint64(8, SYNTHETIC_UNIQUE, true);
  view.setUint32(40, start.connection.protocolMajor, true);
  view.setUint32(44, start.connection.protocolMinor, true);
  view.setUint32(48, start.connection.maxReadahead, true);
  view.setUint32(
    52,
    INIT_FLAGS.asyncRead | INIT_FLAGS.bigWrites | INIT_FLAGS.asyncDio | INIT_FLAGS.maxPages,
    true,
  );
  return bytes;
}

class Lane {
  readonly #start: LaneStart;
  readonly #control: Int32Array<SharedArrayBuffer>;
  readonly #ring: BigInt64Array<SharedArrayBuffer>;
  readonly #fastPath: LaneFastPath | undefined;
  readonly #slots: ReceiveBuffer[] = [];
  readonly #readBuffer = new Uint8Array(RECEIVE_BUFFER_BYTES);
  readonly #fuseBuf = new Uint8Array(BufLayout.byteLength);
  readonly #fuseBufView = new DataView(this.#fuseBuf.buffer);
  readonly #callbacks: Deno.UnsafeCallback[] = [];
  readonly #table = new Uint8Array(LowlevelOpsLayout.byteLength);
  readonly #io = new BigUint64Array(4);
  #session: Deno.PointerObject | null = null;
  #fd = -1;
  #current = -1;
  /** Whether the last request was answered here (not forwarded). */
  #answeredLast = false;

  constructor(start: LaneStart, fastPath: LaneFastPath | undefined) {
    this.#start = start;
    this.#control = new Int32Array(start.control);
    this.#ring = new BigInt64Array(start.ring);
    this.#fastPath = fastPath;
    assert(start.buffers.length === LANE_BUFFERS, "a lane needs all its buffers");
    for (const address of start.buffers) {
      // The main thread's memory, mapped once: it stays alive until this lane is destroyed.
      const pointer = Deno.UnsafePointer.create(address)!;
      const bytes = new Uint8Array(
        Deno.UnsafePointerView.getArrayBuffer(pointer, LANE_BUFFER_BYTES),
      );
      this.#slots.push({ bytes, pointer, address: Number(address) });
    }
  }

  /** Clones the fd and opens the session; throws when either fails. */
  open(): void {
    const lib = libfuse();
    this.#installAll();
    const args = buildFuseArgs(this.#start.args);
    const session = lib.fuse_session_new(
      args.struct,
      this.#table,
      BigInt(LowlevelOpsLayout.byteLength),
      null,
    );
    lib.fuse_opt_free_args(args.struct);
    if (session === null) throw new Error("fuse_session_new failed");
    this.#session = session;
    this.#fd = cloneFuseFd(this.#start.sessionFd);
    setNonBlocking(this.#fd);
    this.#io[0] = BigInt(Deno.UnsafePointer.value(libcFunction("writev")));
    this.#io[1] = BigInt(Deno.UnsafePointer.value(libcFunction("read")));
    const io = new Uint8Array(this.#io.buffer);
    if (lib.fuse_session_custom_io(session, io, this.#fd) !== 0) {
      throw new Error("fuse_session_custom_io failed");
    }
    const init = syntheticInit(this.#start);
    this.#setBuf(BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(init))), init.length);
    lib.fuse_session_process_buf(session, this.#fuseBuf);
    if (lib.fuse_session_exited(session) !== 0) throw new Error("the lane's INIT was refused");
  }

  #setBuf(address: bigint, size: number): void {
    this.#fuseBufView.setBigUint64(BufLayout.size, BigInt(size), true);
    this.#fuseBufView.setInt32(BufLayout.flags, 0, true);
    this.#fuseBufView.setBigUint64(BufLayout.mem, address, true);
    this.#fuseBufView.setInt32(BufLayout.fd, -1, true);
  }

  /** Receives and processes requests until the connection ends or the main thread says stop. */
  serve(): void {
    const lib = libfuse();
    const session = this.#session!;
    let spinUntil = -1;
    while (Atomics.load(this.#control, LaneControl.stop) === 0) {
      const slot = this.#freeSlot();
      if (slot < 0) break;
      this.#current = slot;
      this.#setBuf(BigInt(this.#slots[slot]!.address), RECEIVE_BUFFER_BYTES);
      const result = lib.fuse_session_receive_buf(session, this.#fuseBuf);
      if (result === -Errno.EAGAIN) {
        // Right after answering a request itself, a lane keeps trying a moment: a queue-depth-1
        // client sends the next one within microseconds, and sleeping in poll would add a wake-up
        // to each. After a forward the answer comes from the JS thread, which needs the core.
        const now = performance.now();
        if (spinUntil < 0 && this.#answeredLast) spinUntil = now + IDLE_SPIN_MS;
        else if (spinUntil < 0 || now >= spinUntil) {
          pollFdNow(this.#fd, PollEvents.IN, IDLE_POLL_MS);
          spinUntil = -1;
        }
        continue;
      }
      spinUntil = -1;
      if (result === -Errno.EINTR) continue;
      if (result <= 0) break;
      lib.fuse_session_process_buf(session, this.#fuseBuf);
    }
  }

  /** A receive buffer the main thread does not hold; waits for one; -1 when told to stop. */
  #freeSlot(): number {
    for (;;) {
      const freed = Atomics.load(this.#control, LaneControl.freed);
      for (let index = 0; index < LANE_BUFFERS; index++) {
        if (Atomics.load(this.#control, LaneControl.held + index) === 0) return index;
      }
      if (Atomics.load(this.#control, LaneControl.stop) !== 0) return -1;
      Atomics.wait(this.#control, LaneControl.freed, freed, IDLE_POLL_MS);
    }
  }

  destroy(): void {
    if (this.#session !== null) libfuse().fuse_session_destroy(this.#session);
    this.#session = null;
    for (const callback of this.#callbacks) callback.close();
  }

  #install<Name extends CallbackName>(name: Name, callback: (...args: never[]) => void): void {
    this.#callbacks.push(
      installCallback(this.#table, name, callback as unknown as CallbackFunction<Name>),
    );
  }

  #installAll(): void {
    const limits = this.#start.limits;
    this.#install("init", (_userdata: unknown, connection: Deno.PointerValue) => {
      if (connection !== null) negotiateConnection(connection, limits);
    });
    for (const name of this.#start.operations) {
      if (name === "init" || name === "destroy") continue;
      if (name === "read") {
        this.#install(name, (...args: never[]) => this.#read(args));
      } else if (name === "write") {
        this.#install(name, (...args: never[]) => this.#write(args));
      } else {
        this.#install(name, (...args: never[]) => this.#forward(name, args));
      }
    }
  }

  #read(args: unknown[]): void {
    const [request, _inode, size, offset, fileInfo] = args as [
      Deno.PointerObject,
      bigint,
      bigint,
      bigint,
      Deno.PointerObject | null,
    ];
    if (this.#fastPath !== undefined && fileInfo !== null) {
      try {
        const target = this.#readBuffer.subarray(0, Number(size));
        const count = this.#fastPath.read(
          fileHandleOf(fileInfo),
          safeNumber(offset, "offset"),
          target,
        );
        if (count >= 0) {
          libfuse().fuse_reply_buf(request, target, BigInt(count));
          this.#answeredLast = true;
          return;
        }
      } catch {
        // Declined by throwing: the main thread serves it (and reports what is wrong).
      }
    }
    this.#forward("read", args);
  }

  #write(args: unknown[]): void {
    const [request, _inode, payload, size, offset, fileInfo] = args as [
      Deno.PointerObject,
      bigint,
      Deno.PointerObject | null,
      bigint,
      bigint,
      Deno.PointerObject | null,
    ];
    if (this.#fastPath !== undefined && fileInfo !== null && payload !== null) {
      try {
        const data = ReceivePool.view(this.#slots[this.#current]!, payload, Number(size));
        if (this.#fastPath.write(fileHandleOf(fileInfo), safeNumber(offset, "offset"), data)) {
          libfuse().fuse_reply_write(request, size);
          this.#answeredLast = true;
          return;
        }
      } catch {
        // Declined by throwing: the main thread serves it (and reports what is wrong).
      }
    }
    this.#forward("write", args);
  }

  /**
   * Hands a call to the main thread, lending it the current receive buffer
   * until the reply, with copies of the call's stack structs in its scratch room.
   */
  #forward(op: CallbackName, args: unknown[]): void {
    const control = this.#control;
    const head = Atomics.load(control, LaneControl.head);
    for (;;) {
      const tail = Atomics.load(control, LaneControl.tail);
      if (((head - tail) | 0) < RING_CALLS) break;
      Atomics.wait(control, LaneControl.tail, tail, IDLE_POLL_MS);
    }
    const ring = this.#ring;
    const base = (head & (RING_CALLS - 1)) * RING_RECORD;
    const slot = this.#slots[this.#current]!;
    ring[base] = BigInt(OPERATION_NUMBERS.get(op)!);
    ring[base + 1] = BigInt(this.#current);
    const parameters = CallbackSignature[op].parameters as readonly string[];
    for (const [index, value] of args.entries()) {
      ring[base + 2 + index] = parameters[index] === "pointer"
        ? (value === null ? 0n : BigInt(Deno.UnsafePointer.value(value as Deno.PointerObject)))
        : BigInt(value as number | bigint);
    }
    let scratch = RECEIVE_BUFFER_BYTES;
    for (const [index, bytes] of STACK_STRUCTS[op] ?? []) {
      const pointer = args[index] as Deno.PointerObject | null;
      if (pointer === null) continue;
      new Deno.UnsafePointerView(pointer).copyInto(slot.bytes.subarray(scratch, scratch + bytes));
      ring[base + 2 + index] = BigInt(slot.address + scratch);
      scratch += bytes;
    }
    this.#answeredLast = false;
    Atomics.store(control, LaneControl.held + this.#current, 1);
    Atomics.store(control, LaneControl.head, (head + 1) | 0);
    Atomics.notify(control, LaneControl.head);
  }
}

let lane: Lane | undefined;

self.onmessage = async (event: MessageEvent<LaneStart | { type: "destroy" }>) => {
  const message = event.data;
  if (message.type === "destroy") {
    lane?.destroy();
    post({ type: "destroyed" });
    return;
  }
  try {
    const fastPath = message.fastPath === undefined
      ? undefined
      : ((await import(message.fastPath.module)) as LaneFastPathModule).createLaneFastPath(
        message.fastPath.config,
      );
    lane = new Lane(message, fastPath);
    lane.open();
  } catch (error) {
    lane?.destroy();
    lane = undefined;
    post({ type: "failed", error: error instanceof Error ? error.message : String(error) });
    return;
  }
  post({ type: "ready" });
  // Let the "ready" message go before the loop holds this thread.
  await new Promise((resolve) => setTimeout(resolve, 0));
  lane.serve();
  post({ type: "ended" });
};
