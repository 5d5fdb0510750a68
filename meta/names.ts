/**
 * Validation of the identifiers that reach the metadata: image names and node
 * ids. They become folder names and appear in logs and URLs, so the character
 * set is closed: no path separators, no `..`, no leading dot, bounded length.
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import { IMAGE_NAME_LENGTH_MAX, NODE_ID_LENGTH_MAX } from "../constants.ts";

const IMAGE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Returns `name` if it is a valid image name, otherwise throws.
 *
 * @throws {UkaiError} INVALID_ARGUMENT naming the rule broken
 * @example
 * ```ts
 * import { checkImageName } from "./names.ts";
 * checkImageName("vm1-root.raw");
 * ```
 */
export function checkImageName(name: unknown): string {
  if (typeof name !== "string" || name.length === 0) {
    throw new UkaiError("INVALID_ARGUMENT", "Image name must be a non-empty string");
  }
  if (name.length > IMAGE_NAME_LENGTH_MAX) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Image name "${name.slice(0, 32)}…" is too long: at most ${IMAGE_NAME_LENGTH_MAX} characters`,
    );
  }
  if (!IMAGE_NAME_PATTERN.test(name)) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Image name ${
        JSON.stringify(name)
      } is not allowed: use letters, digits, '.', '_' and '-', starting with a letter or digit`,
    );
  }
  return name;
}

/**
 * Returns `id` if it is a valid node id, otherwise throws.
 *
 * @throws {UkaiError} INVALID_ARGUMENT naming the rule broken
 */
export function checkNodeId(id: unknown): string {
  if (typeof id !== "string" || id.length === 0) {
    throw new UkaiError("INVALID_ARGUMENT", "Node id must be a non-empty string");
  }
  if (id.length > NODE_ID_LENGTH_MAX || !NODE_ID_PATTERN.test(id)) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Node id ${
        JSON.stringify(id)
      } is not allowed: up to ${NODE_ID_LENGTH_MAX} letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return id;
}

/**
 * Returns `address` if it is `host:port` with a port in 1-65535, otherwise throws.
 *
 * @throws {UkaiError} INVALID_ARGUMENT
 */
export function checkAddress(address: unknown, what = "address"): string {
  if (typeof address !== "string") {
    throw new UkaiError("INVALID_ARGUMENT", `The ${what} must be a string HOST:PORT`);
  }
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(address);
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `The ${what} ${JSON.stringify(address)} is not HOST:PORT with a port in 1-65535`,
    );
  }
  return address;
}

/** The folder name of an image's block files on a node: its name and uid, never reused. */
export function imageStoreKey(name: string, uid: number): string {
  return `${name}.${uid}`;
}
