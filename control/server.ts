/**
 * The control API server: HTTP + JSON on a Unix socket (mode 0600 unless
 * told otherwise) and, optionally, on TCP where every request must carry the
 * bearer token. Routes are in `image_routes.ts` and `node_routes.ts`;
 * `/metrics` serves Prometheus text (on TCP it needs the token as well).
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";
import type { ControlContext } from "./context.ts";
import { CONTROL_BODY_BYTES_MAX, errorReply, RawAnswer, Router, tokenMatches } from "./http.ts";
import { type HttpServer, type HttpServerOptions, serveHttp } from "./http_server.ts";
import { imageRoutes } from "./image_routes.ts";
import type { Metrics } from "./metrics.ts";
import { nodeRoutes } from "./node_routes.ts";

/** Where the API listens. */
export interface ControlListen {
  /** Unix socket path. */
  readonly socketPath: string;
  /** Permission bits of the socket (default 0o600). */
  readonly socketMode?: number;
  /** Optional TCP listener, which requires `token`. */
  readonly tcp?: { readonly hostname: string; readonly port: number; readonly token: string };
}

/** The running API. */
export interface ControlServer {
  /** The TCP port, when listening on TCP. */
  readonly tcpPort: number | null;
  close(): Promise<void>;
}

/** Builds the router of every API route. */
export function controlRouter(context: ControlContext, metrics: Metrics): Router {
  const router = new Router();
  imageRoutes(router, context);
  nodeRoutes(router, context);
  router.on("GET", "/metrics", {}, async () => {
    const { body, contentType } = await metrics.render();
    return new RawAnswer({ status: 200, contentType, text: body });
  });
  return router;
}

/** Starts the API on the socket (and TCP when configured). */
export async function startControlServer(
  router: Router,
  listen: ControlListen,
  logger: Logger,
): Promise<ControlServer> {
  await Deno.remove(listen.socketPath).catch(() => undefined);
  const directory = listen.socketPath.slice(0, listen.socketPath.lastIndexOf("/"));
  if (directory !== "") await Deno.mkdir(directory, { recursive: true });
  const options: HttpServerOptions = {
    bodyBytesMax: CONTROL_BODY_BYTES_MAX,
    refuse: (status, message) =>
      status === 500
        ? errorReply(new UkaiError("IO", message))
        : { ...errorReply(new UkaiError("INVALID_ARGUMENT", message)), status },
  };
  const unixListener = Deno.listen({ transport: "unix", path: listen.socketPath });
  await Deno.chmod(listen.socketPath, listen.socketMode ?? 0o600);
  const unix = serveHttp(unixListener, (request) => router.handle(request), options);
  let tcp: { server: HttpServer; addr: Deno.NetAddr } | null = null;
  if (listen.tcp !== undefined) {
    const { token, hostname, port } = listen.tcp;
    const listener = Deno.listen({ hostname, port });
    const server = serveHttp(listener, (request) => {
      if (!tokenMatches(request.headers.get("authorization"), token)) {
        return errorReply(new UkaiError("AUTH_FAILED", "Missing or wrong bearer token"));
      }
      return router.handle(request);
    }, options);
    tcp = { server, addr: listener.addr };
  }
  logger.info("control API listening", {
    socket: listen.socketPath,
    tcp: tcp === null ? undefined : `${tcp.addr.hostname}:${tcp.addr.port}`,
  });
  return {
    tcpPort: tcp?.addr.port ?? null,
    async close() {
      await unix.close();
      await tcp?.server.close();
      await Deno.remove(listen.socketPath).catch(() => undefined);
    },
  };
}
