/**
 * Test support: starts transports on 127.0.0.1 with free ports, wired to one
 * shared address book, and closes them all at the end of a test.
 *
 * @module
 */

import { captureLogger, type Logger } from "../base/log.ts";
import { Rng } from "../base/rng.ts";
import type { TransportLimits } from "./limits.ts";
import { TcpTransport, type TlsFiles } from "./tcp_transport.ts";

/** The secret test clusters share. */
export const TEST_SECRET = "a test cluster secret, long enough";

/** Transports that know each other's addresses. */
export class TestCluster implements AsyncDisposable {
  readonly addresses = new Map<string, string>();
  readonly transports = new Map<string, TcpTransport>();
  readonly loggers = new Map<string, Logger & { lines: string[] }>();
  #seed = 1;

  /** Starts a transport for `nodeId` (replacing a closed one of the same id). */
  async start(
    nodeId: string,
    options: {
      limits?: Partial<TransportLimits>;
      secret?: string;
      port?: number;
      tls?: TlsFiles;
    } = {},
  ): Promise<TcpTransport> {
    const logger = captureLogger("debug");
    const transport = await TcpTransport.listen({
      nodeId,
      secret: options.secret ?? TEST_SECRET,
      hostname: "127.0.0.1",
      port: options.port ?? 0,
      resolve: (id) => this.addresses.get(id),
      logger,
      rng: new Rng(this.#seed++),
      limits: { backoffMinMs: 20, backoffMaxMs: 200, ...options.limits },
      ...(options.tls === undefined ? {} : { tls: options.tls }),
    });
    this.addresses.set(nodeId, transport.address);
    this.transports.set(nodeId, transport);
    this.loggers.set(nodeId, logger);
    return transport;
  }

  /** The log lines of `nodeId`, joined. */
  log(nodeId: string): string {
    return this.loggers.get(nodeId)?.lines.join("\n") ?? "";
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([...this.transports.values()].map((transport) => transport.close()));
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Retries `attempt` every 20 ms until it resolves, for at most `timeoutMs`. */
export async function eventually<T>(attempt: () => Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await sleep(20);
    }
  }
}
