/**
 * Test helper: several engines in one process, sharing one in-memory
 * metadata store, each with its own block store in a temp folder, connected
 * by an in-memory network with fault injection. Time is manual.
 */

import { copyParts } from "../base/bytes.ts";
import { ManualClock } from "../base/clock.ts";
import { silentLogger } from "../base/log.ts";
import { Rng } from "../base/rng.ts";
import { BlockStatus, imageStoreKey, MemoryMetaStore } from "../meta/mod.ts";
import { MemoryNetwork, type MemoryTransport } from "../net/mod.ts";
import { BlockStore } from "../store/mod.ts";
import { Engine, type EngineSettings } from "./engine.ts";
import { LanePermits } from "./lane_permits.ts";

export const BLOCK = 64 * 1024;

/** A test cluster of engines. */
export interface TestNodes {
  readonly meta: MemoryMetaStore;
  readonly network: MemoryNetwork;
  readonly clock: ManualClock;
  readonly engines: Map<string, Engine>;
  readonly stores: Map<string, BlockStore>;
  /** Each engine's lane permits (when started with `lanes`). */
  readonly permits: Map<string, LanePermits>;
  engine(id: string): Engine;
  /** Creates an image of `blocks` blocks at `locations`. */
  createImage(name: string, blocks: number, locations: string[]): Promise<void>;
  /** Replaces engine `id` by a new one on the same store (a restart), with `bootId`. */
  restart(id: string, bootId: string): Promise<Engine>;
  /** Every in-sync copy of every block, read from the stores, must be identical. */
  expectCopiesIdentical(name: string): void;
  close(): Promise<void>;
}

/** Starts engines `ids` (each with a store under a fresh temp folder). */
export async function startNodes(
  ids: string[],
  settings: Partial<EngineSettings> = {},
  options: {
    lanes?: boolean;
    openFilesMax?: number;
    syncFile?: (fd: number) => Promise<void>;
  } = {},
): Promise<TestNodes> {
  const root = await Deno.makeTempDir({ prefix: "ukai-engine-" });
  const meta = new MemoryMetaStore();
  const network = new MemoryNetwork();
  const clock = new ManualClock(1_000_000);
  const engines = new Map<string, Engine>();
  const stores = new Map<string, BlockStore>();
  const permits = new Map<string, LanePermits>();
  for (const id of ids) {
    await meta.propose({ type: "node.add", id, address: "127.0.0.1:1", zone: "z", role: "voter" });
  }
  const makeEngine = async (
    id: string,
    store: BlockStore,
    transport: MemoryTransport,
    bootId: string,
  ) => {
    const engine = new Engine({
      nodeId: id,
      meta,
      store,
      transport,
      clock,
      logger: silentLogger,
      sleep: () => new Promise((resolve) => setTimeout(resolve, 1)),
      settings: { activityIdleMs: 0, flushIntervalMs: 0, bootId, ...settings },
      lanePermits: permits.get(id),
    });
    await engine.start();
    await engine.recovered();
    engines.set(id, engine);
    return engine;
  };
  for (const id of ids) {
    const store = await BlockStore.open({
      root: `${root}/${id}`,
      logger: silentLogger,
      ...(options.openFilesMax === undefined ? {} : { openFilesMax: options.openFilesMax }),
      ...(options.syncFile === undefined ? {} : { syncFile: options.syncFile }),
    });
    stores.set(id, store);
    if (options.lanes === true) permits.set(id, new LanePermits());
    await makeEngine(id, store, network.join(id), "boot-1");
  }
  const nodes: TestNodes = {
    meta,
    network,
    clock,
    engines,
    stores,
    permits,
    engine: (id) => engines.get(id) as Engine,
    async restart(id, bootId) {
      await engines.get(id)?.stop();
      return await makeEngine(id, stores.get(id) as BlockStore, network.rejoin(id), bootId);
    },
    async createImage(name, blocks, locations) {
      await meta.propose({
        type: "image.create",
        name,
        size: blocks * BLOCK,
        blockSize: BLOCK,
        locations,
        hypervisors: [],
        createdAtMs: 0,
      });
    },
    expectCopiesIdentical(name) {
      const image = meta.state().image(name);
      for (let block = 0; block < image.blockCount; block++) {
        let reference: Uint8Array | null = null;
        let referenceNode = "";
        for (const node of image.locationNodes()) {
          if (image.statusOf(node, block) !== BlockStatus.inSync) continue;
          const store = stores.get(node) as BlockStore;
          const copy = new Uint8Array(BLOCK);
          store.image(imageStoreKey(name, image.uid), BLOCK).read(block, 0, copy);
          if (reference === null) {
            reference = copy;
            referenceNode = node;
          } else if (!copy.every((byte, i) => byte === reference![i])) {
            throw new Error(
              `block ${block}: in-sync copies at ${referenceNode} and ${node} differ`,
            );
          }
        }
      }
    },
    async close() {
      for (const engine of engines.values()) await engine.stop().catch(() => undefined);
      for (const store of stores.values()) await store.close();
      await Deno.remove(root, { recursive: true });
    },
  };
  return nodes;
}

/**
 * Reads `[offset, offset + target.length)` of `name` through `engine` into
 * `target` (up to the visible size), handing the pieces back as the FUSE read does.
 */
export async function readInto(
  engine: Engine,
  name: string,
  offset: number,
  target: Uint8Array,
): Promise<void> {
  const pieces = await engine.readPieces(name, offset, target.length);
  copyParts(pieces, target);
  engine.releasePieces(pieces);
}

/** Seeded pseudo-random bytes, so a test can compute what it wrote. */
export function pattern(seed: number, length: number): Uint8Array<ArrayBuffer> {
  return new Rng(seed).fill(new Uint8Array(length)) as Uint8Array<ArrayBuffer>;
}

/** Waits for `condition`, running every engine's background tick in between. */
export async function tickUntil(
  nodes: TestNodes,
  condition: () => boolean,
  what: string,
  roundsMax = 500,
): Promise<void> {
  for (let round = 0; round < roundsMax; round++) {
    if (condition()) return;
    nodes.clock.advance(1000);
    for (const engine of nodes.engines.values()) await engine.tick();
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`Timed out waiting for ${what}`);
}
