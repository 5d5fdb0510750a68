/**
 * Real `ukai serve` processes for end-to-end tests: each node gets free
 * loopback ports, its own data folder, control socket and (optionally) FUSE
 * mount under one temp root. Nodes can be stopped (SIGTERM), killed
 * (SIGKILL), frozen (SIGSTOP) and thawed (SIGCONT). `close()` kills what is
 * left, unmounts every mount (also stale ones) and removes the root — call
 * it in `finally`.
 *
 * @module
 */

import { ControlClient } from "../../control/client.ts";

const root = new URL("../../", import.meta.url).pathname;

/** A free TCP port on 127.0.0.1 (closed again before it is used). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** One node of a test cluster. */
export interface ProcessNode {
  readonly id: string;
  /** The port peers dial (`--advertise`); see {@link ProcessClusterOptions.proxy}. */
  readonly port: number;
  /** The port the node listens on (`--listen`); equals `port` unless a proxy fronts it. */
  readonly listenPort: number;
  readonly data: string;
  readonly mount: string;
  readonly control: string;
  readonly log: string;
  readonly zone: string;
  process: Deno.ChildProcess | null;
}

/** Options of a node's start. */
export interface StartOptions {
  readonly join?: string;
  readonly extraArgs?: readonly string[];
  /** Extra environment variables of the process (NOTIFY_SOCKET, JOURNAL_STREAM, …). */
  readonly env?: Readonly<Record<string, string>>;
  /** Do not wait for the control socket to answer. */
  readonly noWait?: boolean;
}

async function pollUntil(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs: number,
  hopeless: () => string | null = () => null,
) {
  const deadline = performance.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    const reason = hopeless();
    if (reason !== null) throw new Error(`Gave up waiting for ${what}: ${reason}`);
    if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Copies a child's output into its log file. (A `pipeTo(file.writable)` lost
 * the output of a process started after an earlier one was killed.)
 */
async function copyInto(stream: ReadableStream<Uint8Array>, file: Deno.FsFile): Promise<void> {
  try {
    for await (const chunk of stream) {
      let written = 0;
      while (written < chunk.length) written += await file.write(chunk.subarray(written));
    }
  } catch {
    // the child is gone
  } finally {
    file.close();
  }
}

async function unmountAll(under: string): Promise<void> {
  const mounts = (await Deno.readTextFile("/proc/mounts")).split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((point) => point.startsWith(under));
  for (const point of mounts.reverse()) {
    await new Deno.Command("fusermount3", { args: ["-u", "-z", point], stderr: "null" }).output()
      .catch(() => undefined);
  }
}

/** Options of {@link ProcessCluster.create}. */
export interface ProcessClusterOptions {
  /** Wait for each node's FUSE mount on start (default true). */
  readonly mount?: boolean;
  /**
   * Puts something in front of each node's peer port (the fault proxy of
   * fault_proxy.ts): called once per node by `define` with the node's id and
   * the `host:port` it will listen on, it returns the port peers must dial
   * instead, which the node then advertises (`--advertise`).
   */
  readonly proxy?: (id: string, listenAddress: string) => number;
}

/** A set of ukai processes under one temp folder. */
export class ProcessCluster {
  readonly root: string;
  readonly nodes = new Map<string, ProcessNode>();
  readonly #mount: boolean;
  readonly #proxy: ProcessClusterOptions["proxy"];
  readonly #deferred: (() => void | Promise<void>)[] = [];

  private constructor(folder: string, options: ProcessClusterOptions) {
    this.root = folder;
    this.#mount = options.mount ?? true;
    this.#proxy = options.proxy;
  }

  /** Creates the temp root; nodes are started with `start`. */
  static async create(options: ProcessClusterOptions = {}): Promise<ProcessCluster> {
    const folder = await Deno.makeTempDir({ prefix: "ukai-e2e-" });
    return new ProcessCluster(folder, options);
  }

  /** Declares node `id` (ports chosen now) without starting it. */
  define(id: string, zone = "dc1"): ProcessNode {
    const existing = this.nodes.get(id);
    if (existing !== undefined) return existing;
    const listenPort = freePort();
    const node: ProcessNode = {
      id,
      port: this.#proxy === undefined ? listenPort : this.#proxy(id, `127.0.0.1:${listenPort}`),
      listenPort,
      data: `${this.root}/${id}/data`,
      mount: `${this.root}/${id}/mnt`,
      control: `${this.root}/${id}/control.sock`,
      log: `${this.root}/${id}/log`,
      zone,
      process: null,
    };
    this.nodes.set(id, node);
    return node;
  }

  /** The node `id`. */
  node(id: string): ProcessNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`unknown test node ${id}`);
    return node;
  }

  /** The peer address of `id` (the advertised one: its proxy's when it has one). */
  address(id: string): string {
    return `127.0.0.1:${this.node(id).port}`;
  }

  /** Starts (or restarts) node `id`; waits until its control API answers. */
  async start(id: string, options: StartOptions = {}): Promise<ProcessNode> {
    const node = this.define(id);
    await Deno.mkdir(`${this.root}/${id}`, { recursive: true });
    const secret = `${this.root}/cluster.secret`;
    try {
      await Deno.stat(secret);
    } catch {
      await Deno.writeTextFile(secret, "e2e-secret-0123456789abcdef0123456789\n", { mode: 0o600 });
    }
    const args = [
      "run",
      "--allow-all",
      `${root}main.ts`,
      "serve",
      "--node-id",
      id,
      "--data",
      node.data,
      "--mount",
      node.mount,
      "--listen",
      `127.0.0.1:${node.listenPort}`,
      ...(node.listenPort === node.port ? [] : ["--advertise", this.address(id)]),
      "--zone",
      node.zone,
      "--control",
      node.control,
      "--secret-file",
      secret,
      "--tick-ms",
      "50",
      "--io-timeout",
      "2s",
      ...(options.join === undefined ? [] : ["--join", options.join]),
      ...(options.extraArgs ?? []),
    ];
    const log = await Deno.open(node.log, { write: true, create: true, append: true });
    node.process = new Deno.Command(Deno.execPath(), {
      args,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...options.env },
    }).spawn();
    void copyInto(node.process.stderr, log);
    void node.process.stdout.cancel().catch(() => undefined);
    if (options.noWait) return node;
    let exitCode: number | null = null;
    node.process.status.then((status) => exitCode = status.code, () => undefined);
    const exited = () => {
      if (exitCode === null) return null;
      let tail = "";
      try {
        tail = Deno.readTextFileSync(node.log).trimEnd().split("\n").slice(-8).join("\n");
      } catch {
        // no log to show
      }
      return `it exited with code ${exitCode}; the end of its log:\n${tail}`;
    };
    await pollUntil(
      async () => {
        const client = new ControlClient({ socketPath: node.control });
        try {
          await client.call("GET", "/v1/status");
          return true;
        } finally {
          client.close();
        }
      },
      `node ${id} to serve (see ${node.log})`,
      60_000,
      exited,
    );
    if (this.#mount) {
      await pollUntil(
        async () => (await Deno.readTextFile("/proc/mounts")).includes(` ${node.mount} `),
        `${id}'s mount`,
        20_000,
        exited,
      );
    }
    return node;
  }

  /** Sends `signal` to node `id`. */
  signal(id: string, signal: Deno.Signal): void {
    this.node(id).process?.kill(signal);
  }

  /** Stops node `id` cleanly (SIGTERM) and waits for it to exit; returns its exit code. */
  async stop(id: string): Promise<number> {
    const node = this.node(id);
    if (node.process === null) return 0;
    node.process.kill("SIGTERM");
    const status = await node.process.status;
    node.process = null;
    return status.code;
  }

  /** Kills node `id` with SIGKILL and waits for it to be gone. */
  async kill(id: string): Promise<void> {
    const node = this.node(id);
    if (node.process === null) return;
    node.process.kill("SIGKILL");
    await node.process.status;
    node.process = null;
  }

  /** A control client for node `id` (close it when done). */
  client(id: string): ControlClient {
    return new ControlClient({ socketPath: this.node(id).control });
  }

  /** Calls node `id`'s control API once. */
  async call<T = Record<string, unknown>>(
    id: string,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<T> {
    const client = this.client(id);
    try {
      return await client.call<T>(method, path, body === undefined ? {} : { body });
    } finally {
      client.close();
    }
  }

  /** Runs the `ukai` CLI as a process against node `id`. */
  async cli(id: string | null, args: string[], env: Record<string, string> = {}) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", `${root}main.ts`, ...args],
      env: {
        NO_COLOR: "1",
        ...(id === null ? {} : { UKAI_CONTROL: this.node(id).control }),
        ...env,
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return textOutput(output);
  }

  /** Runs `cleanup` first thing in {@link close} (e.g. closing files held on a mount). */
  defer(cleanup: () => void | Promise<void>): void {
    this.#deferred.push(cleanup);
  }

  /** Kills every node, unmounts everything under the root and removes it. */
  async close(): Promise<void> {
    for (const cleanup of this.#deferred.splice(0)) {
      await Promise.resolve(cleanup()).catch(() => undefined);
    }
    for (const node of this.nodes.values()) {
      if (node.process === null) continue;
      try {
        node.process.kill("SIGCONT");
        node.process.kill("SIGKILL");
      } catch {
        // already gone
      }
      await node.process.status.catch(() => undefined);
      node.process = null;
    }
    await unmountAll(this.root);
    await Deno.remove(this.root, { recursive: true }).catch(() => undefined);
  }

  /** Waits until node `id`'s log matches `pattern`. */
  async waitForLog(id: string, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    await pollUntil(
      async () => pattern.test(await this.logOf(id)),
      `${pattern} in ${id}'s log`,
      timeoutMs,
    );
  }

  /** The log of node `id`, for failure messages. */
  async logOf(id: string): Promise<string> {
    return await Deno.readTextFile(this.node(id).log).catch(() => "");
  }
}

/** A finished command's exit code and its output as text. */
export function textOutput(output: Deno.CommandOutput): CommandText {
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** What {@link textOutput} returns. */
export interface CommandText {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}
