/**
 * The HTTP plumbing of the control API: a tiny router with `:param`
 * segments, JSON bodies read with a size cap and validated as objects,
 * errors as `{error: {code, message, details}}` with the status from the
 * error table, replays of requests retried with the same `Idempotency-Key`,
 * and the bearer-token check for TCP listeners.
 *
 * @module
 */

import { describeError, ERROR_TABLE, UkaiError } from "../base/errors.ts";
import { IdempotencyCache, type StoredResponse } from "./idempotency.ts";
import { knownFields, knownQuery } from "./input.ts";

/** Largest request body the control API reads. */
export const CONTROL_BODY_BYTES_MAX = 64 * 1024;

/** Longest `Idempotency-Key` accepted. */
export const IDEMPOTENCY_KEY_LENGTH_MAX = 64;

/** What a route handler receives. */
export interface ControlRequest {
  readonly method: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The client's `Idempotency-Key`, checked, or null. */
  readonly idempotencyKey: string | null;
  /** The JSON body (an object), or `{}` when there is none. */
  readonly body: Readonly<Record<string, unknown>>;
}

/** A route's answer: a JSON value (status 200 unless given) or a raw response. */
export type ControlAnswer = unknown | Response;

/** A route handler. */
export type ControlHandler = (request: ControlRequest) => Promise<ControlAnswer> | ControlAnswer;

/** What a route accepts besides its path: query parameters and body fields (none if absent). */
export interface Accepts {
  readonly query?: readonly string[];
  readonly body?: readonly string[];
}

interface Route {
  readonly method: string;
  readonly parts: readonly string[];
  readonly accepts: Accepts;
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

/** Decodes request bodies; `fatal` and no streaming, so one instance serves every request. */
const utf8 = new TextDecoder("utf-8", { fatal: true });

async function readText(request: Request): Promise<string> {
  if (request.body === null) return "";
  const declared = request.headers.get("content-length");
  const tooLarge = () =>
    new UkaiError(
      "INVALID_ARGUMENT",
      `Request body is larger than ${CONTROL_BODY_BYTES_MAX} bytes`,
    );
  if (Number(declared ?? 0) > CONTROL_BODY_BYTES_MAX) {
    await request.body.cancel();
    throw tooLarge();
  }
  // A declared length is enforced by the HTTP server: read it in one go.
  const bytes = declared !== null
    ? new Uint8Array(await request.arrayBuffer())
    : await readChunked(request.body, tooLarge);
  if (bytes.length > CONTROL_BODY_BYTES_MAX) throw tooLarge();
  try {
    return utf8.decode(bytes);
  } catch {
    throw new UkaiError("INVALID_ARGUMENT", "Request body is not UTF-8");
  }
}

/** Reads a body of undeclared length, refusing it once it passes the limit. */
async function readChunked(
  body: ReadableStream<Uint8Array>,
  tooLarge: () => UkaiError,
): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > CONTROL_BODY_BYTES_MAX) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

function parseBody(text: string): Record<string, unknown> {
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Request body is not valid JSON: ${describeError(error)}`,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UkaiError("INVALID_ARGUMENT", "Request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

function idempotencyKeyOf(headers: Headers): string | null {
  const key = headers.get("idempotency-key");
  if (key === null) return null;
  if (!/^[\x21-\x7e]+$/.test(key) || key.length > IDEMPOTENCY_KEY_LENGTH_MAX) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Idempotency-Key must be 1 to ${IDEMPOTENCY_KEY_LENGTH_MAX} printable characters`,
    );
  }
  return key;
}

async function stored(response: Response): Promise<StoredResponse> {
  return {
    status: response.status,
    contentType: response.headers.get("content-type") ?? "application/json",
    text: await response.text(),
  };
}

/** Routes requests to handlers by method and path. */
export class Router {
  readonly #routes: Route[] = [];
  readonly #replays = new IdempotencyCache();

  /**
   * Adds a route; `path` segments starting with `:` are parameters. Requests
   * with query parameters or body fields other than `accepts` are refused
   * before `handler` runs.
   */
  on(method: string, path: string, accepts: Accepts, handler: ControlHandler): this {
    this.#routes.push({ method, parts: path.split("/").filter(Boolean), accepts, handler });
    return this;
  }

  /** Every route as `METHOD /path` with `:param` segments, in the order they were added. */
  routes(): string[] {
    return this.#routes.map((route) => `${route.method} /${route.parts.join("/")}`);
  }

  #match(method: string, path: string): { route: Route; params: Record<string, string> } {
    let parts: string[];
    try {
      parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    } catch {
      throw new UkaiError("INVALID_ARGUMENT", `Path ${path} is not properly percent-encoded`);
    }
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
    throw new UkaiError("NOT_FOUND", `No API route ${path}`);
  }

  /** Answers one HTTP request. */
  async handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    try {
      const { route, params } = this.#match(request.method, url.pathname);
      const idempotencyKey = idempotencyKeyOf(request.headers);
      const text = await readText(request);
      const body = parseBody(text);
      knownQuery(url.searchParams, route.accepts.query ?? []);
      knownFields(body, route.accepts.body ?? []);
      const run = async () => {
        try {
          const answer = await route.handler({
            method: request.method,
            params,
            query: url.searchParams,
            idempotencyKey,
            body,
          });
          return await stored(answer instanceof Response ? answer : json(answer));
        } catch (error) {
          return await stored(errorResponse(error));
        }
      };
      const answer = idempotencyKey === null || request.method === "GET"
        ? await run()
        : await this.#replays.run(
          idempotencyKey,
          `${request.method} ${url.pathname}${url.search} ${text}`,
          run,
        );
      return new Response(answer.text, {
        status: answer.status,
        headers: { "content-type": answer.contentType },
      });
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
