/**
 * The mutual authentication that opens every connection, as two pure state
 * machines (no I/O, no clock; nonces are passed in). Both peers prove they
 * know the cluster secret with HMAC-SHA256 over fresh nonces from both sides:
 *
 * ```
 * client → server  HELLO      version | client nonce (32) | client id
 * server → client  CHALLENGE  server nonce (32) | server proof (32) | server id
 * client → server  PROOF      client proof (32)
 * server → client  RESULT     status 0, or AUTH_FAILED and the connection closes
 *
 * key          = HMAC(secret, "ukai-net-1 key" | client nonce | server nonce)
 * server proof = HMAC(key, "ukai-net-1 server" | len id_s | id_s | len id_c | id_c)
 * client proof = HMAC(key, "ukai-net-1 client" | len id_c | id_c | len id_s | id_s)
 * ```
 *
 * The key depends on both nonces, so a recorded proof is useless on a new
 * connection; the labels bind the direction (no reflection) and the proofs
 * bind both node ids. See docs/PROTOCOL.md.
 *
 * @module
 */

import { createHmac, timingSafeEqual } from "node:crypto";
import { assert } from "../base/assert.ts";
import type { ErrorCode } from "../base/errors.ts";
import { type NodeId, nodeIdInvalid } from "./node_id.ts";

/** Version of the handshake carried in HELLO. */
export const HANDSHAKE_VERSION = 1;
/** Bytes in each nonce. */
export const NONCE_SIZE = 32;
/** Bytes in each proof (HMAC-SHA256). */
export const PROOF_SIZE = 32;
/** Shortest cluster secret accepted. */
export const SECRET_SIZE_MIN = 16;

const LABEL_KEY = new TextEncoder().encode("ukai-net-1 key");
const LABEL_SERVER = new TextEncoder().encode("ukai-net-1 server");
const LABEL_CLIENT = new TextEncoder().encode("ukai-net-1 client");
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A handshake step that failed: the connection must close. */
export interface HandshakeRefusal {
  /** Marks the outcome as a refusal. */
  readonly kind: "refused";
  /** AUTH_FAILED for a bad proof, PROTOCOL for malformed input, UNREACHABLE for the wrong node. */
  readonly code: ErrorCode;
  /** What was wrong, for the log. */
  readonly reason: string;
}

function refused(code: ErrorCode, reason: string): HandshakeRefusal {
  return { kind: "refused", code, reason };
}

function sessionKey(secret: Uint8Array, clientNonce: Uint8Array, serverNonce: Uint8Array) {
  return createHmac("sha256", secret).update(LABEL_KEY).update(clientNonce).update(serverNonce)
    .digest();
}

function proofOf(key: Uint8Array, label: Uint8Array, firstId: NodeId, secondId: NodeId) {
  const first = encoder.encode(firstId);
  const second = encoder.encode(secondId);
  const proof = createHmac("sha256", key).update(label)
    .update(Uint8Array.of(first.length)).update(first)
    .update(Uint8Array.of(second.length)).update(second)
    .digest();
  assert(proof.length === PROOF_SIZE);
  return new Uint8Array(proof.buffer, proof.byteOffset, proof.length);
}

function proofsEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Reads a length-prefixed node id at `offset`, or returns why it cannot. */
function readNodeId(body: Uint8Array, offset: number): { id: NodeId } | { reason: string } {
  const length = body[offset];
  if (length === undefined) return { reason: "node id missing" };
  if (offset + 1 + length !== body.length) return { reason: "node id length does not match" };
  let id: string;
  try {
    id = decoder.decode(body.subarray(offset + 1));
  } catch (error) {
    return { reason: `node id is not UTF-8 (${String(error)})` };
  }
  const reason = nodeIdInvalid(id);
  return reason === null ? { id } : { reason };
}

/** What a HELLO carries: the client's nonce and the node id it claims (not yet proved). */
export interface Hello {
  /** Marks the outcome as a parsed HELLO. */
  readonly kind: "hello";
  /** The client's {@link NONCE_SIZE} random bytes (a view into the body). */
  readonly nonce: Uint8Array;
  /** The node id the client claims; only the PROOF step shows it knows the secret. */
  readonly clientNodeId: NodeId;
}

/**
 * Reads a HELLO body (`version | nonce | len id | id`), or says why it is
 * malformed. The server side of the handshake reads HELLO through this; tools
 * that watch a stream (the tests' fault proxy) use it to learn who dials.
 *
 * @example
 * ```ts
 * import { ClientHandshake, parseHello } from "./handshake.ts";
 * const client = new ClientHandshake({
 *   secret: new TextEncoder().encode("a cluster secret of some length"),
 *   localNodeId: "n1", nonce: new Uint8Array(32).fill(1), expectedServerId: null,
 * });
 * const hello = parseHello(client.hello());
 * if (hello.kind !== "hello" || hello.clientNodeId !== "n1") throw new Error("not parsed");
 * ```
 */
export function parseHello(body: Uint8Array): Hello | HandshakeRefusal {
  if (body.length < 1 + NONCE_SIZE + 2) return refused("PROTOCOL", "hello too short");
  if (body[0] !== HANDSHAKE_VERSION) {
    return refused("PROTOCOL", `unsupported handshake version ${body[0]}`);
  }
  const parsed = readNodeId(body, 1 + NONCE_SIZE);
  if ("reason" in parsed) return refused("PROTOCOL", `hello: ${parsed.reason}`);
  return { kind: "hello", nonce: body.subarray(1, 1 + NONCE_SIZE), clientNodeId: parsed.id };
}

function writeNodeId(target: Uint8Array, offset: number, id: Uint8Array): void {
  target[offset] = id.length;
  target.set(id, offset + 1);
}

/** What both sides of a handshake are given. */
export interface HandshakeOptions {
  /** The cluster secret, at least {@link SECRET_SIZE_MIN} bytes. */
  readonly secret: Uint8Array;
  /** This node's id. */
  readonly localNodeId: NodeId;
  /** {@link NONCE_SIZE} fresh random bytes, never reused. */
  readonly nonce: Uint8Array;
}

function checkOptions(options: HandshakeOptions): void {
  assert(options.secret.length >= SECRET_SIZE_MIN, "cluster secret is too short");
  assert(options.nonce.length === NONCE_SIZE, "nonce has the wrong size");
  const reason = nodeIdInvalid(options.localNodeId);
  assert(reason === null, `local node id is invalid: ${reason}`);
}

/**
 * The dialing side: sends HELLO, checks the server's proof in CHALLENGE,
 * answers with PROOF.
 *
 * @example
 * ```ts
 * import { ClientHandshake, ServerHandshake } from "./handshake.ts";
 * const secret = new TextEncoder().encode("a cluster secret of some length");
 * const client = new ClientHandshake({
 *   secret, localNodeId: "n1", nonce: new Uint8Array(32).fill(1), expectedServerId: null,
 * });
 * const server = new ServerHandshake({ secret, localNodeId: "n2", nonce: new Uint8Array(32).fill(2) });
 * const challenge = server.receiveHello(client.hello());
 * if (challenge.kind !== "challenge") throw new Error(challenge.reason);
 * const proof = client.receiveChallenge(challenge.body);
 * if (proof.kind !== "proof" || proof.serverNodeId !== "n2") throw new Error("refused");
 * const result = server.receiveProof(proof.body);
 * if (result.kind !== "accepted" || result.clientNodeId !== "n1") throw new Error("refused");
 * ```
 */
export class ClientHandshake {
  readonly #options: HandshakeOptions;
  readonly #expectedServerId: NodeId | null;
  #step: "start" | "hello-sent" | "done" = "start";

  /** `expectedServerId` is the node dialed, or null when dialing a raw bootstrap address. */
  constructor(options: HandshakeOptions & { readonly expectedServerId: NodeId | null }) {
    checkOptions(options);
    this.#options = options;
    this.#expectedServerId = options.expectedServerId;
  }

  /** The HELLO body. */
  hello(): Uint8Array {
    assert(this.#step === "start", "hello() called twice");
    this.#step = "hello-sent";
    const id = encoder.encode(this.#options.localNodeId);
    const body = new Uint8Array(1 + NONCE_SIZE + 1 + id.length);
    body[0] = HANDSHAKE_VERSION;
    body.set(this.#options.nonce, 1);
    writeNodeId(body, 1 + NONCE_SIZE, id);
    return body;
  }

  /** Checks the server's CHALLENGE; on success returns the PROOF body and the server's id. */
  receiveChallenge(
    body: Uint8Array,
  ): { kind: "proof"; body: Uint8Array; serverNodeId: NodeId } | HandshakeRefusal {
    assert(this.#step === "hello-sent", "receiveChallenge() out of order");
    this.#step = "done";
    if (body.length < NONCE_SIZE + PROOF_SIZE + 2) {
      return refused("PROTOCOL", "challenge too short");
    }
    const serverNonce = body.subarray(0, NONCE_SIZE);
    const serverProof = body.subarray(NONCE_SIZE, NONCE_SIZE + PROOF_SIZE);
    const parsed = readNodeId(body, NONCE_SIZE + PROOF_SIZE);
    if ("reason" in parsed) return refused("PROTOCOL", `challenge: ${parsed.reason}`);
    const { secret, localNodeId, nonce } = this.#options;
    if (proofsEqual(serverNonce, nonce)) return refused("AUTH_FAILED", "server echoed our nonce");
    const key = sessionKey(secret, nonce, serverNonce);
    const expected = proofOf(key, LABEL_SERVER, parsed.id, localNodeId);
    if (!proofsEqual(serverProof, expected)) {
      return refused("AUTH_FAILED", "server did not prove the cluster secret");
    }
    if (this.#expectedServerId !== null && parsed.id !== this.#expectedServerId) {
      return refused(
        "UNREACHABLE",
        `dialed node "${this.#expectedServerId}" but reached node "${parsed.id}"`,
      );
    }
    if (parsed.id === localNodeId) return refused("PROTOCOL", "server has our own node id");
    return {
      kind: "proof",
      body: proofOf(key, LABEL_CLIENT, localNodeId, parsed.id),
      serverNodeId: parsed.id,
    };
  }
}

/** The accepting side: answers HELLO with CHALLENGE, then checks PROOF. */
export class ServerHandshake {
  readonly #options: HandshakeOptions;
  #step: "start" | "challenged" | "done" = "start";
  #key: Uint8Array | null = null;
  #clientNodeId: NodeId | null = null;

  /** Creates the server side with this node's id, the secret and a fresh nonce. */
  constructor(options: HandshakeOptions) {
    checkOptions(options);
    this.#options = options;
  }

  /** Checks HELLO and returns the CHALLENGE body. */
  receiveHello(body: Uint8Array): { kind: "challenge"; body: Uint8Array } | HandshakeRefusal {
    assert(this.#step === "start", "receiveHello() out of order");
    this.#step = "challenged";
    const hello = parseHello(body);
    if (hello.kind === "refused") return hello;
    const { secret, localNodeId, nonce } = this.#options;
    const clientNodeId = hello.clientNodeId;
    if (clientNodeId === localNodeId) return refused("PROTOCOL", "client claims our own node id");
    if (proofsEqual(hello.nonce, nonce)) return refused("AUTH_FAILED", "client echoed our nonce");
    this.#key = sessionKey(secret, hello.nonce, nonce);
    this.#clientNodeId = clientNodeId;
    const id = encoder.encode(localNodeId);
    const challenge = new Uint8Array(NONCE_SIZE + PROOF_SIZE + 1 + id.length);
    challenge.set(nonce, 0);
    challenge.set(proofOf(this.#key, LABEL_SERVER, localNodeId, clientNodeId), NONCE_SIZE);
    writeNodeId(challenge, NONCE_SIZE + PROOF_SIZE, id);
    return { kind: "challenge", body: challenge };
  }

  /** Checks PROOF; on success the client is authenticated as the returned node id. */
  receiveProof(body: Uint8Array): { kind: "accepted"; clientNodeId: NodeId } | HandshakeRefusal {
    assert(this.#step === "challenged", "receiveProof() out of order");
    this.#step = "done";
    const key = this.#key;
    const clientNodeId = this.#clientNodeId;
    if (key === null || clientNodeId === null) {
      return refused("PROTOCOL", "proof after a refused hello");
    }
    const expected = proofOf(key, LABEL_CLIENT, clientNodeId, this.#options.localNodeId);
    if (!proofsEqual(body, expected)) {
      return refused("AUTH_FAILED", `client "${clientNodeId}" did not prove the cluster secret`);
    }
    return { kind: "accepted", clientNodeId };
  }
}
