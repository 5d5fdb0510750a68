/**
 * Tests of the control API's HTTP/1.1 server on a real Unix socket: what a
 * handler sees, keep-alive and pipelined requests, chunked bodies, the
 * refusals (framing, size, head), `Expect: 100-continue`, HEAD, a handler
 * that throws, and a graceful close; `fetch` as a client.
 */

import assert from "node:assert/strict";
import { type HttpHandler, type HttpRequest, type HttpServer, serveHttp } from "./http_server.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A server on a fresh socket whose handler echoes what it saw as JSON. */
async function withServer(
  run: (path: string, seen: HttpRequest[], server: HttpServer) => Promise<void>,
  handler?: HttpHandler,
  idleMs?: number,
): Promise<void> {
  const folder = await Deno.makeTempDir();
  const path = `${folder}/http.sock`;
  const seen: HttpRequest[] = [];
  const echo: HttpHandler = (request) => {
    seen.push(request);
    return {
      status: 200,
      contentType: "application/json",
      text: JSON.stringify({
        method: request.method,
        target: request.target,
        body: decoder.decode(request.body),
      }),
    };
  };
  const server = serveHttp(Deno.listen({ transport: "unix", path }), handler ?? echo, {
    bodyBytesMax: 64,
    refuse: (status, message) => ({ status, contentType: "text/plain", text: message }),
    ...(idleMs === undefined ? {} : { idleMs }),
  });
  try {
    await run(path, seen, server);
  } finally {
    await server.close();
    await Deno.remove(folder, { recursive: true });
  }
}

/** Sends `raw`, ends the sending side, and reads until the server closes the connection. */
async function exchange(path: string, raw: string | Uint8Array): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    const bytes = typeof raw === "string" ? encoder.encode(raw) : raw;
    for (let written = 0; written < bytes.length;) {
      written += await conn.write(bytes.subarray(written));
    }
    await conn.closeWrite();
    const chunks: string[] = [];
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      const count = await conn.read(buffer);
      if (count === null) break;
      chunks.push(decoder.decode(buffer.subarray(0, count)));
    }
    return chunks.join("");
  } finally {
    conn.close();
  }
}

/** The status codes of every reply in `text`, in order. */
function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) [A-Za-z ]*\r\n/g)].map((match) => Number(match[1]));
}

Deno.test("serveHttp answers pipelined keep-alive requests in order and shows the handler their parts", async () => {
  await withServer(async (path, seen) => {
    const text = await exchange(
      path,
      "POST /v1/images?fresh=1 HTTP/1.1\r\nHost: x\r\nX-Tag: a\r\nx-tag: b\r\n" +
        "Content-Length: 5\r\n\r\nhello" +
        "GET http://ukai/v1/nodes?json=1 HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert.deepEqual(statuses(text), [200, 200]);
    assert.equal(text.match(/connection: close/g)?.length, 1, "only the last reply closes");
    assert.deepEqual(seen.map((request) => [request.method, request.target]), [
      ["POST", "/v1/images?fresh=1"],
      ["GET", "/v1/nodes?json=1"],
    ]);
    assert.equal(seen[0]?.headers.get("x-tag"), "a, b", "repeated headers are joined");
    assert.equal(decoder.decode(seen[0]?.body), "hello");
    assert.match(text, /content-length: \d+\r\n/);
  });
});

Deno.test("serveHttp decodes chunked bodies, with extensions and trailers", async () => {
  await withServer(async (path, seen) => {
    const text = await exchange(
      path,
      "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
        "3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n",
    );
    assert.deepEqual(statuses(text), [200]);
    assert.equal(decoder.decode(seen[0]?.body), "abc0123456789");
  });
});

Deno.test("serveHttp refuses bad framing with 400 and closes, without calling the handler", async () => {
  const cases = [
    "BROKEN\r\n\r\n",
    "GET /a HTTP/2.0\r\n\r\n",
    "GET relative HTTP/1.1\r\n\r\n",
    "GET /a HTTP/1.1\r\nno colon here\r\n\r\n",
    "GET /a HTTP/1.1\r\n folded: value\r\n\r\n",
    "POST /a HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
    "POST /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    "POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort",
  ];
  await withServer(async (path, seen) => {
    for (const raw of cases) {
      const text = await exchange(path, raw);
      assert.deepEqual(statuses(text), [400], JSON.stringify(raw));
      assert.match(text, /connection: close/);
    }
    assert.equal(seen.length, 0);
  });
});

Deno.test("serveHttp refuses a body over the cap with 413 (declared or chunked) and a huge head with 431", async () => {
  await withServer(async (path, seen) => {
    const body = "x".repeat(100_000);
    const declared = await exchange(
      path,
      `POST /a HTTP/1.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    assert.deepEqual(statuses(declared), [413], "the reply arrives though the body was unread");
    assert.match(declared, /larger than 64 bytes/);
    const chunked = await exchange(
      path,
      `POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${(40).toString(16)}\r\n` +
        `${"y".repeat(40)}\r\n${(40).toString(16)}\r\n${"y".repeat(40)}\r\n0\r\n\r\n`,
    );
    assert.deepEqual(statuses(chunked), [413]);
    const head = await exchange(path, `GET /a HTTP/1.1\r\nX-Big: ${"z".repeat(20_000)}\r\n\r\n`);
    assert.deepEqual(statuses(head), [431]);
    assert.equal(seen.length, 0);
  });
});

Deno.test("serveHttp sends 100 Continue when asked, no body for HEAD, and closes HTTP/1.0", async () => {
  await withServer(async (path) => {
    const continued = await exchange(
      path,
      "POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    );
    assert.deepEqual(statuses(continued), [100, 200]);
    const head = await exchange(path, "HEAD /a HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert.deepEqual(statuses(head), [200]);
    const length = Number(/content-length: (\d+)/.exec(head)?.[1]);
    assert.ok(length > 0, "HEAD states the length of the body it leaves out");
    assert.ok(head.endsWith("\r\n\r\n"), "and sends no body");
    const old = await exchange(path, "GET /a HTTP/1.0\r\n\r\n");
    assert.deepEqual(statuses(old), [200], "HTTP/1.0 gets one reply, then the close");
  });
});

Deno.test("serveHttp answers 500 through refuse() when the handler throws, and keeps serving", async () => {
  let calls = 0;
  await withServer(
    async (path) => {
      const text = await exchange(
        path,
        "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n",
      );
      assert.deepEqual(statuses(text), [500, 200]);
      assert.match(text, /handler broke/);
    },
    () => {
      if (calls++ === 0) throw new Error("handler broke");
      return { status: 200, contentType: "text/plain", text: "fine" };
    },
  );
});

Deno.test("serveHttp's close() lets a request in progress finish and closes idle connections", async () => {
  let release = () => {};
  const started = Promise.withResolvers<void>();
  await withServer(
    async (path, _seen, server) => {
      const idle = await Deno.connect({ transport: "unix", path });
      const busy = exchange(path, "GET /slow HTTP/1.1\r\n\r\n");
      await started.promise;
      const closing = server.close();
      const idleRead = await idle.read(new Uint8Array(16));
      assert.equal(idleRead, null, "the idle connection is closed");
      idle.close();
      release();
      await closing;
      const text = await busy;
      assert.deepEqual(statuses(text), [200], "the request in progress got its reply");
      assert.match(text, /connection: close/);
      await assert.rejects(() => Deno.connect({ transport: "unix", path }));
    },
    async () => {
      started.resolve();
      await new Promise<void>((resolve) => release = resolve);
      return { status: 200, contentType: "text/plain", text: "slow" };
    },
  );
});

Deno.test("serveHttp serves fetch() over the Unix socket", async () => {
  await withServer(async (path) => {
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
    try {
      for (const body of ["one", "two"]) {
        const response = await fetch("http://ukai/v1/x?y=1", { method: "POST", body, client });
        assert.equal(response.status, 200);
        assert.deepEqual(await response.json(), { method: "POST", target: "/v1/x?y=1", body });
      }
    } finally {
      client.close();
    }
  });
});

Deno.test("serveHttp closes a connection that sends no request head in time, and only that one", async () => {
  await withServer(
    async (path) => {
      const silent = await Deno.connect({ transport: "unix", path });
      const partial = await Deno.connect({ transport: "unix", path });
      await partial.write(encoder.encode("GET /a HTTP/1.1\r\n"));
      const buffer = new Uint8Array(1024);
      const readWithin5s = async (conn: Deno.Conn) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<string>((resolve) => timer = setTimeout(resolve, 5000, "late"));
        try {
          return await Promise.race([conn.read(buffer), late]);
        } finally {
          clearTimeout(timer);
        }
      };
      assert.equal(await readWithin5s(silent), null, "a silent connection is closed");
      assert.equal(await readWithin5s(partial), null, "so is one whose head never ends");
      silent.close();
      partial.close();
      const text = await exchange(path, "GET /a HTTP/1.1\r\nConnection: close\r\n\r\n");
      assert.deepEqual(statuses(text), [200], "a prompt request is answered");
    },
    undefined,
    100,
  );
});
