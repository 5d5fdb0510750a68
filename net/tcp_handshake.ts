/**
 * Runs the pure handshake of handshake.ts over a {@link Connection}: frames
 * in lock-step (HELLO and PROOF are requests with ids 1 and 2), one deadline
 * for the whole exchange, and a typed `UkaiError` for every way it can fail.
 * Until it succeeds the connection accepts only handshake-sized bodies.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { ERROR_TABLE, UkaiError } from "../base/errors.ts";
import {
  encodeFrameHeader,
  type Frame,
  type FrameHeaderFields,
  NET_MESSAGE_TYPE,
} from "./frame.ts";
import { outboundFrame } from "./frame_writer.ts";
import { ClientHandshake, type HandshakeRefusal, ServerHandshake } from "./handshake.ts";
import type { NodeId } from "./node_id.ts";
import type { Connection } from "./tcp_connection.ts";

const HELLO_REQUEST_ID = 1;
const PROOF_REQUEST_ID = 2;
const encoder = new TextEncoder();

/** What either side of a handshake needs. */
export interface HandshakeRunOptions {
  readonly secret: Uint8Array;
  readonly localNodeId: NodeId;
  /** Fresh random bytes, never reused. */
  readonly nonce: Uint8Array;
  /** The whole handshake must finish within this time. */
  readonly timeoutMs: number;
}

/**
 * Receives the frames of a lock-step exchange. A second frame before the
 * first was taken, or a close, fails the exchange.
 */
class FrameMailbox {
  #frame: Frame | null = null;
  #waiter: ((frame: Frame) => void) | null = null;
  readonly #connection: Connection;

  constructor(connection: Connection) {
    this.#connection = connection;
  }

  put(frame: Frame): void {
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      waiter(frame);
    } else if (this.#frame !== null) {
      this.#connection.close("peer sent frames out of turn during the handshake");
    } else {
      this.#frame = frame;
    }
  }

  async take(): Promise<Frame | string> {
    const frame = this.#frame;
    this.#frame = null;
    if (frame !== null) return frame;
    assert(this.#waiter === null, "FrameMailbox.take() while another take waits");
    const arrived = new Promise<Frame>((resolve) => this.#waiter = resolve);
    return await Promise.race([arrived, this.#connection.closed]);
  }
}

function sendFrame(connection: Connection, fields: FrameHeaderFields, body: Uint8Array): void {
  const parts = body.length === 0 ? [] : [body];
  connection.send(outboundFrame(encodeFrameHeader(fields, parts), parts, false));
}

/** Runs `exchange` with a deadline that closes the connection when it passes. */
async function withDeadline<T>(
  connection: Connection,
  timeoutMs: number,
  exchange: (mailbox: FrameMailbox) => Promise<T>,
): Promise<T> {
  const mailbox = new FrameMailbox(connection);
  connection.start((frame) => mailbox.put(frame));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    connection.close(`handshake not finished within ${timeoutMs} ms`);
  }, timeoutMs);
  try {
    return await exchange(mailbox);
  } catch (error) {
    if (timedOut) {
      throw new UkaiError("TIMEOUT", `Handshake not finished within ${timeoutMs} ms`, {
        cause: error,
      });
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function failed(connection: Connection, refusal: HandshakeRefusal): UkaiError {
  connection.close(`handshake refused: ${refusal.reason}`);
  return new UkaiError(refusal.code, `Handshake refused: ${refusal.reason}`);
}

/** The error of a connection that closed before the handshake finished, with `reason`. */
function closedDuringHandshake(reason: string): UkaiError {
  // Bytes that do not form a valid frame are the peer's fault, not the network's.
  const code = reason.startsWith("invalid frame") ? "PROTOCOL" : "UNREACHABLE";
  return new UkaiError(code, `Connection closed during the handshake: ${reason}`);
}

function expectResponse(connection: Connection, frame: Frame | string, requestId: number): Frame {
  if (typeof frame === "string") {
    throw closedDuringHandshake(frame);
  }
  const { header } = frame;
  if (header.kind !== "response" || header.requestId !== requestId) {
    connection.close("unexpected frame during the handshake");
    throw new UkaiError("PROTOCOL", "Unexpected frame during the handshake");
  }
  if (header.status === ERROR_TABLE.AUTH_FAILED.wire) {
    connection.close("server refused our proof");
    throw new UkaiError("AUTH_FAILED", "Server refused our proof of the cluster secret");
  }
  if (header.status !== 0) {
    connection.close(`server refused the handshake with status ${header.status}`);
    throw new UkaiError("PROTOCOL", `Server refused the handshake (status ${header.status})`);
  }
  return frame;
}

/**
 * Authenticates an outgoing connection and returns the server's node id.
 * `expectedServerId` is the node dialed, or null for a bootstrap address.
 *
 * @throws {UkaiError} AUTH_FAILED (wrong secret on either side), TIMEOUT,
 *   UNREACHABLE (closed, or a different node answered), PROTOCOL (malformed)
 */
export function runClientHandshake(
  connection: Connection,
  options: HandshakeRunOptions & { readonly expectedServerId: NodeId | null },
): Promise<NodeId> {
  const handshake = new ClientHandshake(options);
  return withDeadline(connection, options.timeoutMs, async (mailbox) => {
    const { hello, proof } = NET_MESSAGE_TYPE;
    sendFrame(
      connection,
      { kind: "request", type: hello, requestId: HELLO_REQUEST_ID, status: 0 },
      handshake.hello(),
    );
    const challenge = expectResponse(connection, await mailbox.take(), HELLO_REQUEST_ID);
    const step = handshake.receiveChallenge(challenge.body);
    if (step.kind === "refused") throw failed(connection, step);
    sendFrame(
      connection,
      { kind: "request", type: proof, requestId: PROOF_REQUEST_ID, status: 0 },
      step.body,
    );
    expectResponse(connection, await mailbox.take(), PROOF_REQUEST_ID);
    return step.serverNodeId;
  });
}

function expectRequest(
  connection: Connection,
  frame: Frame | string,
  type: number,
  requestId: number,
): Frame {
  if (typeof frame === "string") {
    throw closedDuringHandshake(frame);
  }
  const { header } = frame;
  if (header.kind !== "request" || header.type !== type || header.requestId !== requestId) {
    connection.close("unexpected frame before authentication");
    throw new UkaiError("PROTOCOL", "Unexpected frame before authentication");
  }
  return frame;
}

/**
 * Authenticates an incoming connection and returns the client's node id.
 * `onAccepted` runs before the final RESULT frame is sent, so the caller can
 * install its frame handler before the client may send anything else.
 *
 * @throws {UkaiError} AUTH_FAILED, TIMEOUT, UNREACHABLE, PROTOCOL
 */
export function runServerHandshake(
  connection: Connection,
  options: HandshakeRunOptions,
  onAccepted: (clientNodeId: NodeId) => void,
): Promise<NodeId> {
  const handshake = new ServerHandshake(options);
  return withDeadline(connection, options.timeoutMs, async (mailbox) => {
    const { hello, proof } = NET_MESSAGE_TYPE;
    const helloFrame = expectRequest(connection, await mailbox.take(), hello, HELLO_REQUEST_ID);
    const challenge = handshake.receiveHello(helloFrame.body);
    if (challenge.kind === "refused") throw failed(connection, challenge);
    sendFrame(
      connection,
      { kind: "response", type: hello, requestId: HELLO_REQUEST_ID, status: 0 },
      challenge.body,
    );
    const proofFrame = expectRequest(connection, await mailbox.take(), proof, PROOF_REQUEST_ID);
    const result = handshake.receiveProof(proofFrame.body);
    const response = { kind: "response", type: proof, requestId: PROOF_REQUEST_ID } as const;
    if (result.kind === "refused") {
      sendFrame(
        connection,
        { ...response, status: ERROR_TABLE.AUTH_FAILED.wire },
        encoder.encode(result.reason),
      );
      await connection.flushed();
      throw failed(connection, result);
    }
    onAccepted(result.clientNodeId);
    sendFrame(connection, { ...response, status: 0 }, new Uint8Array(0));
    return result.clientNodeId;
  });
}
