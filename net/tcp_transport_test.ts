/**
 * Tests of the TCP transport on 127.0.0.1: requests and one-way messages,
 * pipelining, large bodies, errors, timeouts, restarts, backpressure, status
 * and close.
 */

import {
  deepStrictEqual as assertEquals,
  ok as assert,
  rejects as assertRejects,
  throws as assertThrows,
} from "node:assert/strict";
import { UkaiError } from "../base/errors.ts";
import { Rng } from "../base/rng.ts";
import { eventually, sleep, TestCluster } from "./_test_cluster.ts";

const ECHO = 200;
const FAIL = 201;
const NOTE = 300;
const NOTE_REQUEST = 202;

const encoder = new TextEncoder();

function code(expected: string) {
  return (error: unknown) => error instanceof UkaiError && error.code === expected;
}

Deno.test("TcpTransport carries a request and its response between two nodes", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  const b = await cluster.start("n2");
  const callers: string[] = [];
  b.handle(ECHO, (from, body) => {
    callers.push(from);
    return [encoder.encode("echo:"), body];
  });
  const reply = await a.request("n2", ECHO, encoder.encode("hi"));
  assertEquals(new TextDecoder().decode(reply), "echo:hi");
  assertEquals(callers, ["n1"]);
  assertEquals(await a.request("n2", ECHO, new Uint8Array(0)), encoder.encode("echo:"));
});

Deno.test("TcpTransport delivers one-way messages in order", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  const b = await cluster.start("n2");
  const received: string[] = [];
  let done = () => {};
  const all = new Promise<void>((resolve) => done = resolve);
  b.onMessage(NOTE, (from, body) => {
    received.push(`${from}:${body[0]}`);
    if (received.length === 50) done();
  });
  for (let i = 0; i < 50; i++) a.send("n2", NOTE, Uint8Array.of(i));
  await all;
  assertEquals(received, Array.from({ length: 50 }, (_, i) => `n1:${i}`));
});

Deno.test("TcpTransport pipelines 1000 requests whose responses come back out of order", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  const b = await cluster.start("n2");
  const rng = new Rng(1000);
  let held: (() => void)[] = [];
  let order: number[] = [];
  b.handle(ECHO, (_from, body) =>
    new Promise((resolve) => {
      held.push(() => resolve(body));
      if (held.length === 50) {
        const batch = rng.shuffle(held);
        held = [];
        for (const release of batch) release();
      }
    }));
  const replies = await Promise.all(
    Array.from({ length: 1000 }, async (_, i) => {
      const body = new Uint8Array(4);
      new DataView(body.buffer).setUint32(0, i);
      const reply = await a.request("n2", ECHO, body);
      order.push(i);
      return new DataView(reply.buffer, reply.byteOffset).getUint32(0);
    }),
  );
  assertEquals(replies, Array.from({ length: 1000 }, (_, i) => i));
  const sorted = [...order].sort((x, y) => x - y);
  assert(order.some((value, index) => value !== sorted[index]), "responses arrived in order");
  order = [];
});

Deno.test("TcpTransport carries 4 MiB bodies both ways intact", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  const b = await cluster.start("n2");
  b.handle(ECHO, (_from, body) => body.slice().reverse());
  const body = new Rng(4).fill(new Uint8Array(4 * 1024 * 1024));
  for (let round = 0; round < 3; round++) {
    const reply = await a.request("n2", ECHO, [body.subarray(0, 100), body.subarray(100)]);
    assertEquals(reply.length, body.length);
    assertEquals(reply, body.slice().reverse());
  }
});

Deno.test("TcpTransport receives a 1 MiB response into a pooled buffer that releaseBody() makes reusable", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  const b = await cluster.start("n2");
  b.handle(ECHO, (_from, body) => body.slice());
  const bodyOf = (seed: number) => new Rng(seed).fill(new Uint8Array(1024 * 1024));
  const first = await a.request("n2", ECHO, bodyOf(1));
  assertEquals(first, bodyOf(1));
  const unreleased = await a.request("n2", ECHO, bodyOf(2));
  assert(unreleased.buffer !== first.buffer, "a body still held is not reused");
  a.releaseBody(first);
  const third = await a.request("n2", ECHO, bodyOf(3));
  assert(third.buffer === first.buffer, "the released buffer received the next body");
  assertEquals(third, bodyOf(3));
  assertEquals(unreleased, bodyOf(2), "the body still held is intact");
});

Deno.test("TcpTransport takes back a request body after a releaseBody handler, and a takeBody answer once written", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  const b = await cluster.start("n2");
  const MiB = 1024 * 1024;
  const requestBuffers = new Map<number, ArrayBufferLike[]>();
  const answerBuffers: ArrayBufferLike[] = [];
  const record = (type: number, body: Uint8Array) =>
    requestBuffers.set(type, [...requestBuffers.get(type) ?? [], body.buffer]);
  b.handle(ECHO, (_from, body) => {
    record(ECHO, body);
    return encoder.encode("kept");
  });
  b.handle(NOTE_REQUEST, (_from, body) => {
    record(NOTE_REQUEST, body);
    const answer = b.takeBody(MiB);
    answer.fill(body[0]!);
    answerBuffers.push(answer.buffer);
    return answer;
  }, { releaseBody: true });
  for (let round = 1; round <= 2; round++) {
    await a.request("n2", ECHO, new Uint8Array(MiB).fill(round));
    const answer = await a.request("n2", NOTE_REQUEST, new Uint8Array(MiB).fill(round));
    assertEquals(answer, new Uint8Array(MiB).fill(round), "the answer's bytes are intact");
  }
  const [keptFirst, keptSecond] = requestBuffers.get(ECHO)!;
  const [releasedFirst, releasedSecond] = requestBuffers.get(NOTE_REQUEST)!;
  const [answeredFirst, answeredSecond] = answerBuffers;
  const secondRound = [keptSecond, releasedSecond, answeredSecond];
  assert(!secondRound.includes(keptFirst), "a body its handler may keep is not reused");
  assert(secondRound.includes(releasedFirst), "the released request body received a later one");
  assert(secondRound.includes(answeredFirst), "the written answer's buffer served again");
});

Deno.test("TcpTransport returns a handler's UkaiError to the caller with code, message and details", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  const b = await cluster.start("n2");
  b.handle(FAIL, (_from, body) => {
    if (body[0] === 1) {
      throw new UkaiError("STALE_EPOCH", "Cannot write block 12: epoch 3 is older than 4", {
        details: { epoch: 4 },
      });
    }
    throw new TypeError("disk on fire");
  });
  const stale = await a.request("n2", FAIL, Uint8Array.of(1)).then(
    () => new Error("resolved"),
    (error: unknown) => error,
  );
  assert(stale instanceof UkaiError);
  assertEquals(stale.code, "STALE_EPOCH");
  assertEquals(stale.message, "Cannot write block 12: epoch 3 is older than 4");
  assertEquals(stale.details, { epoch: 4 });
  await assertRejects(
    a.request("n2", FAIL, Uint8Array.of(2)),
    (error: unknown) => code("IO")(error) && /disk on fire/.test(String(error)),
  );
  await assertRejects(a.request("n2", 299, Uint8Array.of(2)), code("PROTOCOL"));
  assert(/request handler failed/.test(cluster.log("n2")));
});

Deno.test("TcpTransport times out a request and ignores its late response", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  const b = await cluster.start("n2");
  let release = () => {};
  b.handle(FAIL, () => new Promise((resolve) => release = () => resolve(new Uint8Array(1))));
  b.handle(ECHO, (_from, body) => body);
  const started = performance.now();
  await assertRejects(
    a.request("n2", FAIL, new Uint8Array(0), { timeoutMs: 100 }),
    code("TIMEOUT"),
  );
  const elapsed = performance.now() - started;
  assert(elapsed >= 95 && elapsed < 1000, `timed out after ${elapsed} ms`);
  release();
  assertEquals(await a.request("n2", ECHO, Uint8Array.of(5)), Uint8Array.of(5));
  assertEquals(a.peers()[0]?.requestsInFlight, 0);
});

Deno.test("TcpTransport reconnects to a peer that restarted on the same port", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  let b = await cluster.start("n2");
  b.handle(ECHO, (_from, body) => body);
  assertEquals(await a.request("n2", ECHO, Uint8Array.of(1)), Uint8Array.of(1));
  const port = b.port;
  await b.close();
  await assertRejects(a.request("n2", ECHO, Uint8Array.of(2)), code("UNREACHABLE"));
  await sleep(100);
  b = await cluster.start("n2", { port });
  b.handle(ECHO, (_from, body) => body);
  const reply = await eventually(() => a.request("n2", ECHO, Uint8Array.of(3)));
  assertEquals(reply, Uint8Array.of(3));
  const status = a.peers().find((peer) => peer.peer === "n2");
  assert(status !== undefined && status.reconnects >= 1 && status.connected);
});

Deno.test("TcpTransport does not redial a peer nobody uses, and dials it again on the next call", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  let b = await cluster.start("n2");
  b.handle(ECHO, (_from, body) => body);
  assertEquals(await a.request("n2", ECHO, Uint8Array.of(1)), Uint8Array.of(1));
  const port = b.port;
  await b.close();
  await assertRejects(a.request("n2", ECHO, Uint8Array.of(2)), code("UNREACHABLE"));
  // The backoff is at most 200 ms here: an eager peer would have redialed several times.
  await eventually(() =>
    a.peers().find((peer) => peer.peer === "n2")?.state === "idle"
      ? Promise.resolve()
      : Promise.reject(new Error("still in backoff"))
  );
  // What is checked is that nothing happens for a while, so this waits on purpose.
  await sleep(600);
  assertEquals(a.peers().find((peer) => peer.peer === "n2")?.state, "idle");
  assertEquals(cluster.log("n1").match(/dial failed/g), null, cluster.log("n1"));
  b = await cluster.start("n2", { port });
  b.handle(ECHO, (_from, body) => body);
  assertEquals(await a.request("n2", ECHO, Uint8Array.of(3)), Uint8Array.of(3));
});

Deno.test("TcpTransport follows a peer to a new address given by the resolver", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  const b = await cluster.start("n2");
  b.handle(ECHO, (_from, body) => body);
  await a.request("n2", ECHO, Uint8Array.of(1));
  await b.close();
  const moved = await cluster.start("n2"); // a new port; the address book follows
  moved.handle(ECHO, (_from, body) => Uint8Array.of(body[0] ?? 0, 42));
  const reply = await eventually(() => a.request("n2", ECHO, Uint8Array.of(7)));
  assertEquals(reply, Uint8Array.of(7, 42));
});

Deno.test("TcpTransport backpressure: senders wait, nothing is lost, queues stay bounded", async () => {
  await using cluster = new TestCluster();
  const limits = {
    requestsInFlightPerPeerMax: 4,
    outboundBytesPerPeerMax: 64 * 1024,
    inboundRequestsPerConnectionMax: 2,
    inboundBytesPerConnectionMax: 48 * 1024,
  };
  const a = await cluster.start("n1", { limits });
  const b = await cluster.start("n2", { limits });
  let running = 0;
  let runningPeak = 0;
  b.handle(ECHO, async (_from, body) => {
    running++;
    runningPeak = Math.max(runningPeak, running);
    await sleep(1);
    running--;
    return body;
  });
  let inFlightPeak = 0;
  let queuedPeak = 0;
  const sample = setInterval(() => {
    const status = a.peers()[0];
    inFlightPeak = Math.max(inFlightPeak, status?.requestsInFlight ?? 0);
    queuedPeak = Math.max(queuedPeak, status?.outboundBytesQueued ?? 0);
  }, 1);
  try {
    const rng = new Rng(9);
    const bodies = Array.from({ length: 150 }, () => rng.fill(new Uint8Array(16 * 1024)));
    const replies = await Promise.all(bodies.map((body) => a.request("n2", ECHO, body)));
    replies.forEach((reply, index) => assertEquals(reply, bodies[index]));
  } finally {
    clearInterval(sample);
  }
  assert(runningPeak <= 2, `handlers ran ${runningPeak} at once`);
  assert(inFlightPeak <= 4, `${inFlightPeak} requests in flight`);
  assert(queuedPeak <= 64 * 1024, `${queuedPeak} bytes queued`);
});

Deno.test("TcpTransport refuses a one-way send when the peer's queue is full", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1", { limits: { outboundBytesPerPeerMax: 64 * 1024 } });
  const b = await cluster.start("n2");
  let received = 0;
  b.onMessage(NOTE, () => {
    received++;
  });
  await a.connect("n2");
  let sent = 0;
  const body = new Uint8Array(16 * 1024);
  assertThrows(() => {
    for (let i = 0; i < 100; i++) {
      a.send("n2", NOTE, body);
      sent++;
    }
  }, (error: unknown) => code("UNREACHABLE")(error) && /already queued/.test(String(error)));
  assert(sent >= 3 && sent <= 4, `sent ${sent} before the queue was full`);
  await eventually(() => received === sent ? Promise.resolve() : Promise.reject(new Error("wait")));
  a.send("n2", NOTE, body); // room again
});

Deno.test("TcpTransport refuses a wrong cluster secret in both directions", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  const b = await cluster.start("n2", { secret: "a different secret, long enough" });
  let called = 0;
  a.handle(ECHO, () => (called++, new Uint8Array(0)));
  b.handle(ECHO, () => (called++, new Uint8Array(0)));
  await assertRejects(a.request("n2", ECHO, new Uint8Array(0)), code("AUTH_FAILED"));
  await assertRejects(b.request("n1", ECHO, new Uint8Array(0)), code("AUTH_FAILED"));
  // During backoff the same error comes back at once.
  await assertRejects(a.request("n2", ECHO, new Uint8Array(0)), code("AUTH_FAILED"));
  assertEquals(called, 0);
  await sleep(50);
  assert(/failed the handshake/.test(cluster.log("n1")), cluster.log("n1"));
  assert(/failed the handshake/.test(cluster.log("n2")), cluster.log("n2"));
});

Deno.test("TcpTransport bootstraps from a raw address and learns the node id", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  const b = await cluster.start("n2");
  const c = await cluster.start("n3");
  for (const transport of [a, b, c]) transport.handle(ECHO, (from) => encoder.encode(from));
  assertEquals(await c.connect({ address: b.address }), "n2");
  const ms = await c.ping({ address: b.address });
  assert(ms >= 0 && ms < 1000);
  assertEquals(
    await c.request({ address: a.address }, ECHO, new Uint8Array(0)),
    encoder.encode("n3"),
  );
  // Everyone talks to everyone.
  for (const from of [a, b, c]) {
    for (const to of ["n1", "n2", "n3"]) {
      if (to === from.nodeId) continue;
      assertEquals(await from.request(to, ECHO, new Uint8Array(0)), encoder.encode(from.nodeId));
    }
  }
  const status = c.peers().find((peer) => peer.peer === `address:${b.address}`);
  assert(status !== undefined);
  assertEquals(status.nodeId, "n2");
  assertEquals(status.state, "connected");
});

Deno.test("TcpTransport reports peer status with counters and last contact", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  const b = await cluster.start("n2");
  b.handle(ECHO, (_from, body) => body);
  await a.request("n2", ECHO, new Uint8Array(1000));
  const outbound = a.peers().find((peer) => peer.peer === "n2");
  assert(outbound !== undefined);
  assert(outbound.connected && outbound.state === "connected");
  assert(outbound.bytesSent > 1000 && outbound.bytesReceived > 1000);
  assert(outbound.framesSent >= 3 && outbound.framesReceived >= 3);
  assert(outbound.lastContactMs !== null && outbound.lastContactMs > Date.now() - 5000);
  const inbound = b.peers().find((peer) => peer.peer === "n1");
  assert(inbound !== undefined);
  assertEquals(inbound.state, "inbound-only");
  assertEquals(inbound.inboundConnections, 1);
  assert(inbound.bytesReceived > 1000);
});

Deno.test("TcpTransport close() rejects pending requests with SHUTTING_DOWN", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  const b = await cluster.start("n2");
  let release = () => {};
  b.handle(FAIL, () => new Promise((resolve) => release = () => resolve(new Uint8Array(0))));
  const pending = assertRejects(a.request("n2", FAIL, new Uint8Array(0)), code("SHUTTING_DOWN"));
  await sleep(20);
  await a.close();
  await pending;
  await assertRejects(a.request("n2", FAIL, new Uint8Array(0)), code("SHUTTING_DOWN"));
  assertThrows(() => a.send("n2", NOTE, new Uint8Array(0)), code("SHUTTING_DOWN"));
  release();
});

Deno.test("TcpTransport reports an unknown node and an unreachable address", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  await assertRejects(a.request("n9", ECHO, new Uint8Array(0)), code("UNREACHABLE"));
  const b = await cluster.start("n2");
  const port = b.port;
  await b.close();
  await assertRejects(a.connect({ address: `127.0.0.1:${port}` }), code("UNREACHABLE"));
  await assertRejects(a.request("bad/id", ECHO, new Uint8Array(0)), code("INVALID_ARGUMENT"));
});

Deno.test("TcpTransport drops a peer on disconnect() and can dial it again", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.start("n1");
  const b = await cluster.start("n2");
  b.handle(ECHO, (_from, body) => body);
  await a.request("n2", ECHO, new Uint8Array(1));
  a.disconnect("n2");
  assertEquals(a.peers().filter((peer) => peer.peer === "n2").length, 0);
  assertEquals(await a.request("n2", ECHO, Uint8Array.of(4)), Uint8Array.of(4));
});
