/**
 * The verdict on a replicated write once every copy has answered (design
 * rule 1): which copies must be marked out of sync before the write may be
 * acknowledged, and whether it must fail instead.
 *
 * - A copy that refused for a stale epoch means this node no longer owns the
 *   image: the write fails and nothing is marked (such marks would be refused).
 * - A segment that no copy took fails the write (EIO), but the copies that
 *   missed other segments are still marked, so in-sync copies stay identical.
 * - Otherwise every copy that failed is marked out of sync, then the write is
 *   acknowledged.
 *
 * @module
 */

import { type ErrorCode, UkaiError } from "../base/errors.ts";

/** How one copy answered one segment. */
export interface CopyAnswer {
  readonly node: string;
  /** null when the copy took the write. */
  readonly error: unknown;
}

/** All answers for one block segment of a write. */
export interface SegmentAnswers {
  readonly block: number;
  readonly answers: readonly CopyAnswer[];
}

/** Blocks to mark out of sync, by node. */
export type OutOfSyncMarks = Map<string, Set<number>>;

/** What to do with a write. */
export type WriteVerdict =
  | { readonly kind: "ack"; readonly marks: OutOfSyncMarks }
  | {
    readonly kind: "fail";
    readonly code: ErrorCode;
    readonly message: string;
    readonly marks: OutOfSyncMarks;
  };

function isStaleEpoch(error: unknown): boolean {
  return error instanceof UkaiError && error.code === "STALE_EPOCH";
}

/**
 * Judges a write from its per-segment answers.
 *
 * @example
 * ```ts
 * import { judgeWrite } from "./write_outcome.ts";
 * const verdict = judgeWrite([{ block: 0, answers: [{ node: "a", error: null }, { node: "b", error: new Error("down") }] }]);
 * if (verdict.kind !== "ack" || !verdict.marks.get("b")?.has(0)) throw new Error();
 * ```
 */
export function judgeWrite(segments: readonly SegmentAnswers[]): WriteVerdict {
  const marks: OutOfSyncMarks = new Map();
  let missingBlock: number | undefined;
  for (const segment of segments) {
    if (segment.answers.some((answer) => isStaleEpoch(answer.error))) {
      return {
        kind: "fail",
        code: "STALE_EPOCH",
        message: `Block ${segment.block} refused the write: another node owns the image now`,
        marks: new Map(),
      };
    }
    const took = segment.answers.filter((answer) => answer.error === null);
    if (took.length === 0) {
      missingBlock ??= segment.block;
      continue;
    }
    for (const answer of segment.answers) {
      if (answer.error === null) continue;
      const blocks = marks.get(answer.node) ?? new Set<number>();
      blocks.add(segment.block);
      marks.set(answer.node, blocks);
    }
  }
  if (missingBlock !== undefined) {
    return {
      kind: "fail",
      code: "NO_IN_SYNC_LOCATION",
      message: `No copy of block ${missingBlock} took the write`,
      marks,
    };
  }
  return { kind: "ack", marks };
}
