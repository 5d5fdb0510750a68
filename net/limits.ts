/**
 * Every bound and default of the peer transport, named in one place. Each
 * queue, buffer and counter in net/ is limited by one of these; the
 * relationships between them are asserted when the module loads.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { MESSAGE_SIZE_MAX } from "../constants.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/** Largest frame body accepted before the handshake completes (handshake messages are tiny). */
export const HANDSHAKE_BODY_SIZE_MAX = 512;
/** Longest error message carried in a response body; longer ones are cut. */
export const ERROR_MESSAGE_BYTES_MAX = 4 * KiB;
/** Largest error response body (message plus JSON details). */
export const ERROR_BODY_BYTES_MAX = 64 * KiB;

/** Bytes the read loop asks the socket for at once when it is not reading a large body. */
export const READ_BUFFER_SIZE = 128 * KiB;
/** A body with at least this many bytes still missing is read straight into its own buffer. */
export const DIRECT_READ_BYTES_MIN = 64 * KiB;
/** Size of the buffer small frames are copied into so that many go out in one write. */
export const COALESCE_BUFFER_SIZE = 128 * KiB;
/** Body parts at least this large are written from their own buffer, never copied. */
export const DIRECT_WRITE_BYTES_MIN = 64 * KiB;
/** Queued bytes past which the writer starts at once instead of at the end of the microtask. */
export const FLUSH_THRESHOLD_BYTES = 64 * KiB;

/** Most frames queued for writing on one connection (requests, responses, one-way). */
export const FRAMES_QUEUED_PER_CONNECTION_MAX = 8192;
/** Most callers waiting for room (or for the connection) at one peer. */
export const WAITERS_PER_PEER_MAX = 8192;
/** Most outbound peers (node ids plus raw bootstrap addresses) one transport keeps. */
export const PEERS_MAX = 256;
/** Most node ids whose counters one transport keeps (outbound peers plus inbound callers). */
export const PEER_COUNTERS_MAX = 512;

/** Defaults of {@link TransportLimits}; each can be lowered (tests) or raised per transport. */
export const TRANSPORT_LIMITS_DEFAULT = {
  /** Largest frame body. */
  bodySizeMax: MESSAGE_SIZE_MAX,
  /** Requests awaiting a response per outbound peer. */
  requestsInFlightPerPeerMax: 1024,
  /** Bytes queued and not yet written per outbound peer. */
  outboundBytesPerPeerMax: 64 * MiB,
  /** Requests being handled (or whose response is not yet written) per inbound connection. */
  inboundRequestsPerConnectionMax: 256,
  /** Request and response bytes held per inbound connection before reading pauses. */
  inboundBytesPerConnectionMax: 64 * MiB,
  /** Inbound connections, authenticated or not. */
  inboundConnectionsMax: 256,
  /** Time a peer has to complete the handshake (both directions). */
  handshakeTimeoutMs: 5_000,
  /** Time a dial may take before it counts as failed. */
  dialTimeoutMs: 5_000,
  /** Default per-request deadline, from the call until the response. */
  requestTimeoutMs: 10_000,
  /** First reconnect delay after a failure. */
  backoffMinMs: 100,
  /** Longest reconnect delay. */
  backoffMaxMs: 5_000,
  /** Granularity of the deadline sweep: timeouts fire at most this late. */
  timeoutResolutionMs: 10,
} as const;

/** The tunable limits of a transport (see {@link TRANSPORT_LIMITS_DEFAULT}). */
export type TransportLimits = { -readonly [K in keyof typeof TRANSPORT_LIMITS_DEFAULT]: number };

/**
 * Checks `limits` and returns a reason when one is out of range.
 *
 * @example
 * ```ts
 * import { TRANSPORT_LIMITS_DEFAULT, transportLimitsInvalid } from "./limits.ts";
 * if (transportLimitsInvalid({ ...TRANSPORT_LIMITS_DEFAULT }) !== null) throw new Error("bad");
 * ```
 */
export function transportLimitsInvalid(limits: TransportLimits): string | null {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      return `limit "${name}" must be a positive integer: current value is ${value}`;
    }
  }
  if (limits.bodySizeMax > MESSAGE_SIZE_MAX) {
    return `limit "bodySizeMax" must be at most ${MESSAGE_SIZE_MAX}: current value is ${limits.bodySizeMax}`;
  }
  if (limits.bodySizeMax < ERROR_BODY_BYTES_MAX) {
    return `limit "bodySizeMax" must be at least ${ERROR_BODY_BYTES_MAX} so errors fit`;
  }
  if (limits.requestsInFlightPerPeerMax > FRAMES_QUEUED_PER_CONNECTION_MAX / 2) {
    return `limit "requestsInFlightPerPeerMax" must be at most ${
      FRAMES_QUEUED_PER_CONNECTION_MAX / 2
    }`;
  }
  if (limits.inboundRequestsPerConnectionMax > FRAMES_QUEUED_PER_CONNECTION_MAX / 2) {
    return `limit "inboundRequestsPerConnectionMax" must be at most ${
      FRAMES_QUEUED_PER_CONNECTION_MAX / 2
    }`;
  }
  if (limits.backoffMinMs > limits.backoffMaxMs) {
    return `limit "backoffMinMs" must not exceed "backoffMaxMs"`;
  }
  return null;
}

// A body read directly must be worth a syscall of its own; smaller ones go through the read buffer.
assert(DIRECT_READ_BYTES_MIN <= READ_BUFFER_SIZE);
// A part written directly is one that would not fit well in the coalescing buffer.
assert(DIRECT_WRITE_BYTES_MIN <= COALESCE_BUFFER_SIZE);
// The whole handshake must fit the pre-authentication body limit, with room for the longest ids.
assert(HANDSHAKE_BODY_SIZE_MAX >= 1 + 32 + 32 + 1 + 63);
assert(ERROR_MESSAGE_BYTES_MAX < ERROR_BODY_BYTES_MAX);
assert(TRANSPORT_LIMITS_DEFAULT.bodySizeMax <= MESSAGE_SIZE_MAX);
