/**
 * The client history: every operation with its invocation time and, when the
 * client heard back, its completion time and output. An operation without a
 * completion is *indeterminate*: the client gave up, so it may have taken
 * effect at any point after its invocation, or never.
 *
 * @module
 */

import { assert } from "../base/assert.ts";

/** What a client asked for. */
export type OperationInput =
  | { op: "put"; key: string; value: string }
  | { op: "get"; key: string }
  | { op: "cas"; key: string; expected: string | null; value: string };

/** What the client was told. */
export type OperationOutput =
  | { op: "put" }
  | { op: "get"; value: string | null }
  | { op: "cas"; swapped: boolean };

/** One operation of the history. */
export interface Operation {
  id: number;
  client: number;
  input: OperationInput;
  invokeMs: number;
  /** Absent while pending or when indeterminate. */
  completeMs?: number;
  output?: OperationOutput;
}

/** Most operations in one history (a bound, not a target). */
export const HISTORY_OPERATIONS_MAX = 10_000;

/**
 * An append-only history.
 *
 * @example
 * ```ts
 * import { History } from "./history.ts";
 * const history = new History();
 * const id = history.invoke(1, { op: "get", key: "k" }, 10);
 * history.complete(id, { op: "get", value: null }, 12);
 * if (history.operations()[0]!.completeMs !== 12) throw new Error("not recorded");
 * ```
 */
export class History {
  readonly #operations: Operation[] = [];

  /** Records an invocation; returns the operation id. */
  invoke(client: number, input: OperationInput, timeMs: number): number {
    assert(this.#operations.length < HISTORY_OPERATIONS_MAX, "history: too many operations");
    const id = this.#operations.length;
    this.#operations.push({ id, client, input, invokeMs: timeMs });
    return id;
  }

  /** Records the completion of operation `id`. */
  complete(id: number, output: OperationOutput, timeMs: number): void {
    const operation = this.#operations[id];
    assert(operation !== undefined, `history: no operation ${id}`);
    assert(operation.completeMs === undefined, `history: operation ${id} completed twice`);
    assert(
      output.op === operation.input.op,
      `history: output ${output.op} for ${operation.input.op}`,
    );
    assert(timeMs >= operation.invokeMs, "history: completion before invocation");
    operation.completeMs = timeMs;
    operation.output = output;
  }

  /** Every operation, in invocation order. */
  operations(): readonly Operation[] {
    return this.#operations;
  }

  /** Counts of completed and indeterminate operations. */
  counts(): { completed: number; indeterminate: number } {
    const completed = this.#operations.filter((operation) => operation.output !== undefined).length;
    return { completed, indeterminate: this.#operations.length - completed };
  }
}
