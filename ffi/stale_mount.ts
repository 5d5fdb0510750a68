/**
 * Detects and clears a stale FUSE mount: what a killed filesystem process
 * leaves behind (accesses fail with ENOTCONN, "Transport endpoint is not
 * connected", and a new mount at the same place fails). A FUSE entry for the
 * path in the mount table whose listing fails with ENOTCONN is stale. Clearing detaches it
 * with umount2(MNT_DETACH), or `fusermount3 -u -z` where that is not allowed.
 * A mount whose server still answers is left alone. Knows nothing of ukai.
 *
 * @module
 */

import { Errno } from "./errno.ts";
import { umount2 } from "./libc.ts";
import { canonicalMountPoint, findMount, isFuseType } from "./mount_table.ts";

/** What {@link clearStaleMount} found at the mount point. */
export type StaleMountOutcome =
  /** Nothing mounted there. */
  | "none"
  /** A dead FUSE mount was there and is now detached. */
  | "cleared"
  /** A FUSE filesystem whose server answers (or hangs) is mounted there; left alone. */
  | "alive";

/** umount2 flag: detach now, finish when the last user is gone. */
export const MNT_DETACH = 2;

/** How long listing the mount point may take before its server counts as alive but hung. */
const PROBE_TIMEOUT_MS = 2000;

/** Repeats for mounts stacked on the same point by several killed processes. */
const MAX_STACKED_MOUNTS = 8;

/** How the mount point answers: any answer but ENOTCONN means a live server. */
type Probe = "answered" | "not-connected" | "hung";

/**
 * Lists the mount point off the JS thread. Not a stat: the kernel answers a
 * stat from cached attributes for a while after the server died, but every
 * opendir reaches the server (or fails with ENOTCONN).
 */
async function probe(path: string): Promise<Probe> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Probe>((resolve) => {
    timer = setTimeout(() => resolve("hung"), PROBE_TIMEOUT_MS);
  });
  const listing = Deno.readDir(path)[Symbol.asyncIterator]().next().then(
    (): Probe => "answered",
    (error: unknown): Probe => {
      const code = (error as { code?: unknown }).code;
      const notConnected = code === "ENOTCONN" ||
        String(error).includes(`os error ${Errno.ENOTCONN}`);
      return notConnected ? "not-connected" : "answered";
    },
  );
  try {
    return await Promise.race([listing, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function detach(mountPoint: string): Promise<void> {
  try {
    await umount2(mountPoint, MNT_DETACH);
  } catch {
    // Not allowed (not root) or already gone: the helper below or the check decides.
  }
  if (await findMount(mountPoint) === undefined) return;
  const helper = await new Deno.Command("fusermount3", {
    args: ["-u", "-z", mountPoint],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (await findMount(mountPoint) !== undefined) {
    const message = new TextDecoder().decode(helper.stderr).trim();
    throw new Error(`cannot detach stale mount ${mountPoint}: ${message}`);
  }
}

/**
 * Clears a stale FUSE mount at `path` so that the next mount there succeeds.
 * Call it before mounting; it never touches a mount whose server answers.
 */
export async function clearStaleMount(path: string): Promise<StaleMountOutcome> {
  const mountPoint = await canonicalMountPoint(path);
  let outcome: StaleMountOutcome = "none";
  for (let layer = 0; layer < MAX_STACKED_MOUNTS; layer++) {
    const entry = await findMount(mountPoint);
    if (entry === undefined || !isFuseType(entry.fsType)) return outcome;
    if (await probe(mountPoint) !== "not-connected") return "alive";
    await detach(mountPoint);
    outcome = "cleared";
  }
  throw new Error(`more than ${MAX_STACKED_MOUNTS} stale mounts stacked at ${mountPoint}`);
}
