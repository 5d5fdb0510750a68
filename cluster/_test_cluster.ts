/**
 * Test helper: ukai cluster nodes in one process, each with its own data
 * folder and a real TCP transport on 127.0.0.1 (port 0), fast Raft timings.
 */

import { silentLogger, stderrLogger } from "../base/log.ts";
const testLogger = Deno.env.get("UKAI_TEST_LOG") ? stderrLogger("debug") : silentLogger;
import { Rng } from "../base/rng.ts";
import { TcpTransport } from "../net/mod.ts";
import { AddressBook } from "./address_book.ts";
import { Cluster } from "./cluster.ts";

export const TEST_SECRET = "test-cluster-secret-0123456789";
export const FAST_TIMINGS = {
  tickMs: 20,
  electionTicks: 10,
  heartbeatTicks: 1,
  snapshotEntries: 50,
};

/** A running test node. */
export interface TestNode {
  readonly id: string;
  readonly folder: string;
  readonly transport: TcpTransport;
  readonly cluster: Cluster;
  stop(): Promise<void>;
}

/** Starts node `id` with data under `folder`; joins through `join` if given. */
export async function startTestNode(
  id: string,
  folder: string,
  options: { join?: string; learner?: boolean; port?: number; seed?: number } = {},
): Promise<TestNode> {
  const addresses = new AddressBook();
  const transport = await TcpTransport.listen({
    nodeId: id,
    secret: TEST_SECRET,
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    resolve: (peer) => addresses.lookup(peer),
    logger: testLogger.child(id),
  });
  const cluster = await Cluster.open({
    nodeId: id,
    address: transport.address,
    zone: "test",
    dataFolder: folder,
    transport,
    logger: testLogger.child(id),
    rng: new Rng(options.seed ?? id.charCodeAt(id.length - 1)),
    timings: FAST_TIMINGS,
    ...(options.join === undefined ? {} : { join: options.join }),
    learner: options.learner ?? false,
    bootstrap: false,
    runId: `${id}-${Math.random().toString(36).slice(2)}`,
    addresses,
  });
  const started = cluster;
  return {
    id,
    folder,
    transport,
    cluster: started,
    async stop() {
      await started.close();
      await transport.close();
    },
  };
}

/** Waits until `condition` holds, polling; throws after `timeoutMs`. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
