/**
 * The mount options and the `struct fuse_args` built from them.
 *
 * @module
 */

import { ArgsLayout } from "./fuse_layout.ts";
import { buildFuseArgs, type MountArguments, mountOptionString } from "./fuse_args.ts";
import { expectEqual } from "./testdata/expect.ts";

const options: MountArguments = {
  fsName: "ukai:n1",
  subtype: "ukai",
  allowOther: true,
  defaultPermissions: true,
};

Deno.test("mount options name the filesystem, cap reads at 1 MiB and add the chosen flags", () => {
  expectEqual(
    mountOptionString(options),
    "fsname=ukai:n1,subtype=ukai,max_read=1048576,allow_other,default_permissions",
  );
  expectEqual(
    mountOptionString({ ...options, allowOther: false }),
    "fsname=ukai:n1,subtype=ukai,max_read=1048576,default_permissions",
  );
});

Deno.test("fuse_args holds argc 3 and argv pointing at NUL-terminated strings", () => {
  const args = buildFuseArgs(options);
  const view = new DataView(args.struct.buffer);
  expectEqual(view.getInt32(ArgsLayout.argc, true), 3, "argc");
  const argv = Deno.UnsafePointer.create(view.getBigUint64(ArgsLayout.argv, true))!;
  const pointers = new Deno.UnsafePointerView(argv);
  const strings = [0, 1, 2].map((index) =>
    Deno.UnsafePointerView.getCString(Deno.UnsafePointer.create(pointers.getBigUint64(index * 8))!)
  );
  expectEqual(strings, ["ukai:n1", "-o", mountOptionString(options)]);
  expectEqual(pointers.getBigUint64(24) === 0n, true, "argv ends with NULL");
});
