/**
 * The control API client the CLI uses: JSON over the Unix socket, or over
 * TCP with a bearer token. Error bodies become `UkaiError`s with their code;
 * a server that cannot be reached is CONTROL_UNREACHABLE with the reason in
 * words. Requests that are safe to repeat (GET, or carrying an
 * `Idempotency-Key`) are retried for a few seconds while the metadata group
 * has no leader.
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

/** Pauses before the retries of a request refused for want of a leader. */
export const RETRY_DELAYS_MS = [250, 500, 1000, 2000] as const;

/** Options of one call. */
export interface CallOptions {
  readonly body?: unknown;
  /** Makes a mutating call safe to retry; the server applies it once. */
  readonly idempotencyKey?: string;
}

function connectionProblem(where: string, error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error
    ? error.cause.message
    : describeError(error);
  const errno = Number(/os error (\d+)/.exec(cause)?.[1]);
  if (errno === 2) {
    return `no control socket at ${where}; is \`ukai serve\` running? (--control or UKAI_CONTROL picks another)`;
  }
  if (errno === 111) return `nothing answers at ${where}; the server is not running`;
  if (errno === 13) return `permission denied on ${where}; the socket is for root (mode 0600)`;
  return cause.replace(/^.*\): /, "");
}

/** Calls the control API. */
export class ControlClient {
  readonly #endpoint: ControlEndpoint;
  readonly #client: Deno.HttpClient | undefined;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(
    endpoint: ControlEndpoint,
    options: { sleep?: (ms: number) => Promise<void> } = {},
  ) {
    this.#endpoint = endpoint;
    this.#client = "socketPath" in endpoint
      ? Deno.createHttpClient({ proxy: { transport: "unix", path: endpoint.socketPath } })
      : undefined;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Where this client connects, for messages. */
  get where(): string {
    return "socketPath" in this.#endpoint ? this.#endpoint.socketPath : this.#endpoint.url;
  }

  /**
   * Sends a request and returns the parsed JSON answer.
   *
   * @throws {UkaiError} the server's error code; CONTROL_UNREACHABLE when it cannot be reached
   */
  async call<T = Record<string, unknown>>(
    method: string,
    path: string,
    options: CallOptions = {},
  ): Promise<T> {
    const text = await this.text(method, path, options);
    return (text === "" ? {} : JSON.parse(text)) as T;
  }

  /** Like {@link call} but returns the body text (for /metrics). */
  async text(method: string, path: string, options: CallOptions = {}): Promise<string> {
    const repeatable = method === "GET" || options.idempotencyKey !== undefined;
    for (let attempt = 0;; attempt++) {
      try {
        return await this.#once(method, path, options);
      } catch (error) {
        const leaderless = error instanceof UkaiError &&
          (error.code === "NO_QUORUM" || error.code === "NOT_LEADER");
        const delay = RETRY_DELAYS_MS[attempt];
        if (!repeatable || !leaderless || delay === undefined) throw error;
        await this.#sleep(delay);
      }
    }
  }

  async #once(method: string, path: string, options: CallOptions): Promise<string> {
    const headers: Record<string, string> = {};
    if (options.body !== undefined) headers["content-type"] = "application/json";
    if (options.idempotencyKey !== undefined) headers["idempotency-key"] = options.idempotencyKey;
    // Over the socket the host is not used, but fetch would still look a name up in DNS (and
    // wait out the resolver's timeout where DNS drops queries): an IP literal needs no lookup.
    let base = "http://127.0.0.1";
    if ("url" in this.#endpoint) {
      base = this.#endpoint.url.replace(/\/$/, "");
      headers.authorization = `Bearer ${this.#endpoint.token}`;
    }
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        ...(this.#client === undefined ? {} : { client: this.#client }),
      });
      text = await response.text();
    } catch (error) {
      throw new UkaiError(
        "CONTROL_UNREACHABLE",
        `Cannot reach the ukai server: ${connectionProblem(this.where, error)}`,
      );
    }
    if (response.ok) return text;
    throw errorFromAnswer(response.status, text);
  }

  /** Releases the connection pool. */
  close(): void {
    this.#client?.close();
  }
}

/** The `UkaiError` an error answer stands for. */
function errorFromAnswer(status: number, text: string): UkaiError {
  let error: { code?: unknown; message?: unknown; details?: unknown } = {};
  try {
    error = (JSON.parse(text) as { error?: typeof error }).error ?? {};
  } catch {
    // not JSON: reported with the status
  }
  const code = isErrorCode(error.code) ? error.code : "IO";
  const message = typeof error.message === "string"
    ? error.message
    : `The server answered ${status}`;
  return new UkaiError(
    code,
    message,
    typeof error.details === "object" && error.details !== null
      ? { details: error.details as Record<string, unknown> }
      : undefined,
  );
}
