/**
 * Checks data the way the design rules state it: a writer puts seeded
 * patterns into distinct slots of an image through a mount and records which
 * writes were acknowledged; afterwards every acknowledged slot must read back
 * exactly (through any mount), and every block's in-sync copies must be
 * byte-identical on disk across nodes.
 *
 * @module
 */

import { Rng } from "../../base/rng.ts";
import type { ImageView } from "../../meta/mod.ts";
import type { ProcessCluster } from "./processes.ts";

/** The pattern of write number `sequence` (length `length`). */
export function slotPattern(seed: number, sequence: number, length: number): Uint8Array {
  return new Rng(seed * 1_000_003 + sequence).fill(new Uint8Array(length));
}

/** Writes patterns into slots and remembers what was acknowledged. */
export class SlotWriter {
  /** Last acknowledged sequence per slot. */
  readonly acknowledged = new Map<number, number>();
  failures = 0;
  /** The last failure, for assertion messages. */
  lastError: unknown = null;
  #sequence = 0;
  #running = false;
  #done: Promise<void> = Promise.resolve();

  constructor(
    readonly seed: number,
    readonly slotBytes: number,
    readonly slotCount: number,
  ) {}

  /** Files kept open per path, as a VM keeps its disk open. */
  readonly #files = new Map<string, Deno.FsFile>();

  /** Writes once to `slot` through the file at `path`; true when acknowledged. */
  async writeSlot(path: string, slot: number): Promise<boolean> {
    const sequence = ++this.#sequence;
    const data = slotPattern(this.seed, sequence, this.slotBytes);
    try {
      let file = this.#files.get(path);
      if (file === undefined) {
        file = await Deno.open(path, { read: true, write: true });
        this.#files.set(path, file);
      }
      await file.seek(slot * this.slotBytes, Deno.SeekMode.Start);
      let written = 0;
      while (written < data.length) written += await file.write(data.subarray(written));
      this.acknowledged.set(slot, sequence);
      return true;
    } catch (error) {
      this.failures++;
      this.lastError = error;
      this.#closeFile(path);
      // The slot's content is now unknown (old or new data): stop checking it.
      this.acknowledged.delete(slot);
      return false;
    }
  }

  #closeFile(path: string): void {
    const file = this.#files.get(path);
    this.#files.delete(path);
    try {
      file?.close();
    } catch {
      // a dead mount
    }
  }

  /** Closes every file the writer holds open (the VM shuts down). */
  closeAll(): void {
    for (const path of [...this.#files.keys()]) this.#closeFile(path);
  }

  /** Keeps writing slots in turn through `path()` (which may change) until `stop`. */
  start(path: () => string): void {
    this.#running = true;
    this.#done = (async () => {
      for (let slot = 0; this.#running; slot = (slot + 1) % this.slotCount) {
        await this.writeSlot(path(), slot);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
  }

  /** Stops the storm after the write in progress. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }

  /** Stops and closes the files. */
  async finish(): Promise<void> {
    await this.stop();
    this.closeAll();
  }

  /** Acknowledged writes so far. */
  get acknowledgedCount(): number {
    return this.acknowledged.size;
  }

  /** Every acknowledged slot must read back exactly through `path`; returns the mismatches. */
  async mismatches(path: string): Promise<string[]> {
    const image = await Deno.readFile(path);
    const wrong: string[] = [];
    for (const [slot, sequence] of this.acknowledged) {
      const expected = slotPattern(this.seed, sequence, this.slotBytes);
      const actual = image.subarray(slot * this.slotBytes, (slot + 1) * this.slotBytes);
      if (!expected.every((byte, i) => byte === actual[i])) {
        wrong.push(`slot ${slot} (write ${sequence})`);
      }
    }
    return wrong;
  }
}

function blockFile(cluster: ProcessCluster, node: string, view: ImageView, block: number): string {
  return `${cluster.node(node).data}/images/${view.name}.${view.uid}/${
    String(block).padStart(8, "0")
  }`;
}

async function readCopy(path: string, blockSize: number): Promise<Uint8Array> {
  try {
    const bytes = await Deno.readFile(path);
    if (bytes.length !== blockSize) {
      throw new Error(`${path} has ${bytes.length} bytes, not ${blockSize}`);
    }
    return bytes;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return new Uint8Array(blockSize);
    throw error;
  }
}

/** Blocks whose in-sync copies differ on disk (after the nodes flushed). */
export async function divergentBlocks(cluster: ProcessCluster, view: ImageView): Promise<string[]> {
  const divergent: string[] = [];
  for (let block = 0; block < view.blockCount; block++) {
    const holders = view.locations.filter((location) =>
      location.ranges.some((range) =>
        range.state === "inSync" && range.start <= block && block < range.end
      )
    ).map((location) => location.node);
    if (holders.length < 2) continue;
    const first = await readCopy(
      blockFile(cluster, holders[0] as string, view, block),
      view.blockSize,
    );
    for (const node of holders.slice(1)) {
      const other = await readCopy(blockFile(cluster, node, view, block), view.blockSize);
      if (!first.every((byte, i) => byte === other[i])) {
        divergent.push(`block ${block}: ${holders[0]} != ${node}`);
      }
    }
  }
  return divergent;
}

/** Block files present on `node` for `view`, as sorted block indexes. */
export async function blockFilesOn(
  cluster: ProcessCluster,
  node: string,
  view: ImageView,
): Promise<number[]> {
  const folder = `${cluster.node(node).data}/images/${view.name}.${view.uid}`;
  const blocks: number[] = [];
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (/^\d{8}$/.test(entry.name)) blocks.push(Number(entry.name));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return blocks.sort((a, b) => a - b);
}
