/**
 * Turns a {@link FuseOperations} object into libfuse's operation table: one
 * `Deno.UnsafeCallback` per implemented operation, which decodes the C
 * arguments, creates the request object and calls the handler inside a guard.
 * The guard catches what the handler throws or rejects with and hands it to
 * the host (which replies EIO), so no exception ever unwinds into C. A 64-bit
 * argument beyond the safe integers fails its request with EOVERFLOW. Knows
 * nothing of ukai.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { type CallbackFunction, type CallbackName, CallbackSignature, libfuse } from "./libfuse.ts";
import { ForgetDataLayout, LowlevelOpsLayout, OperationSlot } from "./fuse_layout.ts";
import {
  AttributesRequest,
  CreateRequest,
  EntryRequest,
  FuseRequest,
  OpenRequest,
  ReaddirRequest,
  ReadRequest,
  RequestTracker,
  StatfsRequest,
  StatusRequest,
  WriteRequest,
} from "./fuse_request.ts";
import type { FuseOperations, HandlerResult } from "./fuse_operations.ts";
import {
  fileHandleOf,
  openFlagsOf,
  OutOfRangeError,
  readAttributeChanges,
  safeNumber,
} from "./fuse_structs.ts";
import { Errno } from "./errno.ts";

/** What the dispatcher needs from the session around it. */
export interface DispatchHost extends RequestTracker {
  /** A request arrived and is about to reach its handler. */
  started(request: FuseRequest): void;
  /** A WRITE's payload: the request keeps the current receive buffer; returns the bytes. */
  keepPayload(
    request: WriteRequest,
    payload: Deno.PointerObject,
    size: number,
  ): Uint8Array<ArrayBuffer>;
  /** `init`: negotiate the connection at `connection` (a `struct fuse_conn_info *`). */
  init(connection: Deno.PointerObject): void;
  /** `destroy`: the session is ending. */
  destroy(): void;
  /** A handler threw or rejected; `request` is unanswered unless `request.replied`. */
  failed(operation: string, request: FuseRequest | undefined, error: unknown): void;
}

/** libfuse's operation table and the callbacks it points to. */
export interface OperationTable {
  /** `struct fuse_lowlevel_ops`, ready for `fuse_session_new`. */
  readonly table: Uint8Array<ArrayBuffer>;
  /** Every callback in the table; close them only after `fuse_session_destroy`. */
  readonly callbacks: Deno.UnsafeCallback[];
  /** The JS function behind each installed callback (a lane's forwarded calls run these). */
  readonly functions: ReadonlyMap<CallbackName, (...args: never[]) => void>;
}

/**
 * Creates the `Deno.UnsafeCallback` for `operation` and writes its address
 * into its slot of `table` (a `struct fuse_lowlevel_ops`); returns it, to be
 * closed after `fuse_session_destroy`.
 */
export function installCallback<Name extends CallbackName>(
  table: Uint8Array<ArrayBuffer>,
  operation: Name,
  callback: CallbackFunction<Name>,
): Deno.UnsafeCallback {
  const unsafe = new Deno.UnsafeCallback(CallbackSignature[operation], callback);
  new DataView(table.buffer).setBigUint64(
    OperationSlot[operation] * LowlevelOpsLayout.slotBytes,
    BigInt(Deno.UnsafePointer.value(unsafe.pointer)),
    true,
  );
  return unsafe as unknown as Deno.UnsafeCallback;
}

function nonNull(pointer: Deno.PointerValue, what: string): Deno.PointerObject {
  assert(pointer !== null, `NULL ${what} from libfuse`);
  return pointer;
}

function name(pointer: Deno.PointerValue): string {
  return Deno.UnsafePointerView.getCString(nonNull(pointer, "name"));
}

/**
 * The `fuse_req_t` of a callback. libfuse never passes NULL; this cast (not an
 * assertion) keeps the code before the guard free of anything that can throw.
 */
function request(pointer: Deno.PointerValue): Deno.PointerObject {
  return pointer as Deno.PointerObject;
}

function inodeOf(value: bigint): number {
  return safeNumber(value, "inode");
}

/** Builds the operation table for `operations`, reporting to `host`. */
export function createOperationTable(
  operations: FuseOperations,
  host: DispatchHost,
): OperationTable {
  const table = new Uint8Array(LowlevelOpsLayout.byteLength);
  const callbacks: Deno.UnsafeCallback[] = [];
  const functions = new Map<CallbackName, (...args: never[]) => void>();

  const install = <Name extends CallbackName>(
    operation: Name,
    callback: CallbackFunction<Name>,
  ) => {
    callbacks.push(installCallback(table, operation, callback));
    functions.set(operation, callback as unknown as (...args: never[]) => void);
  };

  /**
   * Runs `handler` for `pending` (decoding its arguments inside, while the C
   * pointers are valid); anything it throws or rejects with goes to the host.
   */
  const guard = (pending: FuseRequest, handler: () => HandlerResult) => {
    host.started(pending);
    try {
      const result = handler();
      if (result instanceof Promise) {
        result.catch((error: unknown) => host.failed(pending.operation, pending, error));
      }
    } catch (error) {
      if (error instanceof OutOfRangeError && !pending.replied) pending.error(Errno.EOVERFLOW);
      else host.failed(pending.operation, pending, error);
    }
  };

  install("init", (_userdata, connection) => {
    try {
      assert(connection !== null, "NULL fuse_conn_info");
      host.init(connection);
    } catch (error) {
      host.failed("init", undefined, error);
    }
  });
  install("destroy", () => {
    try {
      host.destroy();
    } catch (error) {
      host.failed("destroy", undefined, error);
    }
  });

  const {
    lookup,
    forget,
    getattr,
    setattr,
    open,
    read,
    write,
    flush,
    fsync,
    release,
    opendir,
    readdir,
    releasedir,
    statfs,
    fallocate,
    create,
    mknod,
    mkdir,
    unlink,
    rmdir,
    rename,
    link,
    symlink,
  } = operations;

  if (lookup) {
    install("lookup", (req, parent, child) => {
      const pending = new EntryRequest(request(req), "lookup", host);
      guard(pending, () => lookup.call(operations, pending, inodeOf(parent), name(child)));
    });
  }
  if (forget) {
    const forgetOne = (inode: bigint, lookups: bigint) => {
      try {
        forget.call(operations, inodeOf(inode), safeNumber(lookups, "lookups"));
      } catch (error) {
        host.failed("forget", undefined, error);
      }
    };
    install("forget", (req, inode, lookups) => {
      forgetOne(inode, lookups);
      libfuse().fuse_reply_none(req);
    });
    install("forgetMulti", (req, count, list) => {
      if (list !== null) {
        const view = new Deno.UnsafePointerView(list);
        for (let index = 0; index < Number(count); index++) {
          const base = index * ForgetDataLayout.byteLength;
          forgetOne(
            view.getBigUint64(base + ForgetDataLayout.ino),
            view.getBigUint64(base + ForgetDataLayout.nlookup),
          );
        }
      }
      libfuse().fuse_reply_none(req);
    });
  }
  if (getattr) {
    install("getattr", (req, inode, fi) => {
      const pending = new AttributesRequest(request(req), "getattr", host);
      guard(pending, () =>
        getattr.call(
          operations,
          pending,
          inodeOf(inode),
          fi === null ? undefined : fileHandleOf(fi),
        ));
    });
  }
  if (setattr) {
    install("setattr", (req, inode, stat, toSet, fi) => {
      const pending = new AttributesRequest(request(req), "setattr", host);
      guard(pending, () =>
        setattr.call(
          operations,
          pending,
          inodeOf(inode),
          readAttributeChanges(nonNull(stat, "stat"), toSet),
          fi === null ? undefined : fileHandleOf(fi),
        ));
    });
  }
  if (open) {
    install("open", (req, inode, fi) => {
      const pending = new OpenRequest(request(req), "open", host);
      guard(
        pending,
        () => open.call(operations, pending, inodeOf(inode), openFlagsOf(nonNull(fi, "fi"))),
      );
    });
  }
  if (read) {
    install("read", (req, inode, size, offset, fi) => {
      // size_t, bounded by max_read: Number() is exact and cannot throw before the guard.
      const pending = new ReadRequest(request(req), host, Number(size));
      guard(pending, () =>
        read.call(
          operations,
          pending,
          inodeOf(inode),
          fileHandleOf(nonNull(fi, "fi")),
          safeNumber(offset, "offset"),
        ));
    });
  }
  if (write) {
    install("write", (req, inode, payload, size, offset, fi) => {
      const pending = new WriteRequest(request(req), host);
      guard(pending, () =>
        write.call(
          operations,
          pending,
          inodeOf(inode),
          fileHandleOf(nonNull(fi, "fi")),
          host.keepPayload(pending, nonNull(payload, "payload"), safeNumber(size, "size")),
          safeNumber(offset, "offset"),
        ));
    });
  }
  if (flush) {
    install("flush", (req, inode, fi) => {
      const pending = new StatusRequest(request(req), "flush", host);
      guard(
        pending,
        () => flush.call(operations, pending, inodeOf(inode), fileHandleOf(nonNull(fi, "fi"))),
      );
    });
  }
  if (fsync) {
    install("fsync", (req, inode, dataOnly, fi) => {
      const pending = new StatusRequest(request(req), "fsync", host);
      guard(pending, () =>
        fsync.call(
          operations,
          pending,
          inodeOf(inode),
          fileHandleOf(nonNull(fi, "fi")),
          dataOnly !== 0,
        ));
    });
  }
  if (release) {
    install("release", (req, inode, fi) => {
      const pending = new StatusRequest(request(req), "release", host);
      guard(pending, () =>
        release.call(
          operations,
          pending,
          inodeOf(inode),
          fileHandleOf(nonNull(fi, "fi")),
          openFlagsOf(nonNull(fi, "fi")),
        ));
    });
  }
  if (opendir) {
    install("opendir", (req, inode, fi) => {
      const pending = new OpenRequest(request(req), "opendir", host);
      guard(
        pending,
        () => opendir.call(operations, pending, inodeOf(inode), openFlagsOf(nonNull(fi, "fi"))),
      );
    });
  }
  if (readdir) {
    install("readdir", (req, inode, size, offset, fi) => {
      const pending = new ReaddirRequest(request(req), host, Number(size));
      guard(pending, () =>
        readdir.call(
          operations,
          pending,
          inodeOf(inode),
          fileHandleOf(nonNull(fi, "fi")),
          safeNumber(offset, "offset"),
        ));
    });
  }
  if (releasedir) {
    install("releasedir", (req, inode, fi) => {
      const pending = new StatusRequest(request(req), "releasedir", host);
      guard(
        pending,
        () => releasedir.call(operations, pending, inodeOf(inode), fileHandleOf(nonNull(fi, "fi"))),
      );
    });
  }
  if (statfs) {
    install("statfs", (req, inode) => {
      const pending = new StatfsRequest(request(req), "statfs", host);
      guard(pending, () => statfs.call(operations, pending, inodeOf(inode)));
    });
  }
  if (fallocate) {
    install("fallocate", (req, inode, mode, offset, length, fi) => {
      const pending = new StatusRequest(request(req), "fallocate", host);
      guard(pending, () =>
        fallocate.call(
          operations,
          pending,
          inodeOf(inode),
          fileHandleOf(nonNull(fi, "fi")),
          mode,
          safeNumber(offset, "offset"),
          safeNumber(length, "length"),
        ));
    });
  }
  if (create) {
    install("create", (req, parent, child, mode, fi) => {
      const pending = new CreateRequest(request(req), "create", host);
      guard(pending, () =>
        create.call(
          operations,
          pending,
          inodeOf(parent),
          name(child),
          mode,
          openFlagsOf(nonNull(fi, "fi")),
        ));
    });
  }
  if (mknod) {
    install("mknod", (req, parent, child, mode, device) => {
      const pending = new EntryRequest(request(req), "mknod", host);
      guard(pending, () =>
        mknod.call(
          operations,
          pending,
          inodeOf(parent),
          name(child),
          mode,
          safeNumber(device, "device"),
        ));
    });
  }
  if (mkdir) {
    install("mkdir", (req, parent, child, mode) => {
      const pending = new EntryRequest(request(req), "mkdir", host);
      guard(pending, () => mkdir.call(operations, pending, inodeOf(parent), name(child), mode));
    });
  }
  if (unlink) {
    install("unlink", (req, parent, child) => {
      const pending = new StatusRequest(request(req), "unlink", host);
      guard(pending, () => unlink.call(operations, pending, inodeOf(parent), name(child)));
    });
  }
  if (rmdir) {
    install("rmdir", (req, parent, child) => {
      const pending = new StatusRequest(request(req), "rmdir", host);
      guard(pending, () => rmdir.call(operations, pending, inodeOf(parent), name(child)));
    });
  }
  if (rename) {
    install("rename", (req, parent, child, newParent, newChild, flags) => {
      const pending = new StatusRequest(request(req), "rename", host);
      guard(pending, () =>
        rename.call(
          operations,
          pending,
          inodeOf(parent),
          name(child),
          inodeOf(newParent),
          name(newChild),
          flags,
        ));
    });
  }
  if (link) {
    install("link", (req, inode, newParent, newChild) => {
      const pending = new EntryRequest(request(req), "link", host);
      guard(
        pending,
        () => link.call(operations, pending, inodeOf(inode), inodeOf(newParent), name(newChild)),
      );
    });
  }
  if (symlink) {
    install("symlink", (req, target, parent, child) => {
      const pending = new EntryRequest(request(req), "symlink", host);
      guard(
        pending,
        () => symlink.call(operations, pending, name(target), inodeOf(parent), name(child)),
      );
    });
  }
  return { table, callbacks, functions };
}
