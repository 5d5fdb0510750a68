/**
 * The control API client the CLI uses: JSON over the Unix socket (or TCP
 * with a bearer token). Error bodies become `UkaiError`s with their code;
 * a server that cannot be reached is UNREACHABLE with the path it tried.
 *
 * @module
 */

import { describeError, isErrorCode, UkaiError } from "../base/errors.ts";

/** Where the client connects. */
export type ControlEndpoint =
  | { readonly socketPath: string }
  | { readonly url: string; readonly token: string };

/** The default control socket. */
export const DEFAULT_CONTROL_SOCKET = "/run/ukai/control.sock";

/** Calls the control API. */
export class ControlClient {
  readonly #endpoint: ControlEndpoint;
  readonly #client: Deno.HttpClient | undefined;

  constructor(endpoint: ControlEndpoint) {
    this.#endpoint = endpoint;
    this.#client = "socketPath" in endpoint
      ? Deno.createHttpClient({ proxy: { transport: "unix", path: endpoint.socketPath } })
      : undefined;
  }

  /** Where this client connects, for messages. */
  get where(): string {
    return "socketPath" in this.#endpoint ? this.#endpoint.socketPath : this.#endpoint.url;
  }

  /**
   * Sends a request and returns the parsed JSON answer.
   *
   * @throws {UkaiError} the server's error code; UNREACHABLE when the server cannot be reached
   */
  async call<T = Record<string, unknown>>(
    method: string,
    path: string,
    options: { body?: unknown; idempotencyKey?: string } = {},
  ): Promise<T> {
    const text = await this.text(method, path, options);
    return (text === "" ? {} : JSON.parse(text)) as T;
  }

  /** Like {@link call} but returns the body text (for /metrics). */
  async text(
    method: string,
    path: string,
    options: { body?: unknown; idempotencyKey?: string } = {},
  ): Promise<string> {
    const headers: Record<string, string> = {};
    if (options.body !== undefined) headers["content-type"] = "application/json";
    if (options.idempotencyKey !== undefined) headers["idempotency-key"] = options.idempotencyKey;
    let base = "http://ukai";
    if ("url" in this.#endpoint) {
      base = this.#endpoint.url.replace(/\/$/, "");
      headers.authorization = `Bearer ${this.#endpoint.token}`;
    }
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        ...(this.#client === undefined ? {} : { client: this.#client }),
      });
    } catch (error) {
      throw new UkaiError(
        "UNREACHABLE",
        `Cannot reach the ukai server at ${this.where}: ${describeError(error)}`,
      );
    }
    const text = await response.text();
    if (response.ok) return text;
    let error: { code?: unknown; message?: unknown; details?: unknown } = {};
    try {
      error = (JSON.parse(text) as { error?: typeof error }).error ?? {};
    } catch {
      // not JSON: reported below with the status
    }
    const code = isErrorCode(error.code) ? error.code : "IO";
    const message = typeof error.message === "string"
      ? error.message
      : `The server answered ${response.status}`;
    throw new UkaiError(
      code,
      message,
      typeof error.details === "object" && error.details !== null
        ? { details: error.details as Record<string, unknown> }
        : undefined,
    );
  }

  /** Releases the connection pool. */
  close(): void {
    this.#client?.close();
  }
}
