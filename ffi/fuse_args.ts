/**
 * The argument vector `fuse_session_new` parses (`struct fuse_args`), built
 * from typed mount options: allow_other, default_permissions, fsname,
 * subtype and max_read. Knows nothing of ukai.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { cString } from "./libc.ts";
import { ArgsLayout, MAX_TRANSFER_BYTES } from "./fuse_layout.ts";

/** The mount options a session passes to libfuse. */
export interface MountArguments {
  /** Shown as the mount's source (`df`, `/proc/mounts`). */
  fsName: string;
  /** The mount's type becomes `fuse.SUBTYPE`. */
  subtype: string;
  /** Let users other than the mounting one in. */
  allowOther: boolean;
  /** Let the kernel check permission bits. */
  defaultPermissions: boolean;
}

/** A `struct fuse_args` and the C strings it points to (keep it alive while libfuse reads it). */
export interface FuseArgs {
  /** The `struct fuse_args` itself. */
  readonly struct: Uint8Array<ArrayBuffer>;
  /** argv and its strings, referenced only through `struct`. */
  readonly storage: readonly Uint8Array<ArrayBuffer>[];
}

const OPTION_VALUE = /^[A-Za-z0-9_.:@+-]+$/;

/** The `-o` option string for `options`. */
export function mountOptionString(options: MountArguments): string {
  assert(
    OPTION_VALUE.test(options.fsName),
    `fsname ${JSON.stringify(options.fsName)} is not plain`,
  );
  assert(
    OPTION_VALUE.test(options.subtype),
    `subtype ${JSON.stringify(options.subtype)} is not plain`,
  );
  const parts = [
    `fsname=${options.fsName}`,
    `subtype=${options.subtype}`,
    `max_read=${MAX_TRANSFER_BYTES}`,
  ];
  if (options.allowOther) parts.push("allow_other");
  if (options.defaultPermissions) parts.push("default_permissions");
  return parts.join(",");
}

/** Builds `{ argc: 3, argv: [fsName, "-o", options, NULL], allocated: 0 }`. */
export function buildFuseArgs(options: MountArguments): FuseArgs {
  const strings = [options.fsName, "-o", mountOptionString(options)].map(cString);
  const argv = new BigUint64Array(strings.length + 1);
  strings.forEach((bytes, index) => {
    argv[index] = Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes));
  });
  const struct = new Uint8Array(ArgsLayout.byteLength);
  const view = new DataView(struct.buffer);
  view.setInt32(ArgsLayout.argc, strings.length, true);
  view.setBigUint64(ArgsLayout.argv, Deno.UnsafePointer.value(Deno.UnsafePointer.of(argv)), true);
  view.setInt32(ArgsLayout.allocated, 0, true);
  return { struct, storage: [...strings, new Uint8Array(argv.buffer)] };
}
