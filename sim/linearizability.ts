/**
 * A linearizability checker for the key-value history, after Wing & Gong
 * (1993) with Lowe's memoisation (2017), in the form popularised by Porcupine.
 *
 * Linearizability is compositional (Herlihy & Wing), and every operation
 * touches one key, so each key's sub-history is checked on its own against a
 * one-register model with `put`, `get` and compare-and-set. The search walks
 * the history as a list of call and return events in time order; at a call
 * it tries to linearize that operation now (if the model allows its output),
 * at a return whose call is not yet linearized it backtracks. A cache of
 * (set of linearized operations, register value) pairs already explored makes
 * it fast in practice.
 *
 * Indeterminate operations (no completion) return "at infinity": they may
 * take effect anywhere after their invocation, or (at the end) never; their
 * output is unknown, so any output the model produces is accepted. An
 * indeterminate `get` constrains nothing and is left out. Events at equal
 * times are ordered calls first, so operations that touch in time count as
 * concurrent (never a false alarm).
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import type { Operation, OperationInput, OperationOutput } from "./history.ts";

/** Default bound on search steps per key (beyond it the result is inconclusive). */
export const SEARCH_STEPS_MAX = 5_000_000;

/** The verdict on a history. */
export type LinearizabilityResult =
  | { kind: "linearizable"; steps: number }
  | { kind: "violation"; key: string; message: string }
  | { kind: "inconclusive"; key: string; steps: number };

type Register = string | null;

interface ListEntry {
  /** Index into the key's operation array; -1 for the head sentinel. */
  operation: number;
  isCall: boolean;
  /** For a call: its return entry. */
  match: ListEntry | undefined;
  previous: ListEntry | undefined;
  next: ListEntry | undefined;
}

/**
 * Checks that `operations` is linearizable for a map of registers that all
 * start at null.
 *
 * @example
 * ```ts
 * import { checkLinearizability } from "./linearizability.ts";
 * const result = checkLinearizability([
 *   { id: 0, client: 1, input: { op: "put", key: "k", value: "a" },
 *     invokeMs: 0, completeMs: 1, output: { op: "put" } },
 *   { id: 1, client: 2, input: { op: "get", key: "k" },
 *     invokeMs: 2, completeMs: 3, output: { op: "get", value: null } },
 * ]);
 * if (result.kind !== "violation") throw new Error("a stale read was accepted");
 * ```
 */
export function checkLinearizability(
  operations: readonly Operation[],
  stepsMax = SEARCH_STEPS_MAX,
): LinearizabilityResult {
  const byKey = new Map<string, Operation[]>();
  for (const operation of operations) {
    if (operation.input.op === "get" && operation.output === undefined) continue;
    const list = byKey.get(operation.input.key) ?? [];
    list.push(operation);
    byKey.set(operation.input.key, list);
  }
  let steps = 0;
  for (const key of [...byKey.keys()].sort()) {
    const result = checkRegister(key, byKey.get(key)!, stepsMax);
    if (result.kind !== "linearizable") return result;
    steps += result.steps;
  }
  return { kind: "linearizable", steps };
}

/** The register model: may `input` return `output` from `state`, and what state follows? */
function step(
  state: Register,
  input: OperationInput,
  output: OperationOutput | undefined,
): { ok: boolean; next: Register } {
  switch (input.op) {
    case "put":
      return { ok: true, next: input.value };
    case "get":
      return { ok: output?.op === "get" && output.value === state, next: state };
    case "cas": {
      const swapped = state === input.expected;
      const ok = output === undefined || (output.op === "cas" && output.swapped === swapped);
      return { ok, next: swapped ? input.value : state };
    }
  }
}

function checkRegister(
  key: string,
  operations: readonly Operation[],
  stepsMax: number,
): LinearizabilityResult {
  const head = buildEventList(operations);
  const stack: { entry: ListEntry; state: Register }[] = [];
  const cache = new Set<string>();
  let linearized = 0n;
  let state: Register = null;
  let entry = head.next;
  let deepest = { depth: -1, blocked: -1 };
  for (let steps = 0; head.next !== undefined; steps++) {
    if (steps >= stepsMax) return { kind: "inconclusive", key, steps };
    assert(entry !== undefined, "linearizability: walked off the event list");
    const operation = operations[entry.operation]!;
    if (entry.isCall) {
      const { ok, next } = step(state, operation.input, operation.output);
      if (ok) {
        const withThis = linearized | (1n << BigInt(entry.operation));
        const cacheKey = `${withThis.toString(36)}|${next ?? "\u0000"}`;
        if (!cache.has(cacheKey)) {
          cache.add(cacheKey);
          stack.push({ entry, state });
          state = next;
          linearized = withThis;
          lift(entry);
          entry = head.next;
          continue;
        }
      }
      entry = entry.next;
      continue;
    }
    if (stack.length > deepest.depth) deepest = { depth: stack.length, blocked: entry.operation };
    const top = stack.pop();
    if (top === undefined) return violation(key, operations, deepest);
    entry = top.entry;
    state = top.state;
    linearized &= ~(1n << BigInt(entry.operation));
    unlift(entry);
    entry = entry.next;
  }
  return { kind: "linearizable", steps: cache.size };
}

/** The call and return events of `operations` as a list in time order, after a sentinel. */
function buildEventList(operations: readonly Operation[]): ListEntry {
  const events: { time: number; isCall: boolean; operation: number }[] = [];
  operations.forEach((operation, i) => {
    events.push({ time: operation.invokeMs, isCall: true, operation: i });
    events.push({ time: operation.completeMs ?? Infinity, isCall: false, operation: i });
  });
  events.sort((a, b) => {
    if (a.time !== b.time) return a.time - b.time;
    if (a.isCall !== b.isCall) return a.isCall ? -1 : 1;
    return a.operation - b.operation;
  });
  const head: ListEntry = {
    operation: -1,
    isCall: false,
    match: undefined,
    previous: undefined,
    next: undefined,
  };
  const calls = new Map<number, ListEntry>();
  let last = head;
  for (const event of events) {
    const entry: ListEntry = { ...event, match: undefined, previous: last, next: undefined };
    last.next = entry;
    last = entry;
    if (event.isCall) calls.set(event.operation, entry);
    else calls.get(event.operation)!.match = entry;
  }
  return head;
}

/** Takes a call and its return out of the list. */
function lift(call: ListEntry): void {
  call.previous!.next = call.next;
  if (call.next !== undefined) call.next.previous = call.previous;
  const ret = call.match!;
  ret.previous!.next = ret.next;
  if (ret.next !== undefined) ret.next.previous = ret.previous;
}

/** Puts back a call and its return taken out by {@link lift}. */
function unlift(call: ListEntry): void {
  const ret = call.match!;
  ret.previous!.next = ret;
  if (ret.next !== undefined) ret.next.previous = ret;
  call.previous!.next = call;
  if (call.next !== undefined) call.next.previous = call;
}

function violation(
  key: string,
  operations: readonly Operation[],
  deepest: { depth: number; blocked: number },
): LinearizabilityResult {
  const blocked = operations[deepest.blocked];
  const what = blocked === undefined ? "?" : describeOperation(blocked);
  return {
    kind: "violation",
    key,
    message: `key ${key}: no linearization of ${operations.length} operations; ` +
      `the longest linearizable prefix (${deepest.depth} operations) cannot take ${what}`,
  };
}

/** A one-line description of an operation. */
export function describeOperation(operation: Operation): string {
  const input = operation.input;
  let text = `#${operation.id} c${operation.client} ${input.op}(${input.key}`;
  if (input.op === "cas") text += `, ${JSON.stringify(input.expected)}`;
  if (input.op !== "get") text += `, ${JSON.stringify(input.value)}`;
  text += `) [${operation.invokeMs}, ${operation.completeMs ?? "∞"}]`;
  const output = operation.output;
  if (output === undefined) return `${text} -> ?`;
  if (output.op === "get") return `${text} -> ${JSON.stringify(output.value)}`;
  if (output.op === "cas") return `${text} -> ${output.swapped ? "swapped" : "not swapped"}`;
  return `${text} -> ok`;
}
