/**
 * One FUSE lane (see fuse_lanes.ts), run as a worker: clones the session's
 * fd, opens a libfuse session on the clone, tells it the negotiated protocol
 * with a synthetic INIT (its answer, to a request id the kernel never issued,
 * is refused by the kernel and ignored by libfuse), then receives and
 * processes requests in a synchronous loop until the connection ends or the
 * main thread says stop. READ and WRITE go to the fast path first; the rest
 * is forwarded. Knows nothing of ukai.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { buildFuseArgs } from "./fuse_args.ts";
import {
  BufLayout,
  LowlevelOpsLayout,
  OperationSlot,
  RECEIVE_BUFFER_BYTES,
} from "./fuse_layout.ts";
import {
  LANE_BUFFERS,
  type LaneCall,
  LaneControl,
  type LaneFastPath,
  type LaneFastPathModule,
  type LaneMessage,
  type LaneStart,
} from "./fuse_lanes.ts";
import { negotiateConnection } from "./fuse_negotiation.ts";
import { fileHandleOf, safeNumber } from "./fuse_structs.ts";
import { Errno } from "./errno.ts";
import { cloneFuseFd, libcFunction, PollEvents, pollFdNow, setNonBlocking } from "./libc.ts";
import { type CallbackName, CallbackSignature, libfuse } from "./libfuse.ts";

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
/** How often an idle lane looks at its stop cell. */
const IDLE_POLL_MS = 100;
/** How long a lane keeps trying to receive before it sleeps in poll. */
const IDLE_SPIN_MS = 0.02;

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

interface ReceiveSlot {
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly address: bigint;
}

class Lane {
  readonly #start: LaneStart;
  readonly #control: Int32Array<SharedArrayBuffer>;
  readonly #fastPath: LaneFastPath | undefined;
  readonly #slots: ReceiveSlot[] = [];
  readonly #readBuffer = new Uint8Array(RECEIVE_BUFFER_BYTES);
  readonly #fuseBuf = new Uint8Array(BufLayout.byteLength);
  readonly #fuseBufView = new DataView(this.#fuseBuf.buffer);
  readonly #callbacks: Deno.UnsafeCallback[] = [];
  readonly #table = new Uint8Array(LowlevelOpsLayout.byteLength);
  readonly #io = new BigUint64Array(4);
  #session: Deno.PointerObject | null = null;
  #fd = -1;
  #current = -1;

  constructor(start: LaneStart, fastPath: LaneFastPath | undefined) {
    this.#start = start;
    this.#control = new Int32Array(start.control);
    this.#fastPath = fastPath;
    for (let index = 0; index < LANE_BUFFERS; index++) {
      const bytes = new Uint8Array(RECEIVE_BUFFER_BYTES);
      this.#slots.push({
        bytes,
        address: BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes))),
      });
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
    this.#fuseBufView.setBigUint64(BufLayout.size, BigInt(RECEIVE_BUFFER_BYTES), true);
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
      this.#fuseBufView.setBigUint64(BufLayout.mem, this.#slots[slot]!.address, true);
      this.#fuseBufView.setBigUint64(BufLayout.size, BigInt(RECEIVE_BUFFER_BYTES), true);
      this.#fuseBufView.setInt32(BufLayout.flags, 0, true);
      const result = lib.fuse_session_receive_buf(session, this.#fuseBuf);
      if (result === -Errno.EAGAIN) {
        // Right after a request, keep trying a moment: a queue-depth-1 client sends the next one
        // within microseconds, and sleeping in poll would add a wake-up to each of them.
        const now = performance.now();
        if (spinUntil < 0) spinUntil = now + IDLE_SPIN_MS;
        else if (now >= spinUntil) {
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
    const unsafe = new Deno.UnsafeCallback(
      CallbackSignature[name],
      callback as unknown as Deno.UnsafeCallbackFunction<
        (typeof CallbackSignature)[Name]["parameters"],
        (typeof CallbackSignature)[Name]["result"]
      >,
    );
    new DataView(this.#table.buffer).setBigUint64(
      OperationSlot[name] * LowlevelOpsLayout.slotBytes,
      BigInt(Deno.UnsafePointer.value(unsafe.pointer)),
      true,
    );
    this.#callbacks.push(unsafe as unknown as Deno.UnsafeCallback);
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
        this.#install(name, (...args: never[]) => this.#forward(name, args, -1));
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
          return;
        }
      } catch {
        // Declined by throwing: the main thread serves it (and reports what is wrong).
      }
    }
    this.#forward("read", args, -1);
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
        const slot = this.#slots[this.#current]!;
        const start = Number(BigInt(Deno.UnsafePointer.value(payload)) - slot.address);
        const length = Number(size);
        if (start >= 0 && start + length <= slot.bytes.length) {
          const data = slot.bytes.subarray(start, start + length);
          if (this.#fastPath.write(fileHandleOf(fileInfo), safeNumber(offset, "offset"), data)) {
            libfuse().fuse_reply_write(request, size);
            return;
          }
        }
      } catch {
        // Declined by throwing: the main thread serves it (and reports what is wrong).
      }
    }
    this.#forward("write", args, this.#current);
  }

  /** Hands a call to the main thread and waits until it has been dispatched there. */
  #forward(op: CallbackName, args: unknown[], buffer: number): void {
    const parameters = CallbackSignature[op].parameters as readonly string[];
    const values = args.map((value, index) =>
      parameters[index] === "pointer"
        ? (value === null ? null : Deno.UnsafePointer.value(value as Deno.PointerObject))
        : value as number | bigint
    );
    if (buffer >= 0) Atomics.store(this.#control, LaneControl.held + buffer, 1);
    Atomics.store(this.#control, LaneControl.ack, 0);
    const call: LaneCall = { type: "call", op, args: values, buffer };
    post(call);
    while (Atomics.load(this.#control, LaneControl.ack) === 0) {
      Atomics.wait(this.#control, LaneControl.ack, 0, IDLE_POLL_MS);
    }
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
