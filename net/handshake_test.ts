/**
 * Tests of the pure handshake: both sides learn each other's id; a wrong
 * secret, a replayed or reflected proof, a changed byte, the wrong node or a
 * malformed message is refused with the matching code.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Rng } from "../base/rng.ts";
import { ClientHandshake, NONCE_SIZE, ServerHandshake } from "./handshake.ts";

const encoder = new TextEncoder();
const SECRET = encoder.encode("the right cluster secret");
const WRONG = encoder.encode("the wrong cluster secret");

function nonce(rng: Rng): Uint8Array {
  return rng.fill(new Uint8Array(NONCE_SIZE));
}

function pair(rng: Rng, options: { clientSecret?: Uint8Array; serverSecret?: Uint8Array } = {}) {
  const client = new ClientHandshake({
    secret: options.clientSecret ?? SECRET,
    localNodeId: "n1",
    nonce: nonce(rng),
    expectedServerId: "n2",
  });
  const server = new ServerHandshake({
    secret: options.serverSecret ?? SECRET,
    localNodeId: "n2",
    nonce: nonce(rng),
  });
  return { client, server };
}

/** Runs a whole handshake and returns every message and the outcomes. */
function run(rng: Rng, options: { clientSecret?: Uint8Array; serverSecret?: Uint8Array } = {}) {
  const { client, server } = pair(rng, options);
  const hello = client.hello();
  const challenge = server.receiveHello(hello);
  if (challenge.kind !== "challenge") throw new Error(challenge.reason);
  const proof = client.receiveChallenge(challenge.body);
  return { hello, challenge: challenge.body, proof, server };
}

Deno.test("handshake authenticates both sides and tells each the other's id", () => {
  const { proof, server } = run(new Rng(1));
  assert(proof.kind === "proof");
  assertEquals(proof.serverNodeId, "n2");
  const result = server.receiveProof(proof.body);
  assertEquals(result, { kind: "accepted", clientNodeId: "n1" });
});

Deno.test("handshake refuses a server with the wrong secret (client side)", () => {
  const { proof } = run(new Rng(2), { serverSecret: WRONG });
  assert(proof.kind === "refused");
  assertEquals(proof.code, "AUTH_FAILED");
});

Deno.test("handshake refuses a client with the wrong secret (server side)", () => {
  const rng = new Rng(3);
  // A client with the wrong secret cannot check the server's proof; it answers anyway.
  const { server } = pair(rng);
  const liar = new ClientHandshake({
    secret: WRONG,
    localNodeId: "n1",
    nonce: nonce(rng),
    expectedServerId: null,
  });
  const challenge = server.receiveHello(liar.hello());
  assert(challenge.kind === "challenge");
  const forged = rng.fill(new Uint8Array(32));
  const result = server.receiveProof(forged);
  assert(result.kind === "refused");
  assertEquals(result.code, "AUTH_FAILED");
});

Deno.test("handshake refuses a replayed HELLO and PROOF (fresh server nonce)", () => {
  const rng = new Rng(4);
  const recorded = run(rng);
  assert(recorded.proof.kind === "proof");
  const server = new ServerHandshake({ secret: SECRET, localNodeId: "n2", nonce: nonce(rng) });
  const challenge = server.receiveHello(recorded.hello);
  assert(challenge.kind === "challenge");
  const result = server.receiveProof(recorded.proof.body);
  assert(result.kind === "refused");
  assertEquals(result.code, "AUTH_FAILED");
});

Deno.test("handshake refuses the server's own proof reflected back as the client's", () => {
  const rng = new Rng(5);
  const { client, server } = pair(rng);
  const challenge = server.receiveHello(client.hello());
  assert(challenge.kind === "challenge");
  const serverProof = challenge.body.subarray(NONCE_SIZE, NONCE_SIZE + 32);
  const result = server.receiveProof(serverProof);
  assert(result.kind === "refused");
});

Deno.test("handshake refuses every changed byte of the challenge and the proof", () => {
  const rng = new Rng(6);
  const { client, server } = pair(rng);
  const hello = client.hello();
  const challenge = server.receiveHello(hello);
  assert(challenge.kind === "challenge");
  for (let index = 0; index < challenge.body.length; index++) {
    const copy = new ClientHandshake({
      secret: SECRET,
      localNodeId: "n1",
      nonce: hello.subarray(1, 1 + NONCE_SIZE),
      expectedServerId: "n2",
    });
    copy.hello();
    const changed = challenge.body.slice();
    changed[index] = (changed[index] as number) ^ 0x01;
    assertEquals(copy.receiveChallenge(changed).kind, "refused", `byte ${index}`);
  }
  const proof = client.receiveChallenge(challenge.body);
  assert(proof.kind === "proof");
  for (let index = 0; index < proof.body.length; index++) {
    const fresh: ServerHandshake = new ServerHandshake({
      secret: SECRET,
      localNodeId: "n2",
      nonce: challenge.body.slice(0, NONCE_SIZE),
    });
    assertEquals(fresh.receiveHello(hello).kind, "challenge");
    const changed: Uint8Array = proof.body.slice();
    changed[index] = (changed[index] as number) ^ 0x80;
    assertEquals(fresh.receiveProof(changed).kind, "refused", `byte ${index}`);
  }
});

Deno.test("handshake refuses a server that is not the node dialed", () => {
  const rng = new Rng(7);
  const client = new ClientHandshake({
    secret: SECRET,
    localNodeId: "n1",
    nonce: nonce(rng),
    expectedServerId: "n3",
  });
  const server = new ServerHandshake({ secret: SECRET, localNodeId: "n2", nonce: nonce(rng) });
  const challenge = server.receiveHello(client.hello());
  assert(challenge.kind === "challenge");
  const result = client.receiveChallenge(challenge.body);
  assert(result.kind === "refused");
  assertEquals(result.code, "UNREACHABLE");
});

Deno.test("handshake refuses malformed messages with PROTOCOL", async (t) => {
  const rng = new Rng(8);
  const valid = new ClientHandshake({
    secret: SECRET,
    localNodeId: "n1",
    nonce: nonce(rng),
    expectedServerId: null,
  }).hello();
  const cases: { name: string; hello: Uint8Array }[] = [
    { name: "empty", hello: new Uint8Array(0) },
    { name: "truncated", hello: valid.subarray(0, valid.length - 1) },
    { name: "extended", hello: Uint8Array.of(...valid, 0) },
    { name: "wrong version", hello: Uint8Array.of(9, ...valid.subarray(1)) },
    { name: "node id with a slash", hello: Uint8Array.of(...valid.subarray(0, 33), 2, 0x2e, 0x2f) },
    { name: "node id not UTF-8", hello: Uint8Array.of(...valid.subarray(0, 33), 1, 0xff) },
    { name: "server's own id", hello: Uint8Array.of(...valid.subarray(0, 33), 2, 0x6e, 0x32) },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const server = new ServerHandshake({ secret: SECRET, localNodeId: "n2", nonce: nonce(rng) });
      const result = server.receiveHello(c.hello);
      assert(result.kind === "refused");
      assertEquals(result.code, "PROTOCOL");
    });
  }
});

Deno.test("handshake never accepts random messages (seeded fuzz)", () => {
  const seed = 99;
  const rng = new Rng(seed);
  for (let round = 0; round < 500; round++) {
    const server = new ServerHandshake({ secret: SECRET, localNodeId: "n2", nonce: nonce(rng) });
    const hello = rng.fill(new Uint8Array(rng.int(100)));
    const challenge = server.receiveHello(hello);
    if (challenge.kind === "challenge") {
      const result = server.receiveProof(rng.fill(new Uint8Array(32)));
      assertEquals(result.kind, "refused", `seed ${seed} round ${round}`);
    }
    const client = new ClientHandshake({
      secret: SECRET,
      localNodeId: "n1",
      nonce: nonce(rng),
      expectedServerId: null,
    });
    client.hello();
    const reply = client.receiveChallenge(rng.fill(new Uint8Array(rng.int(120))));
    assertEquals(reply.kind, "refused", `seed ${seed} round ${round}`);
  }
});
