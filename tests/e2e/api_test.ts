/**
 * The control API of a real node, started from a config file with a flag
 * over it: the TCP listener the file asks for (bearer token), rejections of
 * malformed JSON, wrong types, unknown fields, oversized bodies and missing
 * tokens with 4xx and no change in state, replays of retried mutating calls
 * under the same Idempotency-Key, and `/metrics` in Prometheus text format
 * whose counters move when I/O goes through the mount.
 */

import assert from "node:assert/strict";
import { fakeEnvironment } from "../../cli/_test_terminal.ts";
import { runCli } from "../../cli/program.ts";
import { freePort, ProcessCluster } from "../harness/processes.ts";
import { parsePrometheus, sampleValue } from "../harness/prometheus.ts";

const MiB = 1024 * 1024;
const TOKEN = "e2e-token-0123456789abcdef";

interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

/** One raw request: `body` is sent as given (a string may be malformed JSON). */
async function request(
  target: { socket: string } | { url: string },
  method: string,
  path: string,
  options: {
    body?: string | Uint8Array | ReadableStream<Uint8Array>;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer> {
  const client = "socket" in target
    ? Deno.createHttpClient({ proxy: { transport: "unix", path: target.socket } })
    : undefined;
  try {
    const base = "socket" in target ? "http://127.0.0.1" : target.url;
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { "content-type": "application/json", ...options.headers },
      ...(options.body === undefined ? {} : { body: options.body as BodyInit }),
      ...(client === undefined ? {} : { client }),
    });
    const text = await response.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text);
    } catch {
      // /metrics is text
    }
    return { status: response.status, body, text };
  } finally {
    client?.close();
  }
}

function refusal(answer: Answer, status: number, code: string, message: RegExp): void {
  assert.equal(answer.status, status, answer.text);
  const error = answer.body.error as { code: string; message: string };
  assert.equal(error.code, code, answer.text);
  assert.match(error.message, message);
}

Deno.test("the control API of a real node: config file, TCP token, validation, replays, metrics", async (t) => {
  const cluster = await ProcessCluster.create();
  const tcpPort = freePort();
  try {
    const folder = `${cluster.root}/n1`;
    await Deno.mkdir(folder, { recursive: true });
    await Deno.writeTextFile(`${cluster.root}/token`, TOKEN + "\n", { mode: 0o600 });
    await Deno.writeTextFile(
      `${folder}/ukai.toml`,
      [
        'zone = "dc-file"',
        `control-listen = "127.0.0.1:${tcpPort}"`,
        `control-token-file = "${cluster.root}/token"`,
        'resync-rate = "10M"',
      ].join("\n"),
    );
    cluster.define("n1", "dc-flag");
    const node = await cluster.start("n1", { extraArgs: ["--config", `${folder}/ukai.toml`] });
    const socket = { socket: node.control };
    const tcp = { url: `http://127.0.0.1:${tcpPort}` };
    const bearer = { authorization: `Bearer ${TOKEN}` };
    const state = async () => {
      const status = await request(socket, "GET", "/v1/status");
      return {
        images: status.body.images,
        nodes: (status.body.nodes as { id: string }[]).map((n) => n.id),
      };
    };

    await t.step("flags win over the file, and the file's settings apply", async () => {
      const nodes = await request(tcp, "GET", "/v1/nodes", { headers: bearer });
      assert.equal(nodes.status, 200, nodes.text);
      assert.equal((nodes.body.nodes as { zone: string }[])[0]?.zone, "dc-flag");
      const mode = (await Deno.stat(node.control)).mode ?? 0;
      assert.equal(mode & 0o777, 0o600, "the socket is for root only");
    });

    await t.step(
      "TCP requests without the right bearer token get 401 and change nothing; ukai reads its token from a file",
      async () => {
        const before = await state();
        const create = JSON.stringify({ name: "sneaky", size: "4M" });
        for (
          const headers of [{}, { authorization: "Bearer wrong-token-0123456789" }, {
            authorization: TOKEN,
          }]
        ) {
          refusal(
            await request(tcp, "POST", "/v1/images", { body: create, headers }),
            401,
            "AUTH_FAILED",
            /bearer token/,
          );
        }
        refusal(await request(tcp, "GET", "/metrics"), 401, "AUTH_FAILED", /bearer token/);
        assert.equal((await request(tcp, "GET", "/metrics", { headers: bearer })).status, 200);
        const viaTcp = ["node", "list", "--json", "--control", tcp.url, "--token-file"];
        const cli = fakeEnvironment();
        assert.equal(
          await runCli([...viaTcp, `${cluster.root}/token`], cli),
          0,
          cli.terminal.stderr,
        );
        assert.equal(JSON.parse(cli.terminal.stdout).nodes.length, 1);
        await Deno.writeTextFile(`${cluster.root}/wrong`, "wrong-token-0123456789\n");
        const refused = fakeEnvironment();
        assert.equal(await runCli([...viaTcp, `${cluster.root}/wrong`], refused), 1);
        assert.equal(refused.terminal.stderr, "error: Missing or wrong bearer token\n");
        assert.deepEqual(await state(), before);
      },
    );

    await t.step(
      "malformed or wrong requests get 4xx naming the problem, and change nothing",
      async () => {
        const before = await state();
        const post = (body: string | Uint8Array, headers: Record<string, string> = {}) =>
          request(socket, "POST", "/v1/images", { body, headers });
        refusal(await post('{"name": "vm", '), 400, "INVALID_ARGUMENT", /not valid JSON/);
        refusal(await post("[1, 2]"), 400, "INVALID_ARGUMENT", /must be a JSON object/);
        refusal(
          await post(new Uint8Array([0x7b, 0xff, 0x7d])),
          400,
          "INVALID_ARGUMENT",
          /not UTF-8/,
        );
        const cases: [Record<string, unknown>, RegExp][] = [
          [{ name: "vm" }, /Field "size" is required/],
          [{ name: "vm", size: true }, /Field "size" must be a number of bytes/],
          [{ name: "vm", size: -4096 }, /Field "size" must be a non-negative integer/],
          [{ name: "vm", size: "lots" }, /Field "size": Cannot parse/],
          [{ name: 5, size: "4M" }, /Field "name": Image name must be a non-empty string/],
          [{ name: "../etc", size: "4M" }, /Field "name": Image name "\.\.\/etc" is not allowed/],
          [{ name: "vm", size: "4M", locations: "n1" }, /Field "locations" must be a list/],
          [{ name: "vm", size: "4M", hypervisors: [1] }, /Field "hypervisors": Node id must be/],
          [
            { name: "vm", size: "4M", blocksize: "1M" },
            /Field "blocksize" is not known here; known fields: name, size, blockSize/,
          ],
        ];
        for (const [body, message] of cases) {
          refusal(await post(JSON.stringify(body)), 400, "INVALID_ARGUMENT", message);
        }
        const huge = JSON.stringify({ name: "vm", size: "4M", padding: "x".repeat(70 * 1024) });
        refusal(await post(huge), 413, "INVALID_ARGUMENT", /larger than 65536 bytes/);
        // Bodies sent chunked, without a declared length: read to the limit, no further.
        const chunked = (text: string) =>
          request(socket, "POST", "/v1/images", {
            body: ReadableStream.from([new TextEncoder().encode(text)]),
          });
        refusal(await chunked(huge), 413, "INVALID_ARGUMENT", /larger than 65536 bytes/);
        refusal(await chunked('{"name": "vm"}'), 400, "INVALID_ARGUMENT", /"size" is required/);
        refusal(
          await post(JSON.stringify({ name: "vm", size: "4M" }), { "idempotency-key": "a b" }),
          400,
          "INVALID_ARGUMENT",
          /Idempotency-Key must be/,
        );
        refusal(await request(socket, "GET", "/v1/bogus"), 404, "NOT_FOUND", /No API route/);
        refusal(
          await request(socket, "PUT", "/v1/images"),
          400,
          "INVALID_ARGUMENT",
          /Method PUT is not allowed/,
        );
        refusal(
          await request(socket, "GET", "/v1/images?fresh=maybe"),
          400,
          "INVALID_ARGUMENT",
          /"fresh" must be 1 or 0/,
        );
        refusal(
          await request(socket, "GET", "/v1/images?verbose=1"),
          400,
          "INVALID_ARGUMENT",
          /Query parameter "verbose" is not known/,
        );
        refusal(
          await request(socket, "GET", "/v1/images/nope"),
          404,
          "IMAGE_NOT_FOUND",
          /does not exist/,
        );
        refusal(
          await request(socket, "GET", "/v1/status?verbose=1"),
          400,
          "INVALID_ARGUMENT",
          /takes no query parameters, but it has "verbose"/,
        );
        refusal(
          await request(socket, "DELETE", "/v1/images/vm/hypervisors/n1", {
            body: '{"node":"n1"}',
          }),
          400,
          "INVALID_ARGUMENT",
          /takes no body, but it has field "node"/,
        );
        refusal(
          await request(socket, "GET", "/v1/images/%E0%A4%A"),
          400,
          "INVALID_ARGUMENT",
          /percent-encoded/,
        );
        refusal(
          await request(socket, "POST", "/v1/nodes", {
            body: JSON.stringify({ id: "n2", address: 7 }),
          }),
          400,
          "INVALID_ARGUMENT",
          /field "address" must be a string HOST:PORT/,
        );
        assert.deepEqual(await state(), before);
      },
    );

    await t.step(
      "a retried mutating call with the same Idempotency-Key is applied once",
      async () => {
        const create = JSON.stringify({ name: "once", size: "4M", blockSize: "1M" });
        const key = { "idempotency-key": "create-once-1" };
        const first = await request(socket, "POST", "/v1/images", { body: create, headers: key });
        const again = await request(socket, "POST", "/v1/images", { body: create, headers: key });
        assert.equal(first.status, 201, first.text);
        assert.equal(again.status, 201, "the retry gets the first answer");
        assert.equal(again.text, first.text);
        refusal(
          await request(socket, "POST", "/v1/images", { body: create }),
          409,
          "IMAGE_EXISTS",
          /already exists/,
        );
        refusal(
          await request(socket, "POST", "/v1/images", {
            body: JSON.stringify({ name: "other", size: "4M" }),
            headers: key,
          }),
          409,
          "CONFLICT",
          /already used for a different request/,
        );
        const member = JSON.stringify({ id: "n9", address: "127.0.0.1:9", learner: true });
        const addKey = { "idempotency-key": "add-n9" };
        for (let attempt = 0; attempt < 2; attempt++) {
          const added = await request(socket, "POST", "/v1/nodes", {
            body: member,
            headers: addKey,
          });
          assert.equal(added.status, 201, added.text);
        }
        const removeKey = { "idempotency-key": "remove-n9" };
        for (let attempt = 0; attempt < 2; attempt++) {
          const removed = await request(socket, "DELETE", "/v1/nodes/n9", { headers: removeKey });
          assert.deepEqual([removed.status, removed.body], [200, { id: "n9", removed: true }]);
        }
        refusal(
          await request(socket, "DELETE", "/v1/nodes/n9"),
          404,
          "NODE_NOT_FOUND",
          /not a member/,
        );
        const deleteKey = { "idempotency-key": "delete-once" };
        for (let attempt = 0; attempt < 2; attempt++) {
          const removed = await request(socket, "DELETE", "/v1/images/once", {
            headers: deleteKey,
          });
          assert.deepEqual([removed.status, removed.body], [200, { name: "once", removed: true }]);
        }
        assert.deepEqual((await state()).images, []);
      },
    );

    await t.step(
      "/metrics is Prometheus text whose counters move with I/O through the mount",
      async () => {
        const created = await request(socket, "POST", "/v1/images", {
          body: JSON.stringify({ name: "m", size: "8M", blockSize: "1M" }),
        });
        assert.equal(created.status, 201, created.text);
        const scrape = async () => {
          const answer = await request(socket, "GET", "/metrics");
          assert.equal(answer.status, 200);
          return parsePrometheus(answer.text);
        };
        const before = await scrape();
        assert.equal(before.types.get("ukai_image_write_bytes_total"), "counter");
        assert.equal(before.types.get("ukai_image_operation_duration_seconds"), "histogram");
        assert.equal(before.types.get("ukai_raft_term"), "gauge");
        assert.equal(sampleValue(before, "ukai_raft_leader"), 1);
        const data = new Uint8Array(MiB).fill(7);
        const file = await Deno.open(`${node.mount}/m`, { read: true, write: true });
        try {
          await file.write(data);
          await file.syncData();
          await file.seek(0, Deno.SeekMode.Start);
          const back = new Uint8Array(MiB);
          let read = 0;
          while (read < MiB) read += (await file.read(back.subarray(read))) ?? MiB;
          assert.deepEqual(back, data);
        } finally {
          file.close();
        }
        const after = await scrape();
        const grew = (name: string, labels: Record<string, string> = { image: "m" }) =>
          (sampleValue(after, name, labels) ?? 0) - (sampleValue(before, name, labels) ?? 0);
        assert.equal(grew("ukai_image_write_bytes_total"), MiB);
        assert.ok(grew("ukai_image_write_operations_total") >= 1);
        assert.ok(grew("ukai_image_flush_operations_total") >= 1);
        assert.equal(grew("ukai_image_read_bytes_total"), MiB);
        assert.equal(grew("ukai_image_local_read_bytes_total"), MiB);
        assert.equal(grew("ukai_image_remote_read_bytes_total"), 0);
        const writes = { image: "m", operation: "write" };
        assert.ok(grew("ukai_image_operation_duration_seconds_count", writes) >= 1);
        assert.equal(
          sampleValue(after, "ukai_image_operation_duration_seconds_bucket", {
            ...writes,
            le: "+Inf",
          }),
          sampleValue(after, "ukai_image_operation_duration_seconds_count", writes),
        );
        assert.equal(sampleValue(after, "ukai_image_out_of_sync_blocks", { image: "m" }), 0);
      },
    );
  } finally {
    await cluster.close();
  }
});
