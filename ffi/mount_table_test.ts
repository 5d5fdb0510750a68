/**
 * The mount table parser (octal escapes, optional fields), FUSE type
 * detection and mount point canonicalisation.
 *
 * @module
 */

import { canonicalMountPoint, isFuseType, parseMountInfo, readMounts } from "./mount_table.ts";
import { expectEqual } from "./testdata/expect.ts";

Deno.test("mountinfo lines are parsed, with escapes and optional fields", () => {
  const text = [
    "22 27 0:21 / /proc rw,relatime - proc proc rw",
    "42 27 0:39 / /tmp/with\\040space rw,nosuid shared:5 master:1 - fuse.ukai ukai:n1 rw,user_id=0",
    "",
  ].join("\n");
  expectEqual(parseMountInfo(text), [
    { mountPoint: "/proc", fsType: "proc", source: "proc", device: "0:21" },
    { mountPoint: "/tmp/with space", fsType: "fuse.ukai", source: "ukai:n1", device: "0:39" },
  ]);
});

Deno.test("FUSE types are recognised", () => {
  expectEqual(["fuse", "fuseblk", "fuse.ukai", "fusectl", "ext4"].map(isFuseType), [
    true,
    true,
    true,
    false,
    false,
  ]);
});

Deno.test("this process's mount table lists the root", async () => {
  expectEqual((await readMounts()).some((entry) => entry.mountPoint === "/"), true);
});

Deno.test("mount points are made absolute and symlink-free without touching the last part", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.symlink(dir, `${dir}/link`);
    expectEqual(await canonicalMountPoint(`${dir}/link/mnt/`), `${dir}/mnt`);
    expectEqual(await canonicalMountPoint(`${dir}/missing-is-fine`), `${dir}/missing-is-fine`);
    expectEqual(await canonicalMountPoint("/"), "/");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
