/**
 * Tests of the fault proxy with two real TcpTransports from net/ talking
 * through it: it forwards and learns the dialer from the HELLO, blocks one
 * direction only, isolates, cuts live connections, adds latency, and hands
 * streams without a HELLO to the node unchanged.
 */

import assert from "node:assert/strict";
import { UkaiError } from "../../base/errors.ts";
import { eventually, TestCluster } from "../../net/_test_cluster.ts";
import { encodeFrame } from "../../net/mod.ts";
import type { TcpTransport } from "../../net/mod.ts";
import { FaultNetwork } from "./fault_proxy.ts";

const ECHO = 200;

/** n1 and n2, each behind its proxy, both answering ECHO. */
async function twoNodes(): Promise<{
  cluster: TestCluster;
  network: FaultNetwork;
  n1: TcpTransport;
  n2: TcpTransport;
  [Symbol.asyncDispose]: () => Promise<void>;
}> {
  const cluster = new TestCluster();
  const network = new FaultNetwork();
  const n1 = await cluster.start("n1", { limits: { requestTimeoutMs: 2000 } });
  const n2 = await cluster.start("n2", { limits: { requestTimeoutMs: 2000 } });
  for (const transport of [n1, n2]) {
    transport.handle(ECHO, (from, body) => [new TextEncoder().encode(`${from}:`), body]);
    cluster.addresses.set(
      transport.nodeId,
      network.front(transport.nodeId, transport.address).address,
    );
  }
  return {
    cluster,
    network,
    n1,
    n2,
    [Symbol.asyncDispose]: async () => {
      await cluster[Symbol.asyncDispose]();
      await network.close();
    },
  };
}

async function echo(from: TcpTransport, to: string): Promise<string> {
  return new TextDecoder().decode(await from.request(to, ECHO, Uint8Array.of(0x41)));
}

function failsWith(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "answered",
    (error: unknown) => error instanceof UkaiError ? error.code : String(error),
  );
}

Deno.test("FaultNetwork forwards requests through the proxies and learns each dialer from its HELLO", async () => {
  await using nodes = await twoNodes();
  const { network, n1, n2 } = nodes;
  assert.equal(await echo(n1, "n2"), "n1:A");
  assert.equal(await echo(n2, "n1"), "n2:A");
  const pairs = network.connections().map((c) => `${c.from}→${c.to}`).sort();
  assert.deepEqual(pairs, ["n1→n2", "n2→n1"]);
  assert.equal(network.counters("n1", "n2").accepted, 1);
  assert.equal(network.counters("n2", "n1").accepted, 1);
});

Deno.test("FaultNetwork.block() cuts and refuses one direction only, and heal() lets it reconnect", async () => {
  await using nodes = await twoNodes();
  const { network, n1, n2 } = nodes;
  assert.equal(await echo(n1, "n2"), "n1:A");
  assert.equal(await echo(n2, "n1"), "n2:A");
  network.block("n1", "n2");
  assert.equal(network.counters("n1", "n2").cut, 1, network.events());
  assert.equal(await failsWith(echo(n1, "n2")), "UNREACHABLE");
  assert.equal(await echo(n2, "n1"), "n2:A", "the other direction still flows");
  await eventually(async () => {
    await failsWith(echo(n1, "n2"));
    assert.ok(network.counters("n1", "n2").refused > 0, network.events());
  });
  network.heal();
  assert.equal(await eventually(() => echo(n1, "n2")), "n1:A");
});

Deno.test("FaultNetwork.isolate() cuts a node off in both directions until healed", async () => {
  await using nodes = await twoNodes();
  const { network, n1, n2 } = nodes;
  assert.equal(await echo(n1, "n2"), "n1:A");
  assert.equal(await echo(n2, "n1"), "n2:A");
  network.isolate("n2");
  assert.deepEqual(network.connections(), []);
  assert.notEqual(await failsWith(echo(n1, "n2")), "answered");
  assert.notEqual(await failsWith(echo(n2, "n1")), "answered");
  network.heal();
  assert.equal(await eventually(() => echo(n1, "n2")), "n1:A");
  assert.equal(await eventually(() => echo(n2, "n1")), "n2:A");
});

Deno.test("FaultNetwork.drop() cuts live connections once and the transport reconnects", async () => {
  await using nodes = await twoNodes();
  const { network, n1 } = nodes;
  assert.equal(await echo(n1, "n2"), "n1:A");
  assert.equal(network.drop("n1", "*"), 1);
  assert.equal(await eventually(() => echo(n1, "n2")), "n1:A");
  assert.equal(network.counters("n1", "n2").accepted, 2, network.events());
});

Deno.test("FaultNetwork.latency() delays a round trip by twice the latency", async () => {
  await using nodes = await twoNodes();
  const { network, n1 } = nodes;
  assert.equal(await echo(n1, "n2"), "n1:A");
  const fastMs = await n1.ping("n2");
  network.latency("n1", "n2", 150);
  const slowMs = await n1.ping("n2");
  assert.ok(slowMs >= 290, `a round trip with 150 ms each way took ${slowMs} ms`);
  network.heal();
  const healedMs = await n1.ping("n2");
  assert.ok(healedMs < 150, `after heal a round trip took ${healedMs} ms (before: ${fastMs})`);
});

Deno.test("FaultNetwork hands a stream without a HELLO to the node, which refuses it", async () => {
  await using nodes = await twoNodes();
  const { network, cluster } = nodes;
  const frame = encodeFrame({ kind: "request", type: ECHO, requestId: 1, status: 0 }, [
    Uint8Array.of(1),
  ]);
  const socket = await Deno.connect({ hostname: "127.0.0.1", port: network.proxy("n2").port });
  try {
    await socket.write(frame);
    assert.equal(await socket.read(new Uint8Array(64)).catch(() => null), null, "closed");
  } finally {
    socket.close();
  }
  assert.equal(network.counters(null, "n2").accepted, 1);
  await eventually(() =>
    Promise.resolve(assert.match(cluster.log("n2"), /Unexpected frame before authentication/))
  );
});
