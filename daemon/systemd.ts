/**
 * Readiness for systemd (`Type=notify`): once the node has joined and the
 * mount is up, `READY=1` is sent to `$NOTIFY_SOCKET` with `systemd-notify`
 * (the unit sets `NotifyAccess=all`). Without systemd this does nothing.
 *
 * @module
 */

import { describeError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";

async function notify(message: string, logger?: Logger): Promise<void> {
  if ((Deno.env.get("NOTIFY_SOCKET") ?? "") === "") return;
  try {
    const { success } = await new Deno.Command("systemd-notify", {
      args: [`--pid=${Deno.pid}`, message],
      stdout: "null",
      stderr: "null",
    }).output();
    if (!success) logger?.warn("systemd-notify failed", { message });
  } catch (error) {
    logger?.warn("systemd-notify is not available", { error: describeError(error) });
  }
}

/** Tells systemd the node is serving. */
export function notifyReady(logger: Logger): Promise<void> {
  return notify("READY=1", logger);
}

/** Tells systemd the node is stopping. */
export function notifyStopping(): Promise<void> {
  return notify("STOPPING=1");
}
