/**
 * Test fixture: mounts a filesystem under a fresh temporary directory, runs
 * the test body, and always unmounts and removes the directory afterwards.
 *
 * The test's own JS thread serves the mount, so a test body must reach it only
 * through async APIs or subprocesses: a synchronous call on the mount
 * (including `FsFile.close()`, which sends FLUSH) blocks the thread that would
 * answer it, and the process hangs in the kernel.
 *
 * @module
 */

import { captureLogger } from "../../base/log.ts";
import type { FuseOperations } from "../fuse_operations.ts";
import { FuseSession, type FuseSessionOptions } from "../fuse_session.ts";

/** What a test body gets. */
export interface MountedTest {
  /** The mount point. */
  mountPoint: string;
  /** The session serving it. */
  session: FuseSession;
  /** Log lines the session wrote. */
  logLines: string[];
}

/** Mounts `operations` at a temporary directory for the duration of `body`. */
export async function withMount(
  operations: FuseOperations,
  body: (mounted: MountedTest) => Promise<void>,
  options: Partial<FuseSessionOptions> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ukai-ffi-" });
  const mountPoint = `${dir}/mnt`;
  await Deno.mkdir(mountPoint);
  const logger = captureLogger("warn");
  try {
    const session = await FuseSession.mount(mountPoint, operations, {
      fsName: "ukaitest",
      subtype: "ukaitest",
      logger,
      ...options,
    });
    try {
      await body({ mountPoint: session.mountPoint, session, logLines: logger.lines });
    } finally {
      await session.unmount({ busyTimeoutMs: 3000 });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs a command to completion; throws with its stderr when it fails. */
export async function run(command: string, ...args: string[]): Promise<string> {
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
    .output();
  const decoder = new TextDecoder();
  if (!output.success) {
    throw new Error(`${command} ${args.join(" ")} failed: ${decoder.decode(output.stderr)}`);
  }
  return decoder.decode(output.stdout);
}

/** Runs fio on `filename` with O_DIRECT and libaio (no preallocation); `job` adds options. */
export function fio(filename: string, ...job: string[]): Promise<string> {
  return run(
    "fio",
    "--output-format=terse",
    `--filename=${filename}`,
    "--direct=1",
    "--ioengine=libaio",
    "--fallocate=none",
    ...job,
  );
}
