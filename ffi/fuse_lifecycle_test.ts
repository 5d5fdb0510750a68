/**
 * Mount lifecycle: a stale mount left by a process killed with SIGKILL is
 * detected and cleared and the same place mounts again; a clean unmount waits
 * for requests in flight; a mount kept busy past the timeout is aborted.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { FuseSession } from "./fuse_session.ts";
import { findMount } from "./mount_table.ts";
import { MemoryFs } from "./testdata/memory_fs.ts";
import { withMount } from "./testdata/mount_fixture.ts";
import { errorCode, expectEqual } from "./testdata/expect.ts";

const HOLD_MOUNT = new URL("./testdata/hold_mount.ts", import.meta.url).pathname;
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 250; attempt++) {
    if (await condition()) return;
    await delay(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Starts hold_mount.ts on `mountPoint` and resolves once it serves. */
async function startHolder(mountPoint: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", HOLD_MOUNT, mountPoint],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let output = "";
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  while (!output.includes("mounted")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("hold_mount.ts exited before mounting");
    output += value;
  }
  await reader.cancel();
  return child;
}

/** Runs `body` with a fresh mount point directory; clears whatever is left mounted there. */
async function withMountPoint(body: (mountPoint: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ukai-ffi-" });
  const mountPoint = `${dir}/mnt`;
  await Deno.mkdir(mountPoint);
  try {
    await body(mountPoint);
  } finally {
    await FuseSession.clearStaleMount(mountPoint);
    await Deno.remove(dir, { recursive: true });
  }
}

const smallFs = () => new MemoryFs({ files: { small: new TextEncoder().encode("hello\n") } });

Deno.test("a mount left by a killed process is cleared and the place mounts again", async () => {
  await withMountPoint(async (mountPoint) => {
    expectEqual(await FuseSession.clearStaleMount(mountPoint), "none", "before mounting");
    const holder = await startHolder(mountPoint);
    expectEqual(await Deno.readTextFile(`${mountPoint}/small`), "held\n", "served by the holder");
    expectEqual(await FuseSession.clearStaleMount(mountPoint), "alive", "while served");
    holder.kill("SIGKILL");
    await holder.status;

    const listing = Deno.readDir(mountPoint)[Symbol.asyncIterator]().next();
    expectEqual(await errorCode(listing), "ENOTCONN", "listing the stale mount");
    expectEqual(await FuseSession.clearStaleMount(mountPoint), "cleared", "stale mount");
    expectEqual(await FuseSession.clearStaleMount(mountPoint), "none", "after clearing");

    const session = await FuseSession.mount(mountPoint, smallFs(), {
      fsName: "ukaitest",
      subtype: "ukaitest",
    });
    try {
      expectEqual(await Deno.readTextFile(`${mountPoint}/small`), "hello\n", "new mount");
    } finally {
      await session.unmount();
    }
    expectEqual(await findMount(session.mountPoint), undefined, "mount after unmount");
  });
});

for (const lanes of [0, 2]) {
  const suffix = lanes === 0 ? "" : ` (${lanes} lanes)`;

  Deno.test(`a clean unmount waits for the requests in flight${suffix}`, async () => {
    const fs = new MemoryFs({
      files: { small: new TextEncoder().encode("hello\n") },
      replyDelayMs: () => 300,
    });
    await withMount(fs, async ({ mountPoint, session }) => {
      let readDone = 0;
      const reading = Deno.readTextFile(`${mountPoint}/small`).then((text) => {
        readDone = performance.now();
        return text;
      });
      await waitFor(() => fs.inFlight > 0, "the read to arrive");
      await session.unmount();
      const unmountDone = performance.now();
      expectEqual(await reading, "hello\n", "read answered during unmount");
      assert(readDone > 0 && readDone <= unmountDone, "unmount finished before the read");
      expectEqual(await findMount(mountPoint), undefined, "mount after unmount");
      expectEqual(session.inFlight, 0, "requests in flight after unmount");
    }, { lanes: { count: lanes } });
  });

  Deno.test(`a mount still busy after the timeout is aborted${suffix}`, async () => {
    await withMount(smallFs(), async ({ mountPoint, session, logLines }) => {
      const holder = new Deno.Command("sh", {
        args: ["-c", `exec 3<"${mountPoint}/small"; echo open; exec sleep 30`],
        stdout: "piped",
      }).spawn();
      const reader = holder.stdout.getReader();
      await reader.read();
      await reader.cancel();
      try {
        const started = performance.now();
        await session.unmount({ busyTimeoutMs: 300 });
        assert(performance.now() - started >= 300, "unmount gave up waiting too early");
        expectEqual(await findMount(mountPoint), undefined, "mount after abort");
        assert(logLines.some((line) => line.includes("aborting")), "abort logged");
      } finally {
        holder.kill("SIGKILL");
        await holder.status;
      }
    }, { lanes: { count: lanes } });
  });
}
