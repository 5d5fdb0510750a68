/**
 * Turns the metadata's out-of-sync counts into resync rates and ETAs: it
 * samples each image's count every second and keeps a short window, so
 * `ukai status` can say how fast a resync goes and when it will end.
 *
 * @module
 */

import type { MetaState } from "../meta/mod.ts";
import type { ResyncView } from "./api_types.ts";

/** Samples kept per image (one per second: a 30 s window). */
const SAMPLES_MAX = 30;

/** Per-image sample windows of out-of-sync counts. */
export class ProgressSampler {
  readonly #samples = new Map<string, { atMs: number; outOfSync: number }[]>();

  /** Takes one sample of every image. */
  sample(state: MetaState, nowMs: number): void {
    for (const name of this.#samples.keys()) {
      if (!state.images.has(name)) this.#samples.delete(name);
    }
    for (const image of state.images.values()) {
      const samples = this.#samples.get(image.name) ?? [];
      samples.push({ atMs: nowMs, outOfSync: image.outOfSyncTotal() });
      if (samples.length > SAMPLES_MAX) samples.shift();
      this.#samples.set(image.name, samples);
    }
  }

  /** The resyncs with work left. */
  resyncs(state: MetaState): ResyncView[] {
    const result: ResyncView[] = [];
    for (const image of state.images.values()) {
      const outOfSync = image.outOfSyncTotal();
      if (outOfSync === 0) continue;
      const samples = this.#samples.get(image.name) ?? [];
      const first = samples[0];
      const last = samples[samples.length - 1];
      let blocksPerSecond = 0;
      if (first !== undefined && last !== undefined && last.atMs > first.atMs) {
        blocksPerSecond = Math.max(
          0,
          (first.outOfSync - last.outOfSync) / ((last.atMs - first.atMs) / 1000),
        );
      }
      result.push({
        image: image.name,
        outOfSyncBlocks: outOfSync,
        blocksPerSecond,
        bytesPerSecond: blocksPerSecond * image.blockSize,
        etaSeconds: blocksPerSecond > 0 ? Math.ceil(outOfSync / blocksPerSecond) : null,
      });
    }
    return result.sort((a, b) => a.image.localeCompare(b.image));
  }
}
