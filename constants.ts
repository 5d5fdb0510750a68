/**
 * Every product limit in one place, with the relationships between them
 * asserted when the module loads (a broken relationship is a bug, caught at
 * start rather than under load).
 *
 * @module
 */

import { assert } from "./base/assert.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const TiB = 1024 * 1024 * MiB;

/** Smallest block an image may use. */
export const BLOCK_SIZE_MIN = 64 * KiB;
/** Largest block an image may use. */
export const BLOCK_SIZE_MAX = 64 * MiB;
/** Block size when none is given (as in the original UKAI's 4 MiB default). */
export const BLOCK_SIZE_DEFAULT = 4 * MiB;
/** Image sizes are whole sectors. */
export const SECTOR_SIZE = 512;
/** Largest image (1 PiB). */
export const IMAGE_SIZE_MAX = 1024 * TiB;
/** Most blocks in one image: keeps per-image status arrays bounded (16M bytes each). */
export const BLOCKS_PER_IMAGE_MAX = 16 * 1024 * 1024;
/** Most locations (copies) of one block. */
export const LOCATIONS_PER_IMAGE_MAX = 16;
/** Most nodes in a cluster. */
export const NODES_MAX = 64;
/** Most images in a cluster. */
export const IMAGES_MAX = 100_000;
/** Longest image name. */
export const IMAGE_NAME_LENGTH_MAX = 128;
/** Longest node id. */
export const NODE_ID_LENGTH_MAX = 63;

/** Largest frame body on the peer transport. */
export const MESSAGE_SIZE_MAX = 128 * MiB;
/** Largest FUSE read or write the mount negotiates. */
export const FUSE_IO_SIZE_MAX = 1 * MiB;

assert(BLOCK_SIZE_MIN <= BLOCK_SIZE_DEFAULT && BLOCK_SIZE_DEFAULT <= BLOCK_SIZE_MAX);
// A whole block must fit in one frame with room for its header (resync moves whole blocks).
assert(BLOCK_SIZE_MAX + 64 * KiB <= MESSAGE_SIZE_MAX);
// Block sizes are powers of two and whole sectors, so sector I/O never straddles blocks oddly.
assert(BLOCK_SIZE_MIN % SECTOR_SIZE === 0);
// The largest image at the smallest block fits the per-image block limit at the default block.
assert(IMAGE_SIZE_MAX / BLOCK_SIZE_DEFAULT <= BLOCKS_PER_IMAGE_MAX * 16);
