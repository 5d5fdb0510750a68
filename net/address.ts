/**
 * Peer addresses as people and configs write them: `HOST:PORT`, with IPv6
 * hosts in brackets (`[::1]:7000`).
 *
 * @module
 */

/** A parsed address: the hostname as sockets take it (no brackets) and the port. */
export interface HostPort {
  /** Host name or IP address, without brackets. */
  readonly hostname: string;
  /** TCP port, 1-65535. */
  readonly port: number;
}

/**
 * Parses `HOST:PORT`; returns a reason string when it is not one.
 *
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * const parsed = parseAddress("[::1]:7000");
 * if (typeof parsed === "string" || parsed.hostname !== "::1" || parsed.port !== 7000) {
 *   throw new Error("bad");
 * }
 * ```
 */
export function parseAddress(address: string): HostPort | string {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(address);
  if (match === null) return `address ${JSON.stringify(address)} is not HOST:PORT`;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) {
    return `address ${JSON.stringify(address)} has port outside 1-65535`;
  }
  const hostname = match[1] ?? match[2];
  if (hostname === undefined) return `address ${JSON.stringify(address)} has no host`;
  return { hostname, port };
}

/** Formats a hostname and port as `HOST:PORT` (brackets around IPv6 hosts). */
export function formatAddress(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}
