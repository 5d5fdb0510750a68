/**
 * A small HTTP/1.1 server for the control API on a `Deno.Listener` (Unix
 * socket or TCP): keep-alive, one request at a time per connection,
 * Content-Length or chunked request bodies under a size cap, `Expect:
 * 100-continue`, origin-form and absolute-form targets, and a graceful close
 * that lets requests in progress finish.
 *
 * Why not `Deno.serve`: it writes a reply only once the JavaScript event loop
 * goes idle. On a Raft leader the loop is busy right after a commit (applying,
 * the commit broadcast, the hard-state write), and the reply waited for all
 * of it; here the reply's bytes go to the socket as soon as the handler
 * resolves (`Deno.Conn.write` issues the system call at once).
 *
 * @module
 */

import { concatBytes } from "../base/bytes.ts";

/** A request as the handler sees it. */
export interface HttpRequest {
  readonly method: string;
  /** The path and query (`/v1/images?x=1`), also for an absolute-form target. */
  readonly target: string;
  /** Header values by lower-case name; repeated headers joined with ", ". */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Uint8Array;
}

/** A reply: the control API only ever answers with a whole text body. */
export interface HttpReply {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

/** Answers one request. */
export type HttpHandler = (request: HttpRequest) => Promise<HttpReply> | HttpReply;

/** Options of {@linkcode serveHttp}. */
export interface HttpServerOptions {
  /** Largest request body accepted; a larger one is refused and the connection closed. */
  readonly bodyBytesMax: number;
  /** The reply to a request the server refuses itself (bad framing, too large, handler threw). */
  readonly refuse: (status: 400 | 413 | 431 | 500, message: string) => HttpReply;
  /**
   * How long a connection may take to send a request's head, counted from
   * the previous reply (or the connect), before it is closed (default 60 s).
   */
  readonly idleMs?: number;
}

/** Default of {@linkcode HttpServerOptions.idleMs}. */
export const HTTP_IDLE_MS_DEFAULT = 60_000;

/** A running server. */
export interface HttpServer {
  /** Stops accepting, closes idle connections, waits for requests in progress. */
  close(): Promise<void>;
}

/** Largest request line plus headers. */
export const HTTP_HEAD_BYTES_MAX = 16 * 1024;

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const CRLF_CRLF = [13, 10, 13, 10] as const;

/** A request the server answers itself, then closes the connection. */
class Refusal extends Error {
  constructor(readonly status: 400 | 413 | 431, message: string) {
    super(message);
  }
}

/** Buffered reads from one connection. */
class ConnectionReader {
  readonly #conn: Deno.Conn;
  #buffer = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Whether bytes are buffered that no request has consumed yet. */
  get buffered(): boolean {
    return this.#buffer.length > 0;
  }

  /** Reads more bytes; false at end of stream. */
  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(16 * 1024);
    const count = await this.#conn.read(chunk);
    if (count === null) return false;
    const received = chunk.subarray(0, count);
    this.#buffer = this.#buffer.length === 0 ? received : concatBytes([this.#buffer, received]);
    return true;
  }

  #take(count: number): Uint8Array {
    const bytes = this.#buffer.subarray(0, count);
    this.#buffer = this.#buffer.subarray(count);
    return bytes;
  }

  /** The bytes up to `delimiter` (consumed, not returned); null at a clean end of stream. */
  async until(delimiter: readonly number[], limit: number, tooLong: () => Refusal) {
    let searched = 0;
    for (;;) {
      const at = indexOf(this.#buffer, delimiter, searched);
      if (at > limit || (at < 0 && this.#buffer.length > limit)) throw tooLong();
      if (at >= 0) {
        const bytes = this.#take(at);
        this.#take(delimiter.length);
        return bytes;
      }
      searched = Math.max(0, this.#buffer.length - delimiter.length + 1);
      if (!(await this.#fill())) {
        if (this.#buffer.length === 0) return null;
        throw new Refusal(400, "The connection ended inside a request");
      }
    }
  }

  /** Exactly `count` bytes. */
  async exactly(count: number): Promise<Uint8Array<ArrayBuffer>> {
    while (this.#buffer.length < count) {
      if (!(await this.#fill())) throw new Refusal(400, "The connection ended inside a body");
    }
    return this.#take(count).slice();
  }
}

function indexOf(bytes: Uint8Array, pattern: readonly number[], from: number): number {
  const first = pattern[0] as number;
  for (let at = bytes.indexOf(first, from); at >= 0; at = bytes.indexOf(first, at + 1)) {
    if (at + pattern.length > bytes.length) return -1;
    if (pattern.every((byte, index) => bytes[at + index] === byte)) return at;
  }
  return -1;
}

/** A parsed request head. */
interface RequestHead {
  readonly method: string;
  readonly target: string;
  readonly version: "1.0" | "1.1";
  readonly headers: Map<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function parseHead(bytes: Uint8Array): RequestHead {
  const lines = latin1.decode(bytes).split("\r\n");
  const requestLine = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.([01])$/.exec(
    lines[0] as string,
  );
  if (requestLine === null) throw new Refusal(400, "Malformed request line");
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (colon <= 0 || !TOKEN.test(name) || /[\0\r\n]/.test(value)) {
      throw new Refusal(400, "Malformed header line");
    }
    const earlier = headers.get(name);
    headers.set(name, earlier === undefined ? value : `${earlier}, ${value}`);
  }
  const [, method, target, minor] = requestLine as unknown as [string, string, string, string];
  return { method, target, version: minor === "0" ? "1.0" : "1.1", headers };
}

/** The path and query of an origin-form (`/p?q`) or absolute-form (`http://h/p?q`) target. */
function targetOf(target: string): string {
  if (target.startsWith("/")) return target;
  if (/^https?:\/\//i.test(target)) {
    try {
      const url = new URL(target);
      return url.pathname + url.search;
    } catch {
      // refused below
    }
  }
  throw new Refusal(400, `Unsupported request target ${JSON.stringify(target.slice(0, 100))}`);
}

async function readBody(
  reader: ConnectionReader,
  conn: Deno.Conn,
  head: RequestHead,
  bodyBytesMax: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const encoding = head.headers.get("transfer-encoding") ?? null;
  const declared = head.headers.get("content-length") ?? null;
  if (encoding !== null && declared !== null) {
    throw new Refusal(400, "Both Transfer-Encoding and Content-Length");
  }
  const tooLarge = () => new Refusal(413, `Request body is larger than ${bodyBytesMax} bytes`);
  if (encoding === null && declared === null) return new Uint8Array(0);
  if (encoding !== null && encoding.toLowerCase() !== "chunked") {
    throw new Refusal(400, `Unsupported Transfer-Encoding ${encoding}`);
  }
  if (declared !== null && !/^\d{1,15}$/.test(declared)) {
    throw new Refusal(400, "Invalid Content-Length");
  }
  if (Number(declared) > bodyBytesMax) throw tooLarge();
  if (head.headers.get("expect")?.toLowerCase() === "100-continue") {
    await writeAll(conn, encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"));
  }
  if (declared !== null) return await reader.exactly(Number(declared));
  return await readChunks(reader, bodyBytesMax, tooLarge);
}

async function readChunks(
  reader: ConnectionReader,
  bodyBytesMax: number,
  tooLarge: () => Refusal,
): Promise<Uint8Array<ArrayBuffer>> {
  const lineTooLong = () => new Refusal(400, "Chunk header too long");
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const line = await reader.until([13, 10], 1024, lineTooLong);
    const sizeText = line === null ? "" : latin1.decode(line).split(";")[0]?.trim() ?? "";
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) throw new Refusal(400, "Malformed chunk size");
    const chunkSize = parseInt(sizeText, 16);
    if (chunkSize === 0) break;
    size += chunkSize;
    if (size > bodyBytesMax) throw tooLarge();
    chunks.push(await reader.exactly(chunkSize));
    const end = await reader.exactly(2);
    if (end[0] !== 13 || end[1] !== 10) throw new Refusal(400, "Malformed chunk end");
  }
  // Trailer lines, ignored, up to the empty line.
  for (;;) {
    const line = await reader.until([13, 10], HTTP_HEAD_BYTES_MAX, lineTooLong);
    if (line === null) throw new Refusal(400, "The connection ended inside a body");
    if (line.length === 0) break;
  }
  return concatBytes(chunks);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

const REASONS: Readonly<Record<number, string>> = {
  200: "OK",
  201: "Created",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  413: "Content Too Large",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** The reply's bytes: head and body in one buffer, so one write sends both. */
function serialize(reply: HttpReply, withBody: boolean, close: boolean): Uint8Array {
  const body = encoder.encode(reply.text);
  const head = `HTTP/1.1 ${reply.status} ${REASONS[reply.status] ?? ""}\r\n` +
    `content-type: ${reply.contentType}\r\ncontent-length: ${body.length}\r\n` +
    (close ? "connection: close\r\n" : "") + "\r\n";
  const headBytes = encoder.encode(head);
  const message = new Uint8Array(headBytes.length + (withBody ? body.length : 0));
  message.set(headBytes);
  if (withBody) message.set(body, headBytes.length);
  return message;
}

/** How long, and for how many bytes, a refused client may go on sending before the close. */
const LINGER_MS = 1000;
const LINGER_BYTES_MAX = 1024 * 1024;

/**
 * After a refusal: stop writing, then read and drop what the client is still
 * sending, for a while. Closing a socket with unread bytes resets it, and the
 * client would see the reset instead of the reply that explains it.
 */
async function linger(conn: Deno.Conn): Promise<void> {
  try {
    await conn.closeWrite();
  } catch {
    return;
  }
  const timer = setTimeout(() => conn.close(), LINGER_MS);
  try {
    const scratch = new Uint8Array(64 * 1024);
    for (let dropped = 0; dropped < LINGER_BYTES_MAX;) {
      const count = await conn.read(scratch);
      if (count === null) break;
      dropped += count;
    }
  } finally {
    clearTimeout(timer);
  }
}

function wantsClose(head: RequestHead): boolean {
  const connection = head.headers.get("connection")?.toLowerCase() ?? "";
  if (head.version === "1.0") return !connection.split(",").some((t) => t.trim() === "keep-alive");
  return connection.split(",").some((token) => token.trim() === "close");
}

/** One connection's state, for a graceful close. */
interface Connection {
  readonly conn: Deno.Conn;
  /** True while waiting for the next request's first bytes. */
  idle: boolean;
  /** Set by `close()`: finish the request in progress, then close. */
  closing: boolean;
}

/** Serves `listener` with `handler` until `close()`. */
export function serveHttp(
  listener: Deno.Listener,
  handler: HttpHandler,
  options: HttpServerOptions,
): HttpServer {
  const connections = new Map<Connection, Promise<void>>();
  const idleMs = options.idleMs ?? HTTP_IDLE_MS_DEFAULT;
  let closed = false;

  const serveConnection = async (connection: Connection) => {
    const reader = new ConnectionReader(connection.conn);
    const headTooLarge = () => new Refusal(431, "Request head is too large");
    try {
      while (!connection.closing) {
        let message: Uint8Array;
        let close: boolean = connection.closing;
        let refused = false;
        try {
          connection.idle = !reader.buffered;
          const idleTimer = setTimeout(() => connection.conn.close(), idleMs);
          const headBytes = await reader.until(CRLF_CRLF, HTTP_HEAD_BYTES_MAX, headTooLarge)
            .finally(() => clearTimeout(idleTimer));
          connection.idle = false;
          if (headBytes === null) break;
          const head = parseHead(headBytes);
          const target = targetOf(head.target);
          const body = await readBody(reader, connection.conn, head, options.bodyBytesMax);
          close ||= wantsClose(head);
          let reply: HttpReply;
          try {
            reply = await handler({ method: head.method, target, headers: head.headers, body });
          } catch (error) {
            reply = options.refuse(500, error instanceof Error ? error.message : String(error));
          }
          close ||= connection.closing;
          message = serialize(reply, head.method !== "HEAD", close);
        } catch (error) {
          if (!(error instanceof Refusal)) throw error;
          close = refused = true;
          message = serialize(options.refuse(error.status, error.message), true, true);
        }
        await writeAll(connection.conn, message);
        if (refused) await linger(connection.conn);
        if (close) break;
      }
    } catch {
      // The peer reset or closed the connection: nothing to answer.
    } finally {
      connections.delete(connection);
      try {
        connection.conn.close();
      } catch {
        // already closed
      }
    }
  };

  const accepting = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        if (closed) return;
        // Out of file descriptors, or similar: pause rather than spin.
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      if (closed) {
        conn.close();
        return;
      }
      if (conn.remoteAddr.transport === "tcp") (conn as Deno.TcpConn).setNoDelay(true);
      const connection: Connection = { conn, idle: true, closing: false };
      connections.set(connection, serveConnection(connection));
    }
  })();

  return {
    async close() {
      if (closed) return;
      closed = true;
      listener.close();
      await accepting;
      const remaining = [...connections.values()];
      for (const connection of connections.keys()) {
        connection.closing = true;
        if (connection.idle) {
          try {
            connection.conn.close();
          } catch {
            // already closed
          }
        }
      }
      await Promise.all(remaining);
    },
  };
}
