/**
 * Round-trip benchmark of the peer transport over loopback: requests with
 * 4 KiB and 1 MiB bodies in the write direction (body in the request, empty
 * response) and the read direction (small request, body in the response), at
 * concurrency 1 and 16. Prints ops/s, MB/s and latency p50/p99.
 *
 * The server runs in a Worker (its own thread, as a peer node would have its
 * own process); `--same-thread` runs both ends on one thread instead.
 *
 *   deno run --allow-all bench/net_bench.ts [--seconds=2] [--same-thread] [--tls]
 *
 * @module
 */

import { silentLogger } from "../base/log.ts";
import { TcpTransport } from "../net/tcp_transport.ts";

const WRITE = 200;
const READ = 201;
const SECRET = "benchmark cluster secret, not for production";
const WORKER_NAME = "net-bench-server";
const KiB = 1024;
const MiB = 1024 * KiB;

interface Case {
  readonly name: string;
  readonly direction: "write" | "read";
  readonly size: number;
  readonly concurrency: number;
}

const CASES: Case[] = [
  { name: "write 4 KiB", direction: "write", size: 4 * KiB, concurrency: 1 },
  { name: "write 4 KiB", direction: "write", size: 4 * KiB, concurrency: 16 },
  { name: "read 4 KiB", direction: "read", size: 4 * KiB, concurrency: 1 },
  { name: "read 4 KiB", direction: "read", size: 4 * KiB, concurrency: 16 },
  { name: "write 1 MiB", direction: "write", size: MiB, concurrency: 1 },
  { name: "write 1 MiB", direction: "write", size: MiB, concurrency: 16 },
  { name: "read 1 MiB", direction: "read", size: MiB, concurrency: 1 },
  { name: "read 1 MiB", direction: "read", size: MiB, concurrency: 16 },
];

/** Starts the serving node: WRITE answers empty, READ answers with the size asked for. */
async function startServer(): Promise<TcpTransport> {
  const server = await TcpTransport.listen({
    nodeId: "server",
    secret: SECRET,
    hostname: "127.0.0.1",
    port: 0,
    resolve: () => undefined,
    logger: silentLogger,
    ...tlsOptions(),
  });
  const empty = new Uint8Array(0);
  const blocks = new Map<number, Uint8Array>();
  server.handle(WRITE, () => empty);
  server.handle(READ, (_from, body) => {
    const size = new DataView(body.buffer, body.byteOffset).getUint32(0);
    let block = blocks.get(size);
    if (block === undefined) blocks.set(size, block = new Uint8Array(size).fill(7));
    return block;
  });
  return server;
}

function tlsOptions() {
  const directory = Deno.env.get("NET_BENCH_TLS_DIR");
  if (directory === undefined) return {};
  return {
    tls: {
      certFile: `${directory}/node.pem`,
      keyFile: `${directory}/node.key`,
      caFile: `${directory}/ca.pem`,
    },
  };
}

function percentile(sorted: Float64Array, fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? NaN;
}

async function runCase(client: TcpTransport, address: string, c: Case, seconds: number) {
  const body = c.direction === "write" ? new Uint8Array(c.size).fill(3) : new Uint8Array(4);
  if (c.direction === "read") new DataView(body.buffer).setUint32(0, c.size);
  const type = c.direction === "write" ? WRITE : READ;
  const target = { address };
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const started = performance.now();
      const reply = await client.request(target, type, body);
      latencies.push(performance.now() - started);
      if (c.direction === "read" && reply.length !== c.size) throw new Error("short reply");
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: c.concurrency }, worker));
  const elapsedSeconds = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  const ops = latencies.length / elapsedSeconds;
  return {
    case: `${c.name} x${c.concurrency}`,
    "ops/s": Math.round(ops),
    "MB/s": Math.round((ops * c.size) / 1e6),
    "p50 ms": Number(percentile(sorted, 0.5).toFixed(3)),
    "p99 ms": Number(percentile(sorted, 0.99).toFixed(3)),
  };
}

async function main(): Promise<void> {
  const args = new Set(Deno.args);
  const secondsArg = Deno.args.find((arg) => arg.startsWith("--seconds="));
  const seconds = secondsArg === undefined ? 2 : Number(secondsArg.slice("--seconds=".length));
  let address: string;
  let stopServer: () => Promise<void>;
  if (args.has("--same-thread")) {
    const server = await startServer();
    address = server.address;
    stopServer = () => server.close();
  } else {
    const worker = new Worker(import.meta.url, { type: "module", name: WORKER_NAME });
    address = await new Promise<string>((resolve) => {
      worker.onmessage = (event: MessageEvent<string>) => resolve(event.data);
    });
    stopServer = () => Promise.resolve(worker.terminate());
  }
  const client = await TcpTransport.listen({
    nodeId: "client",
    secret: SECRET,
    hostname: "127.0.0.1",
    port: 0,
    resolve: () => undefined,
    logger: silentLogger,
    ...tlsOptions(),
  });
  const rows = [];
  for (const c of CASES) {
    await runCase(client, address, c, Math.min(0.3, seconds)); // warm-up
    rows.push(await runCase(client, address, c, seconds));
  }
  console.table(rows);
  await client.close();
  await stopServer();
}

if ((globalThis as { name?: string }).name === WORKER_NAME) {
  const server = await startServer();
  (globalThis as unknown as Worker).postMessage(server.address);
} else if (import.meta.main) {
  await main();
}
