/**
 * The demo's nodes: real `ukai serve` processes on loopback under one temp
 * folder, each with its data folder, control socket and FUSE mount, and the
 * `ukai` command run against them. `close()` stops every node it started
 * (SIGTERM, one at a time, then SIGKILL if one hangs), unmounts whatever is
 * left under the folder and removes it — on success, on failure and on
 * Ctrl-C alike.
 *
 * @module
 */

import { terminate } from "../base/child_process.ts";

const root = new URL("../", import.meta.url).pathname;

/** A free TCP port on 127.0.0.1. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** One node of the demo. */
export interface DemoNode {
  readonly id: string;
  readonly zone: string;
  readonly address: string;
  readonly mount: string;
  readonly control: string;
  readonly log: string;
  process: Deno.ChildProcess | null;
}

/** The answer of a `ukai` command run with captured output. */
export interface CommandOutput {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The demo's cluster. */
export class DemoCluster {
  readonly folder: string;
  readonly nodes: DemoNode[] = [];
  readonly #commands = new Set<Deno.ChildProcess>();

  private constructor(folder: string) {
    this.folder = folder;
  }

  /** Makes the temp folder and the cluster secret. */
  static async create(): Promise<DemoCluster> {
    const folder = await Deno.makeTempDir({ prefix: "ukai-demo-" });
    await Deno.writeTextFile(
      `${folder}/cluster.secret`,
      crypto.randomUUID() + crypto.randomUUID(),
      {
        mode: 0o600,
      },
    );
    return new DemoCluster(folder);
  }

  /** The `ukai serve` arguments of `node` (joining `join` when given). */
  serveArgs(node: DemoNode, join?: string): string[] {
    return [
      "serve",
      ...["--node-id", node.id, "--zone", node.zone, "--listen", node.address],
      ...["--data", `${this.folder}/${node.id}/data`, "--mount", node.mount],
      ...["--control", node.control, "--secret-file", `${this.folder}/cluster.secret`],
      ...(join === undefined ? [] : ["--join", join]),
    ];
  }

  /** Starts node `id` in `zone`; resolves once its control API answers and its mount is up. */
  async start(id: string, zone: string, join?: string): Promise<DemoNode> {
    await Deno.mkdir(`${this.folder}/${id}`, { recursive: true });
    const node: DemoNode = {
      id,
      zone,
      address: `127.0.0.1:${freePort()}`,
      mount: `${this.folder}/${id}/mnt`,
      control: `${this.folder}/${id}/control.sock`,
      log: `${this.folder}/${id}/log`,
      process: null,
    };
    this.nodes.push(node);
    const log = await Deno.open(node.log, { write: true, create: true });
    // In a session of its own, so a Ctrl-C on the terminal reaches the demo, which stops the
    // nodes in order, rather than every node at once.
    node.process = new Deno.Command("setsid", {
      args: [
        Deno.execPath(),
        "run",
        "--allow-all",
        `${root}main.ts`,
        ...this.serveArgs(node, join),
      ],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    void node.process.stderr.pipeTo(log.writable).catch(() => undefined);
    const deadline = performance.now() + 60_000;
    for (;;) {
      const status = await this.ukai(node, ["status", "--json"]);
      const mounted = (await Deno.readTextFile("/proc/mounts")).includes(` ${node.mount} `);
      if (status.code === 0 && mounted) return node;
      if (performance.now() > deadline) {
        throw new Error(`node ${id} did not start; its log: ${node.log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Runs `ukai ARGS` against `node`, capturing its output. */
  async ukai(node: DemoNode, args: string[]): Promise<CommandOutput> {
    const child = this.#spawn(node, args, "piped");
    const output = await child.output();
    this.#commands.delete(child);
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  }

  /** Runs `ukai ARGS` against `node` on the demo's own terminal (progress bars and colours). */
  async show(node: DemoNode, args: string[]): Promise<number> {
    const child = this.#spawn(node, args, "inherit");
    const { code } = await child.status;
    this.#commands.delete(child);
    return code;
  }

  #spawn(node: DemoNode, args: string[], output: "piped" | "inherit"): Deno.ChildProcess {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", `${root}main.ts`, ...args],
      env: { UKAI_CONTROL: node.control },
      stdin: "null",
      stdout: output,
      stderr: output,
    }).spawn();
    this.#commands.add(child);
    return child;
  }

  /** Stops `node` cleanly (SIGTERM: unmount, release its images) and waits for it. */
  async stop(node: DemoNode, graceMs = 20_000): Promise<void> {
    const process = node.process;
    if (process === null) return;
    node.process = null;
    await terminate(process, graceMs);
  }

  /** Stops everything it started, unmounts what is left and removes the folder. */
  async close(): Promise<void> {
    for (const child of this.#commands) {
      try {
        child.kill("SIGINT");
      } catch {
        // already gone
      }
      await child.status.catch(() => undefined);
    }
    // One at a time, in start order: an owner stopping releases its images through the metadata
    // group, which needs the others still up (stopped together, it would wait out a timeout).
    for (const node of this.nodes) await this.stop(node);
    const mounts = (await Deno.readTextFile("/proc/mounts")).split("\n")
      .map((line) => line.split(" ")[1] ?? "")
      .filter((point) => point.startsWith(this.folder));
    for (const point of mounts) {
      await new Deno.Command("fusermount3", { args: ["-u", "-z", point], stderr: "null" })
        .output().catch(() => undefined);
    }
    await Deno.remove(this.folder, { recursive: true }).catch(() => undefined);
  }
}
