/**
 * Test helper process: mounts a small in-memory filesystem at the directory
 * given as its argument, prints "mounted", and serves until killed. Started
 * by fuse_lifecycle_test.ts with `deno run`, then killed with SIGKILL to leave
 * a stale mount behind.
 *
 * @module
 */

import { FuseSession } from "../fuse_session.ts";
import { MemoryFs } from "./memory_fs.ts";

const [mountPoint] = Deno.args;
if (mountPoint === undefined) throw new Error("usage: hold_mount.ts MOUNT_POINT");
const fs = new MemoryFs({ files: { small: new TextEncoder().encode("held\n") } });
const session = await FuseSession.mount(mountPoint, fs, {
  fsName: "ukaitest",
  subtype: "ukaitest",
});
await Deno.stdout.write(new TextEncoder().encode("mounted\n"));
await session.closed;
