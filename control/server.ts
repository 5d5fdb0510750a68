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
import { errorResponse, Router, tokenMatches } from "./http.ts";
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
    return new Response(body, { headers: { "content-type": contentType } });
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
  const onError = (error: unknown) => errorResponse(error);
  const unix = Deno.serve(
    { path: listen.socketPath, onListen: () => {}, onError },
    (request) => router.handle(request),
  );
  await Deno.chmod(listen.socketPath, listen.socketMode ?? 0o600);
  let tcp: Deno.HttpServer<Deno.NetAddr> | null = null;
  if (listen.tcp !== undefined) {
    const { token, hostname, port } = listen.tcp;
    tcp = Deno.serve({ hostname, port, onListen: () => {}, onError }, (request) => {
      if (!tokenMatches(request.headers.get("authorization"), token)) {
        return errorResponse(new UkaiError("AUTH_FAILED", "Missing or wrong bearer token"));
      }
      return router.handle(request);
    });
  }
  logger.info("control API listening", {
    socket: listen.socketPath,
    tcp: tcp === null ? undefined : `${tcp.addr.hostname}:${tcp.addr.port}`,
  });
  return {
    tcpPort: tcp?.addr.port ?? null,
    async close() {
      await unix.shutdown();
      await tcp?.shutdown();
      await Deno.remove(listen.socketPath).catch(() => undefined);
    },
  };
}
