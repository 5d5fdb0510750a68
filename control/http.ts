/**
 * The HTTP plumbing of the control API: a tiny router with `:param`
 * segments, JSON bodies read with a size cap and validated as objects,
 * errors as `{error: {code, message, details}}` with the status from the
 * error table, and the bearer-token check for TCP listeners.
 *
 * @module
 */

import { describeError, ERROR_TABLE, UkaiError } from "../base/errors.ts";

/** Largest request body the control API reads. */
export const CONTROL_BODY_BYTES_MAX = 64 * 1024;

/** What a route handler receives. */
export interface ControlRequest {
  readonly method: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly headers: Headers;
  /** The JSON body (an object), or `{}` when there is none. */
  readonly body: Readonly<Record<string, unknown>>;
}

/** A route's answer: a JSON value (status 200 unless given) or a raw response. */
export type ControlAnswer = unknown | Response;

/** A route handler. */
export type ControlHandler = (request: ControlRequest) => Promise<ControlAnswer> | ControlAnswer;

interface Route {
  readonly method: string;
  readonly parts: readonly string[];
  readonly handler: ControlHandler;
}

/** JSON response with `status`. */
export function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value, null, 2) + "\n", {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** The response for any thrown error. */
export function errorResponse(error: unknown): Response {
  const ukai = error instanceof UkaiError ? error : new UkaiError("IO", describeError(error));
  const body: Record<string, unknown> = { code: ukai.code, message: ukai.message };
  if (ukai.details !== undefined) body.details = ukai.details;
  return json({ error: body }, ERROR_TABLE[ukai.code].http);
}

async function readBody(request: Request): Promise<Record<string, unknown>> {
  if (request.body === null) return {};
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > CONTROL_BODY_BYTES_MAX) {
      await reader.cancel();
      throw new UkaiError(
        "INVALID_ARGUMENT",
        `Request body is larger than ${CONTROL_BODY_BYTES_MAX} bytes`,
      );
    }
    chunks.push(value);
  }
  if (size === 0) return {};
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new UkaiError("INVALID_ARGUMENT", "Request body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UkaiError("INVALID_ARGUMENT", "Request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/** Routes requests to handlers by method and path. */
export class Router {
  readonly #routes: Route[] = [];

  /** Adds a route; `path` segments starting with `:` are parameters. */
  on(method: string, path: string, handler: ControlHandler): this {
    this.#routes.push({ method, parts: path.split("/").filter(Boolean), handler });
    return this;
  }

  #match(method: string, path: string): { route: Route; params: Record<string, string> } | null {
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    let pathMatched = false;
    for (const route of this.#routes) {
      if (route.parts.length !== parts.length) continue;
      const params: Record<string, string> = {};
      const fits = route.parts.every((part, index) => {
        if (part.startsWith(":")) {
          params[part.slice(1)] = parts[index] as string;
          return true;
        }
        return part === parts[index];
      });
      if (!fits) continue;
      pathMatched = true;
      if (route.method === method) return { route, params };
    }
    if (pathMatched) {
      throw new UkaiError("INVALID_ARGUMENT", `Method ${method} is not allowed on ${path}`);
    }
    return null;
  }

  /** Answers one HTTP request. */
  async handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    try {
      const found = this.#match(request.method, url.pathname);
      if (found === null) throw new UkaiError("NOT_FOUND", `No API route ${url.pathname}`);
      const answer = await found.route.handler({
        method: request.method,
        params: found.params,
        query: url.searchParams,
        headers: request.headers,
        body: await readBody(request),
      });
      return answer instanceof Response ? answer : json(answer);
    } catch (error) {
      return errorResponse(error);
    }
  }
}

/** Constant-time comparison of a presented bearer token with the expected one. */
export function tokenMatches(header: string | null, expected: string): boolean {
  const presented = /^Bearer (.+)$/.exec(header ?? "")?.[1] ?? "";
  const a = new TextEncoder().encode(presented);
  const b = new TextEncoder().encode(expected);
  let difference = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) difference |= (a[i] ?? 0) ^ (b[i] as number);
  return difference === 0;
}
