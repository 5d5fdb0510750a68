/**
 * Targets "ukai-1", "ukai-2", "ukai-3" and "ukai-remote": one cluster of
 * three real `ukai serve` nodes on loopback, one image per layout, all read
 * and written through node n1's mount — one local copy ([n1]), local plus
 * one remote ([n1, n2]), three copies ([n1, n2, n3]) and remote-only ([n2]:
 * n1 has no copy, every I/O crosses the network). Each image is filled, then
 * held open read-write with one write through n1, as a running VM would: n1
 * owns the image while fio runs (a node that does not own an image pays a
 * Raft ReadIndex per read — see the report's notes).
 *
 * @module
 */

import { MiB } from "../common.ts";
import { fill } from "../fio.ts";
import type { StartedGroup, Target, TargetContext, TargetGroup } from "./target.ts";
import { startUkaiCluster, waitReleased } from "./ukai_cluster.ts";

/** Each ukai target's copies. */
const LAYOUTS: Record<string, { locations: string[]; title: string }> = {
  "ukai-1": { locations: ["n1"], title: "ukai, one local copy" },
  "ukai-2": { locations: ["n1", "n2"], title: "ukai, two copies (local + remote)" },
  "ukai-3": { locations: ["n1", "n2", "n3"], title: "ukai, three copies" },
  "ukai-remote": { locations: ["n2"], title: "ukai, remote-only (the copy is on n2)" },
};

/** Block size of the benchmark images (the product default). */
export const UKAI_BLOCK_SIZE = 4 * MiB;

/** The ukai targets. */
export const ukaiGroup: TargetGroup = {
  ids: Object.keys(LAYOUTS),
  packages: ["fuse3"],
  peer: false,
  async start(context: TargetContext, ids: readonly string[]): Promise<StartedGroup> {
    const { cleanup } = context;
    const cluster = await startUkaiCluster(cleanup, { nodes: 3, ukaiRoot: context.ukaiRoot });
    const holders: Deno.FsFile[] = [];
    const closeHolders = cleanup.defer("close the ukai image holders", () => {
      for (const holder of holders.splice(0)) holder.close();
    });
    const targets: Target[] = [];
    for (const id of ids) {
      const layout = LAYOUTS[id]!;
      await cluster.processes.call("n1", "POST", "/v1/images", {
        name: id,
        size: context.sizeBytes,
        blockSize: UKAI_BLOCK_SIZE,
        locations: layout.locations,
      });
      const file = cluster.file("n1", id);
      const speed = await fill(cleanup, file, context.sizeBytes);
      await waitReleased(cleanup, cluster, id);
      const holder = await Deno.open(file, { read: true, write: true });
      holders.push(holder);
      const first = new Uint8Array(4096);
      await holder.read(first);
      await holder.seek(0, Deno.SeekMode.Start);
      await holder.write(first);
      targets.push({ id, title: layout.title, file, fillMiBPerSecond: speed });
    }
    return {
      targets,
      details: {
        nodes: cluster.ids,
        blockSize: UKAI_BLOCK_SIZE,
        layouts: Object.fromEntries(ids.map((id) => [id, LAYOUTS[id]!.locations])),
        root: context.ukaiRoot,
      },
      stop: async () => {
        await closeHolders();
        await cluster.close();
      },
    };
  },
};
