/**
 * What a session asks for in FUSE `init`: async reads and async direct I/O
 * (when the kernel offers them), no writeback cache and no splice, 1 MiB reads
 * (matching the `max_read` mount option, as libfuse requires), and a raised
 * `max_background` so a guest's queue depth reaches the filesystem. Knows
 * nothing of ukai.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { Capability, MAX_TRANSFER_BYTES } from "./fuse_layout.ts";
import { readConnection, writeConnection } from "./fuse_structs.ts";
import type { ConnectionInfo } from "./fuse_types.ts";

/** The background-request limits a session asks for. */
export interface BackgroundLimits {
  /** Background requests (async reads, direct I/O) in flight at once, below 65536. */
  maxBackground: number;
  /** Background requests above which the kernel reports congestion (≤ maxBackground). */
  congestionThreshold: number;
}

/** Asserts that `limits` are acceptable to the kernel. */
export function checkBackgroundLimits(limits: BackgroundLimits): void {
  const { maxBackground, congestionThreshold } = limits;
  assert(
    Number.isInteger(maxBackground) && maxBackground >= 1 && maxBackground < 65536,
    `bad maxBackground ${maxBackground}`,
  );
  assert(
    Number.isInteger(congestionThreshold) && congestionThreshold >= 1 &&
      congestionThreshold <= maxBackground,
    `bad congestionThreshold ${congestionThreshold}`,
  );
}

const WANTED = Capability.asyncRead | Capability.asyncDio;
const REFUSED = Capability.writebackCache | Capability.spliceRead | Capability.spliceWrite |
  Capability.spliceMove;

/**
 * Adjusts the `struct fuse_conn_info` libfuse hands to `init` and returns the
 * connection as it will be answered to the kernel.
 */
export function negotiateConnection(
  connection: Deno.PointerObject,
  limits: BackgroundLimits,
): ConnectionInfo {
  const offered = readConnection(connection);
  writeConnection(connection, {
    want: (offered.want | (WANTED & offered.capable)) & ~REFUSED,
    maxRead: MAX_TRANSFER_BYTES,
    maxBackground: limits.maxBackground,
    congestionThreshold: limits.congestionThreshold,
  });
  return readConnection(connection);
}
