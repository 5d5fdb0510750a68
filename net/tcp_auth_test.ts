/**
 * Tests that an unauthenticated peer never reaches a handler: raw TCP clients
 * that send garbage, a well-formed frame before the handshake, an oversized
 * handshake frame, or nothing at all are disconnected and logged, and the
 * node keeps serving authenticated peers.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { UkaiError } from "../base/errors.ts";
import { Rng } from "../base/rng.ts";
import { TEST_SECRET, TestCluster } from "./_test_cluster.ts";
import { FrameDecoder } from "./decoder.ts";
import { encodeFrame, type Frame } from "./frame.ts";
import { ClientHandshake } from "./handshake.ts";
import { formatAddress, parseAddress } from "./address.ts";

const ECHO = 200;

/** Connects a raw socket, writes `bytes`, and returns how the server ended the connection. */
async function rawExchange(
  address: string,
  bytes: Uint8Array,
): Promise<{ closed: boolean; received: number }> {
  const parsed = parseAddress(address);
  assert(typeof parsed !== "string");
  const socket = await Deno.connect({ hostname: parsed.hostname, port: parsed.port });
  try {
    if (bytes.length > 0) await socket.write(bytes);
    const buffer = new Uint8Array(4096);
    let received = 0;
    for (let reads = 0; reads < 100; reads++) {
      const count = await socket.read(buffer).catch(() => null);
      if (count === null) return { closed: true, received };
      received += count;
    }
    return { closed: false, received };
  } finally {
    socket.close();
  }
}

async function clusterWithServer(handshakeTimeoutMs = 5000) {
  const cluster = new TestCluster();
  const server = await cluster.start("n2", { limits: { handshakeTimeoutMs } });
  let calls = 0;
  server.handle(ECHO, (_from, body) => {
    calls++;
    return body;
  });
  server.onMessage(300, () => {
    calls++;
  });
  return { cluster, server, calls: () => calls };
}

async function stillServes(cluster: TestCluster): Promise<void> {
  const client = await cluster.start(`c${cluster.transports.size}`);
  assertEquals(await client.request("n2", ECHO, Uint8Array.of(9)), Uint8Array.of(9));
}

Deno.test("an unauthenticated client sending garbage is disconnected and no handler runs", async () => {
  const { cluster, server, calls } = await clusterWithServer();
  await using _ = cluster;
  const garbage = new Rng(1).fill(new Uint8Array(1000));
  const outcome = await rawExchange(server.address, garbage);
  assert(outcome.closed);
  assertEquals(outcome.received, 0);
  assertEquals(calls(), 0);
  assert(/failed the handshake/.test(cluster.log("n2")));
  assert(/code=PROTOCOL .*invalid frame/.test(cluster.log("n2")), cluster.log("n2"));
  await stillServes(cluster);
  assertEquals(calls(), 1);
});

Deno.test("a valid-looking request before the handshake is refused without reaching the handler", async () => {
  const { cluster, server, calls } = await clusterWithServer();
  await using _ = cluster;
  const request = encodeFrame({ kind: "request", type: ECHO, requestId: 1, status: 0 }, [
    Uint8Array.of(1),
  ]);
  const message = encodeFrame({ kind: "one-way", type: 300, requestId: 0, status: 0 }, []);
  for (const frame of [request, message]) {
    const outcome = await rawExchange(server.address, frame);
    assert(outcome.closed);
    assertEquals(outcome.received, 0);
  }
  assertEquals(calls(), 0);
  assert(/Unexpected frame before authentication/.test(cluster.log("n2")));
  await stillServes(cluster);
});

Deno.test("a handshake frame larger than the pre-authentication limit is refused", async () => {
  const { cluster, server, calls } = await clusterWithServer();
  await using _ = cluster;
  const hello = encodeFrame({ kind: "request", type: 1, requestId: 1, status: 0 }, [
    new Uint8Array(100_000),
  ]);
  const outcome = await rawExchange(server.address, hello.subarray(0, 32));
  assert(outcome.closed);
  assertEquals(calls(), 0);
  assert(/exceeds 512/.test(cluster.log("n2")));
});

Deno.test("a client that says nothing is disconnected when the handshake times out", async () => {
  const { cluster, server } = await clusterWithServer(150);
  await using _ = cluster;
  const started = performance.now();
  const outcome = await rawExchange(server.address, new Uint8Array(0));
  const elapsed = performance.now() - started;
  assert(outcome.closed);
  assert(elapsed >= 140 && elapsed < 2000, `closed after ${elapsed} ms`);
  assert(/code=TIMEOUT/.test(cluster.log("n2")), cluster.log("n2"));
  await stillServes(cluster);
});

Deno.test("a server that never answers the handshake fails the dial with TIMEOUT", async () => {
  await using cluster = new TestCluster();
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const acceptLoop = (async () => {
    for await (const socket of silent) accepted.push(socket);
  })();
  try {
    const client = await cluster.start("n1", { limits: { handshakeTimeoutMs: 100 } });
    const address = formatAddress("127.0.0.1", (silent.addr as Deno.NetAddr).port);
    const error = await client.connect({ address }).then(() => null, (e: unknown) => e);
    assert(error instanceof UkaiError && error.code === "TIMEOUT", String(error));
    assert(/Handshake not finished within 100 ms/.test(error.message), error.message);
  } finally {
    silent.close();
    for (const socket of accepted) socket.close();
    await acceptLoop;
  }
});

/** A raw socket that completes the handshake by hand, to send frames a transport never would. */
async function rawAuthenticatedClient(address: string, nodeId: string) {
  const parsed = parseAddress(address);
  assert(typeof parsed !== "string");
  const socket = await Deno.connect({ hostname: parsed.hostname, port: parsed.port });
  const decoder = new FrameDecoder({ bodySizeMax: 1 << 20 });
  const buffer = new Uint8Array(65536);
  const nextFrame = async (): Promise<Frame | null> => {
    for (let reads = 0; reads < 1000; reads++) {
      const ready = decoder.take();
      if (ready !== null) return ready;
      const count = await socket.read(buffer).catch(() => null);
      if (count === null) return null;
      let offset = 0;
      while (offset < count) {
        offset += decoder.feed(buffer.subarray(offset, count));
        const frame = decoder.take();
        if (frame !== null) return frame;
      }
    }
    return null;
  };
  const handshake = new ClientHandshake({
    secret: new TextEncoder().encode(TEST_SECRET),
    localNodeId: nodeId,
    nonce: new Rng(11).fill(new Uint8Array(32)),
    expectedServerId: null,
  });
  await socket.write(
    encodeFrame({ kind: "request", type: 1, requestId: 1, status: 0 }, [handshake.hello()]),
  );
  const challenge = await nextFrame();
  assert(challenge !== null);
  const proof = handshake.receiveChallenge(challenge.body);
  assert(proof.kind === "proof");
  await socket.write(
    encodeFrame({ kind: "request", type: 2, requestId: 2, status: 0 }, [proof.body]),
  );
  const result = await nextFrame();
  assertEquals(result?.header.status, 0);
  return { socket, nextFrame };
}

Deno.test("an authenticated peer that sends a corrupted frame is disconnected and logged", async () => {
  const { cluster, server, calls } = await clusterWithServer();
  await using _ = cluster;
  const client = await rawAuthenticatedClient(server.address, "raw1");
  try {
    const request = encodeFrame({ kind: "request", type: ECHO, requestId: 5, status: 0 }, [
      Uint8Array.of(1, 2, 3),
    ]);
    await client.socket.write(request);
    const reply = await client.nextFrame();
    assertEquals(reply?.body, Uint8Array.of(1, 2, 3));
    assertEquals(calls(), 1);
    const corrupted = request.slice();
    corrupted[corrupted.length - 1] = (corrupted[corrupted.length - 1] as number) ^ 0x04;
    await client.socket.write(corrupted);
    assertEquals(await client.nextFrame(), null);
    assertEquals(calls(), 1);
    assert(/sent an invalid frame/.test(cluster.log("n2")), cluster.log("n2"));
    assert(/body checksum mismatch/.test(cluster.log("n2")));
  } finally {
    client.socket.close();
  }
  await stillServes(cluster);
});

Deno.test("an authenticated peer that sends a response or a handshake frame is disconnected", async () => {
  const { cluster, server, calls } = await clusterWithServer();
  await using _ = cluster;
  const frames = [
    encodeFrame({ kind: "response", type: ECHO, requestId: 5, status: 0 }, []),
    encodeFrame({ kind: "request", type: 1, requestId: 3, status: 0 }, [new Uint8Array(40)]),
  ];
  for (const frame of frames) {
    const client = await rawAuthenticatedClient(server.address, "raw2");
    try {
      await client.socket.write(frame);
      assertEquals(await client.nextFrame(), null);
    } finally {
      client.socket.close();
    }
  }
  assertEquals(calls(), 0);
  assert(/broke the protocol/.test(cluster.log("n2")));
});
