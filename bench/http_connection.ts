/**
 * A minimal HTTP/1.1 keep-alive connection for the Raft benchmark's
 * proposers (one request at a time per connection, Content-Length or
 * chunked replies), over a Unix socket (ukai's control API) or TCP (etcd's
 * gateway). Why not `fetch`: in Deno 2.9, after about 32 concurrent requests
 * through `Deno.HttpClient`s in one process, the first request of any *new*
 * `HttpClient` hangs for minutes (reproduced with a bare `Deno.serve` on a
 * Unix socket), and the suite creates clients after its bursts. Raw
 * connections also keep client overhead out of the commit latency.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Where to connect. */
export type Endpoint = { readonly path: string } | {
  readonly hostname: string;
  readonly port: number;
};

/** A reply. */
export interface Reply {
  readonly status: number;
  readonly body: string;
}

/** One keep-alive connection. */
export class HttpConnection {
  readonly #conn: Deno.Conn;
  readonly #host: string;
  #buffer = new Uint8Array(0);

  private constructor(conn: Deno.Conn, host: string) {
    this.#conn = conn;
    this.#host = host;
  }

  /** Connects to `endpoint`. */
  static async open(endpoint: Endpoint): Promise<HttpConnection> {
    if ("path" in endpoint) {
      return new HttpConnection(
        await Deno.connect({ transport: "unix", path: endpoint.path }),
        "ukai",
      );
    }
    const conn = await Deno.connect({ hostname: endpoint.hostname, port: endpoint.port });
    conn.setNoDelay(true);
    return new HttpConnection(conn, `${endpoint.hostname}:${endpoint.port}`);
  }

  /** Sends one request and reads its reply; throws on a non-2xx status. */
  async request(method: string, path: string, body = ""): Promise<Reply> {
    const payload = encoder.encode(body);
    const head = `${method} ${path} HTTP/1.1\r\nhost: ${this.#host}\r\n` +
      `content-type: application/json\r\ncontent-length: ${payload.length}\r\n\r\n`;
    const message = new Uint8Array(head.length + payload.length);
    message.set(encoder.encode(head));
    message.set(payload, head.length);
    for (let written = 0; written < message.length;) {
      written += await this.#conn.write(message.subarray(written));
    }
    const reply = await this.#reply();
    if (reply.status < 200 || reply.status > 299) {
      throw new Error(`${method} ${path}: HTTP ${reply.status} ${reply.body.slice(0, 300)}`);
    }
    return reply;
  }

  async #more(): Promise<void> {
    const chunk = new Uint8Array(16 * 1024);
    const count = await this.#conn.read(chunk);
    if (count === null) throw new Error("The server closed the connection");
    const joined = new Uint8Array(this.#buffer.length + count);
    joined.set(this.#buffer);
    joined.set(chunk.subarray(0, count), this.#buffer.length);
    this.#buffer = joined;
  }

  async #line(): Promise<string> {
    for (;;) {
      const end = this.#buffer.findIndex((byte, index) =>
        byte === 13 && this.#buffer[index + 1] === 10
      );
      if (end >= 0) {
        const line = decoder.decode(this.#buffer.subarray(0, end));
        this.#buffer = this.#buffer.subarray(end + 2);
        return line;
      }
      await this.#more();
    }
  }

  async #bytes(count: number): Promise<Uint8Array> {
    while (this.#buffer.length < count) await this.#more();
    const bytes = this.#buffer.subarray(0, count);
    this.#buffer = this.#buffer.subarray(count);
    return bytes;
  }

  async #reply(): Promise<Reply> {
    const status = Number((await this.#line()).split(" ")[1]);
    const headers = new Map<string, string>();
    for (let line = await this.#line(); line !== ""; line = await this.#line()) {
      const colon = line.indexOf(":");
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    if (headers.get("transfer-encoding")?.includes("chunked")) {
      const parts: Uint8Array[] = [];
      for (;;) {
        const size = parseInt(await this.#line(), 16);
        if (size === 0) {
          while ((await this.#line()) !== "");
          break;
        }
        parts.push((await this.#bytes(size)).slice());
        await this.#line();
      }
      return { status, body: parts.map((part) => decoder.decode(part)).join("") };
    }
    const length = Number(headers.get("content-length") ?? "0");
    return { status, body: decoder.decode(await this.#bytes(length)) };
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}
