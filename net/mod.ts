/**
 * net/: the peer transport shared by Raft and the block data path. Frames
 * with checksummed headers and bodies (frame.ts, decoder.ts), a mutual
 * HMAC-SHA256 handshake (handshake.ts), and the TCP/TLS transport with
 * request/response, one-way messages, backpressure and reconnects
 * (tcp_transport.ts). docs/PROTOCOL.md describes the wire format.
 *
 * @module
 */

export { formatAddress, type HostPort, parseAddress } from "./address.ts";
export { backoffDelayMs } from "./backoff.ts";
export { FrameDecoder } from "./decoder.ts";
export {
  encodeFrame,
  encodeFrameHeader,
  type Frame,
  FRAME_HEADER_SIZE,
  frameBodyInvalid,
  type FrameHeader,
  type FrameHeaderFields,
  frameInvalid,
  type FrameKind,
  type FrameLimits,
  MESSAGE_TYPE_MAX,
  MESSAGE_TYPE_USER_MIN,
  NET_MESSAGE_TYPE,
  parseFrameHeader,
} from "./frame.ts";
export {
  ClientHandshake,
  type HandshakeRefusal,
  type Hello,
  parseHello,
  SECRET_SIZE_MIN,
  ServerHandshake,
} from "./handshake.ts";
export { TRANSPORT_LIMITS_DEFAULT, type TransportLimits } from "./limits.ts";
export { type DeliveryHook, MemoryNetwork, MemoryTransport } from "./memory_transport.ts";
export { type NodeId, nodeIdInvalid } from "./node_id.ts";
export {
  type AddressResolver,
  TcpTransport,
  type TcpTransportOptions,
  type TlsFiles,
} from "./tcp_transport.ts";
export type {
  Body,
  HandlerOptions,
  MessageHandler,
  PeerState,
  PeerStatus,
  PeerTarget,
  RequestHandler,
  RequestOptions,
  Transport,
} from "./transport.ts";
