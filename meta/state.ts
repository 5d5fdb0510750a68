/**
 * The metadata state: nodes and images, plus the bounded memory of recent
 * request ids that makes retried commands idempotent. The command handlers in
 * `apply_*.ts` change it; `state_machine.ts` dispatches to them.
 *
 * @module
 */

import type { ErrorCode } from "../base/errors.ts";
import { UkaiError } from "../base/errors.ts";
import type { NodeRole } from "./commands.ts";
import type { ImageRecord } from "./image.ts";

/** A member of the cluster. */
export interface NodeRecord {
  readonly id: string;
  address: string;
  zone: string;
  role: NodeRole;
}

/** What applying a command produced: a value, or a refusal that changed nothing. */
export type ApplyResult =
  | { readonly ok: true; readonly value: Readonly<Record<string, unknown>> }
  | {
    readonly ok: false;
    readonly code: ErrorCode;
    readonly message: string;
    readonly details?: Readonly<Record<string, unknown>>;
  };

/** How many request ids (and their results) are remembered for idempotent retries. */
export const REQUEST_RESULTS_MAX = 4096;

/** Nodes, images and the recent-request memory. */
export class MetaState {
  readonly nodes = new Map<string, NodeRecord>();
  readonly images = new Map<string, ImageRecord>();
  /** The uid the next created image gets; uids are never reused. */
  nextImageUid = 1;
  /** Results of recent commands by request id, oldest first. */
  readonly recentResults = new Map<string, ApplyResult>();

  /** The image called `name`, or IMAGE_NOT_FOUND. */
  image(name: string): ImageRecord {
    const image = this.images.get(name);
    if (image === undefined) {
      throw new UkaiError("IMAGE_NOT_FOUND", `Image "${name}" does not exist`);
    }
    return image;
  }

  /** The node `id`, or NODE_NOT_FOUND. */
  node(id: string): NodeRecord {
    const node = this.nodes.get(id);
    if (node === undefined) throw new UkaiError("NODE_NOT_FOUND", `Node "${id}" is not a member`);
    return node;
  }

  /** Remembers the result of `requestId`, forgetting the oldest past the bound. */
  rememberResult(requestId: string, result: ApplyResult): void {
    this.recentResults.delete(requestId);
    this.recentResults.set(requestId, result);
    if (this.recentResults.size > REQUEST_RESULTS_MAX) {
      const oldest = this.recentResults.keys().next().value as string;
      this.recentResults.delete(oldest);
    }
  }
}
