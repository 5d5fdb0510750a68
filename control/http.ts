/**
 * The routing of the control API: a tiny router with `:param` segments,
 * JSON bodies (UTF-8, read by `http_server.ts` under a size cap) validated as objects,
 * errors as `{error: {code, message, details}}` with the status from the
 * error table, replays of requests retried with the same `Idempotency-Key`,
 * and the bearer-token check for TCP listeners.
 *
 * @module
 */

import { describeError, ERROR_TABLE, UkaiError } from "../base/errors.ts";
import type { HttpReply, HttpRequest } from "./http_server.ts";
import { IdempotencyCache } from "./idempotency.ts";
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

/** A route's answer: a JSON value (status 200), or a {@linkcode RawAnswer}. */
export type ControlAnswer = unknown;

/** An answer with its own status or content type. */
export class RawAnswer {
  constructor(readonly reply: HttpReply) {}
}

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

/** A JSON reply with `status`. */
export function jsonReply(value: unknown, status = 200): HttpReply {
  return { status, contentType: "application/json", text: JSON.stringify(value, null, 2) + "\n" };
}

/** A JSON answer with a status other than 200. */
export function json(value: unknown, status: number): RawAnswer {
  return new RawAnswer(jsonReply(value, status));
}

/** The reply to any thrown error. */
export function errorReply(error: unknown): HttpReply {
  const ukai = error instanceof UkaiError ? error : new UkaiError("IO", describeError(error));
  const body: Record<string, unknown> = { code: ukai.code, message: ukai.message };
  if (ukai.details !== undefined) body.details = ukai.details;
  return jsonReply({ error: body }, ERROR_TABLE[ukai.code].http);
}

/** Decodes request bodies; `fatal` and no streaming, so one instance serves every request. */
const utf8 = new TextDecoder("utf-8", { fatal: true });

function bodyText(body: Uint8Array): string {
  try {
    return utf8.decode(body);
  } catch {
    throw new UkaiError("INVALID_ARGUMENT", "Request body is not UTF-8");
  }
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

function idempotencyKeyOf(headers: ReadonlyMap<string, string>): string | null {
  const key = headers.get("idempotency-key");
  if (key === undefined) return null;
  if (!/^[\x21-\x7e]+$/.test(key) || key.length > IDEMPOTENCY_KEY_LENGTH_MAX) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Idempotency-Key must be 1 to ${IDEMPOTENCY_KEY_LENGTH_MAX} printable characters`,
    );
  }
  return key;
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
  async handle(request: HttpRequest): Promise<HttpReply> {
    const queryAt = request.target.indexOf("?");
    const path = queryAt < 0 ? request.target : request.target.slice(0, queryAt);
    const query = new URLSearchParams(queryAt < 0 ? "" : request.target.slice(queryAt + 1));
    try {
      const { route, params } = this.#match(request.method, path);
      const idempotencyKey = idempotencyKeyOf(request.headers);
      const text = bodyText(request.body);
      const body = parseBody(text);
      knownQuery(query, route.accepts.query ?? []);
      knownFields(body, route.accepts.body ?? []);
      const run = async () => {
        try {
          const answer = await route.handler({
            method: request.method,
            params,
            query,
            idempotencyKey,
            body,
          });
          return answer instanceof RawAnswer ? answer.reply : jsonReply(answer);
        } catch (error) {
          return errorReply(error);
        }
      };
      return idempotencyKey === null || request.method === "GET"
        ? await run()
        : await this.#replays.run(
          idempotencyKey,
          `${request.method} ${request.target} ${text}`,
          run,
        );
    } catch (error) {
      return errorReply(error);
    }
  }
}

/** Constant-time comparison of a presented bearer token with the expected one. */
export function tokenMatches(header: string | undefined, expected: string): boolean {
  const presented = /^Bearer (.+)$/.exec(header ?? "")?.[1] ?? "";
  const a = new TextEncoder().encode(presented);
  const b = new TextEncoder().encode(expected);
  let difference = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) difference |= (a[i] ?? 0) ^ (b[i] as number);
  return difference === 0;
}
