/**
 * Node ids as net/ sees them: short ASCII names that travel in the handshake.
 * net/ checks the shape only; which ids exist is the cluster's business.
 *
 * @module
 */

import { NODE_ID_LENGTH_MAX } from "../constants.ts";

/** The id of a ukai node ("n1", "kvm-03"). Checked by {@link nodeIdInvalid} at every gateway. */
export type NodeId = string;

const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Why `id` cannot be a node id, or null: 1-63 ASCII letters, digits, `.`, `_`
 * or `-`, starting with a letter or digit.
 *
 * @example
 * ```ts
 * import { nodeIdInvalid } from "./node_id.ts";
 * if (nodeIdInvalid("n1") !== null || nodeIdInvalid("../x") === null) throw new Error("bad");
 * ```
 */
export function nodeIdInvalid(id: string): string | null {
  if (id.length === 0) return "node id is empty";
  if (id.length > NODE_ID_LENGTH_MAX) {
    return `node id is ${id.length} characters, at most ${NODE_ID_LENGTH_MAX} allowed`;
  }
  if (!NODE_ID_PATTERN.test(id)) {
    return `node id ${JSON.stringify(id)} must be letters, digits, ".", "_" or "-"`;
  }
  return null;
}
