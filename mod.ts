/**
 * ukai as a library: the control API client (to drive a cluster from
 * TypeScript as the CLI does), the error codes every interface shares, the
 * JSON views the API returns, size helpers, and `startNode` to embed a node
 * in another program.
 *
 * @example
 * ```ts ignore
 * import { ControlClient } from "./mod.ts";
 * const client = new ControlClient({ socketPath: "/run/ukai/control.sock" });
 * const { images } = await client.call("GET", "/v1/images");
 * client.close();
 * ```
 *
 * @module
 */

export {
  describeError,
  ERROR_TABLE,
  type ErrorCode,
  errorCodeFromWire,
  EXIT,
  UkaiError,
} from "./base/errors.ts";
export { formatSize, parseBlockRange, parseRate, parseSize } from "./base/units.ts";
export { ControlClient, type ControlEndpoint, DEFAULT_CONTROL_SOCKET } from "./control/client.ts";
export type * from "./control/api_types.ts";
export { resolveConfig, type ServeConfig } from "./daemon/config.ts";
export { type RunningNode, startNode, UKAI_VERSION } from "./daemon/node.ts";
