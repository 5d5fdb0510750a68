/**
 * Stopping a child process: SIGTERM, then SIGKILL if it is still there after
 * a grace period; resolves once it has exited.
 *
 * @module
 */

function signal(process: Deno.ChildProcess, name: Deno.Signal): void {
  try {
    process.kill(name);
  } catch {
    // already gone
  }
}

/** Asks `process` to stop, kills it after `graceMs`, and waits for its exit. */
export async function terminate(process: Deno.ChildProcess, graceMs: number): Promise<void> {
  signal(process, "SIGTERM");
  const timer = setTimeout(() => signal(process, "SIGKILL"), graceMs);
  try {
    await process.status;
  } finally {
    clearTimeout(timer);
  }
}
