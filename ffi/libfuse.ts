/**
 * libfuse3's low-level API through `Deno.dlopen`: the session and reply
 * functions, and the C signature of every operation callback ffi/ installs.
 *
 * Every function here is synchronous and runs on the thread that calls it
 * (the JS thread, or a lane's worker, which loads its own copy): they are
 * non-blocking on a session fd in O_NONBLOCK mode (receive), or return as soon
 * as a reply is written. Operation callbacks run inside
 * `fuse_session_process_buf` (and `init`/`destroy` inside session calls) on
 * the thread that called it, so they are ordinary, non-thread-safe
 * `Deno.UnsafeCallback`s of that thread. libfuse's replies may come from any
 * thread. Knows nothing of ukai.
 *
 * @module
 */

import { assert } from "../base/assert.ts";

const symbols = {
  fuse_version: { parameters: [], result: "i32" },
  fuse_session_new: {
    parameters: ["buffer", "buffer", "usize", "pointer"],
    result: "pointer",
  },
  fuse_session_mount: { parameters: ["pointer", "buffer"], result: "i32" },
  fuse_session_unmount: { parameters: ["pointer"], result: "void" },
  fuse_session_destroy: { parameters: ["pointer"], result: "void" },
  fuse_session_fd: { parameters: ["pointer"], result: "i32" },
  fuse_session_custom_io: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  fuse_session_exit: { parameters: ["pointer"], result: "void" },
  fuse_session_exited: { parameters: ["pointer"], result: "i32" },
  fuse_session_receive_buf: { parameters: ["pointer", "buffer"], result: "i32" },
  fuse_session_process_buf: { parameters: ["pointer", "buffer"], result: "void" },
  fuse_opt_free_args: { parameters: ["buffer"], result: "void" },
  fuse_req_ctx: { parameters: ["pointer"], result: "pointer" },
  fuse_reply_err: { parameters: ["pointer", "i32"], result: "i32" },
  fuse_reply_none: { parameters: ["pointer"], result: "void" },
  fuse_reply_entry: { parameters: ["pointer", "buffer"], result: "i32" },
  fuse_reply_create: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  fuse_reply_attr: { parameters: ["pointer", "buffer", "f64"], result: "i32" },
  fuse_reply_open: { parameters: ["pointer", "buffer"], result: "i32" },
  fuse_reply_write: { parameters: ["pointer", "usize"], result: "i32" },
  fuse_reply_buf: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  fuse_reply_buf_pointer: {
    name: "fuse_reply_buf",
    parameters: ["pointer", "pointer", "usize"],
    result: "i32",
  },
  fuse_reply_iov: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  fuse_reply_statfs: { parameters: ["pointer", "buffer"], result: "i32" },
  fuse_add_direntry: {
    parameters: ["pointer", "buffer", "usize", "buffer", "buffer", "i64"],
    result: "usize",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The oldest libfuse whose layouts and semantics fuse_layout.ts describes (3.12). */
const MINIMUM_FUSE_VERSION = 312;

let library: Deno.DynamicLibrary<typeof symbols> | undefined;

/** The loaded libfuse3 (opened once, kept for the life of the process). */
export function libfuse(): Deno.DynamicLibrary<typeof symbols>["symbols"] {
  if (library === undefined) {
    library = Deno.dlopen("libfuse3.so.3", symbols);
    const version = library.symbols.fuse_version();
    assert(version >= MINIMUM_FUSE_VERSION, `libfuse ${version} is older than 3.12`);
  }
  return library.symbols;
}

/**
 * C signatures of the operation callbacks (`struct fuse_lowlevel_ops`), keyed
 * like {@link OperationSlot}. `fuse_req_t`, strings, `struct stat *` and
 * `struct fuse_file_info *` are pointers; `fuse_ino_t`, `off_t` and `size_t`
 * are 64-bit and arrive as bigint.
 */
export const CallbackSignature = {
  init: { parameters: ["pointer", "pointer"], result: "void" },
  destroy: { parameters: ["pointer"], result: "void" },
  lookup: { parameters: ["pointer", "u64", "pointer"], result: "void" },
  forget: { parameters: ["pointer", "u64", "u64"], result: "void" },
  forgetMulti: { parameters: ["pointer", "usize", "pointer"], result: "void" },
  getattr: { parameters: ["pointer", "u64", "pointer"], result: "void" },
  setattr: { parameters: ["pointer", "u64", "pointer", "i32", "pointer"], result: "void" },
  mknod: { parameters: ["pointer", "u64", "pointer", "u32", "u64"], result: "void" },
  mkdir: { parameters: ["pointer", "u64", "pointer", "u32"], result: "void" },
  unlink: { parameters: ["pointer", "u64", "pointer"], result: "void" },
  rmdir: { parameters: ["pointer", "u64", "pointer"], result: "void" },
  symlink: { parameters: ["pointer", "pointer", "u64", "pointer"], result: "void" },
  rename: {
    parameters: ["pointer", "u64", "pointer", "u64", "pointer", "u32"],
    result: "void",
  },
  link: { parameters: ["pointer", "u64", "u64", "pointer"], result: "void" },
  open: { parameters: ["pointer", "u64", "pointer"], result: "void" },
  read: { parameters: ["pointer", "u64", "usize", "i64", "pointer"], result: "void" },
  write: {
    parameters: ["pointer", "u64", "pointer", "usize", "i64", "pointer"],
    result: "void",
  },
  flush: { parameters: ["pointer", "u64", "pointer"], result: "void" },
  release: { parameters: ["pointer", "u64", "pointer"], result: "void" },
  fsync: { parameters: ["pointer", "u64", "i32", "pointer"], result: "void" },
  opendir: { parameters: ["pointer", "u64", "pointer"], result: "void" },
  readdir: { parameters: ["pointer", "u64", "usize", "i64", "pointer"], result: "void" },
  releasedir: { parameters: ["pointer", "u64", "pointer"], result: "void" },
  statfs: { parameters: ["pointer", "u64"], result: "void" },
  create: { parameters: ["pointer", "u64", "pointer", "u32", "pointer"], result: "void" },
  fallocate: {
    parameters: ["pointer", "u64", "i32", "i64", "i64", "pointer"],
    result: "void",
  },
} as const satisfies Record<string, Deno.UnsafeCallbackDefinition>;

/** An operation ffi/ can install. */
export type CallbackName = keyof typeof CallbackSignature;

/** The JS function type of the callback for operation `Name`. */
export type CallbackFunction<Name extends CallbackName> = Deno.UnsafeCallbackFunction<
  (typeof CallbackSignature)[Name]["parameters"],
  (typeof CallbackSignature)[Name]["result"]
>;
