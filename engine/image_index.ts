/**
 * Finds an image by uid in the local metadata view. Block requests name
 * images by uid (a re-created image has a new one), so the block server needs
 * this on every request: a map kept current lazily — a miss rebuilds it from
 * the view, which also covers snapshot restores.
 *
 * @module
 */

import type { ImageRecord, MetaStore } from "../meta/mod.ts";

/** uid → image over a MetaStore's local view. */
export class ImageIndex {
  readonly #meta: MetaStore;
  #nameByUid = new Map<number, string>();

  constructor(meta: MetaStore) {
    this.#meta = meta;
  }

  /** The image with `uid`, or undefined when the local view has none. */
  byUid(uid: number): ImageRecord | undefined {
    const found = this.#lookup(uid);
    if (found !== undefined) return found;
    this.#rebuild();
    return this.#lookup(uid);
  }

  #lookup(uid: number): ImageRecord | undefined {
    const name = this.#nameByUid.get(uid);
    if (name === undefined) return undefined;
    const image = this.#meta.state().images.get(name);
    return image?.uid === uid ? image : undefined;
  }

  #rebuild(): void {
    const index = new Map<number, string>();
    for (const image of this.#meta.state().images.values()) index.set(image.uid, image.name);
    this.#nameByUid = index;
  }
}
