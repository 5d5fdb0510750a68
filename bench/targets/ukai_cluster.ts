/**
 * Real `ukai serve` processes for the benchmarks, through the end-to-end
 * test harness (tests/harness/processes.ts) of the chosen checkout
 * (`--ukai=DIR`, default this repository): N nodes on loopback, each with
 * its own data folder, control socket and FUSE mount, all of them voters
 * before the cluster is handed out. `close()` kills the nodes, unmounts and
 * removes the folder; it is registered with the suite's cleanup too.
 *
 * @module
 */

import type { ProcessCluster } from "../../tests/harness/processes.ts";
import { type Cleanup, until } from "../common.ts";

/** The checkout of this file (the default `--ukai`). */
export const THIS_CHECKOUT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** A started cluster. */
export interface UkaiCluster {
  readonly processes: ProcessCluster;
  /** Node ids, n1…nN. */
  readonly ids: readonly string[];
  /** The node that leads Raft now. */
  leader(): Promise<string>;
  /** Path of image `name` on node `id`'s mount. */
  file(id: string, name: string): string;
  close(): Promise<void>;
}

/** Options of a cluster. */
export interface UkaiClusterOptions {
  readonly nodes: number;
  readonly ukaiRoot: string;
  /** Extra `ukai serve` flags for every node (e.g. `--resync-rate 40M`). */
  readonly extraArgs?: readonly string[];
  /** Whether nodes mount their images (default true). */
  readonly mount?: boolean;
}

/** Starts `options.nodes` nodes (n1 bootstraps, the others join it) and waits until all vote. */
export async function startUkaiCluster(
  cleanup: Cleanup,
  options: UkaiClusterOptions,
): Promise<UkaiCluster> {
  const harness = await import(`file://${options.ukaiRoot}/tests/harness/processes.ts`) as {
    ProcessCluster: typeof ProcessCluster;
  };
  const processes = await harness.ProcessCluster.create({ mount: options.mount ?? true });
  const forget = cleanup.defer("stop the ukai nodes", () => processes.close());
  const ids = Array.from({ length: options.nodes }, (_, index) => `n${index + 1}`);
  const extraArgs = options.extraArgs ?? [];
  try {
    for (const id of ids) processes.define(id);
    await processes.start("n1", { extraArgs });
    for (const id of ids.slice(1)) {
      cleanup.check();
      await processes.start(id, { join: processes.address("n1"), extraArgs });
    }
    await until(
      () => processes.call<{ nodes: { role: string }[] }>("n1", "GET", "/v1/nodes"),
      (answer) => answer.nodes.filter((node) => node.role === "voter").length === ids.length,
      `${ids.length} voters`,
      { cleanup, timeoutMs: 60_000 },
    );
  } catch (error) {
    await forget();
    throw error;
  }
  return {
    processes,
    ids,
    leader: async () => {
      const status = await processes.call<{ cluster: { leader: string | null } }>(
        "n1",
        "GET",
        "/v1/status",
      );
      if (status.cluster.leader === null) throw new Error("The ukai cluster has no leader");
      return status.cluster.leader;
    },
    file: (id, name) => `${processes.node(id).mount}/${name}`,
    close: forget,
  };
}

/** Image view fields the benchmarks read. */
export interface ImageState {
  readonly name: string;
  readonly owner: string | null;
  readonly outOfSyncBlocks: number;
  readonly blockCount: number;
  readonly locations: readonly { node: string; inSyncBlocks: number; outOfSyncBlocks: number }[];
}

/**
 * Waits until nobody owns image `name`. After the last close the owner
 * releases in the background; a handle opened on the same node before that
 * release commits is fenced as if another node had taken over (writes fail
 * with EIO), so the benchmarks wait for the release before reopening.
 */
export async function waitReleased(cleanup: Cleanup, cluster: UkaiCluster, name: string) {
  await until(
    () => cluster.processes.call<ImageState>("n1", "GET", `/v1/images/${name}`),
    (view) => view.owner === null,
    `${name} to be released`,
    { cleanup, timeoutMs: 30_000, intervalMs: 50 },
  );
}
