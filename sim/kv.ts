/**
 * The replicated state machine of the simulation: a small key-value map with
 * `put` and compare-and-set, made idempotent by client sessions (each client
 * numbers its requests; the state machine remembers the last request and its
 * result per client, so a retried command is answered, not applied twice, and
 * an older request arriving late is ignored).
 *
 * Commands travel as JSON in normal entries; the snapshot is the canonical
 * JSON of the map and the sessions. Everything is deterministic, and
 * `hash()` fingerprints the whole state for the state-machine checker.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { hashString } from "./hash.ts";

/** A write command. Values are unique per write, so reads identify writes. */
export type KvCommand =
  | { op: "put"; client: number; request: number; key: string; value: string }
  | {
    op: "cas";
    client: number;
    request: number;
    key: string;
    expected: string | null;
    value: string;
  };

/** What a write returned: `put` always succeeds, `cas` swaps or not. */
export type KvWriteResult = { op: "put" } | { op: "cas"; swapped: boolean };

/** The outcome of applying a command. */
export type KvApplyOutcome =
  | { kind: "applied"; result: KvWriteResult }
  | { kind: "duplicate"; result: KvWriteResult }
  | { kind: "stale" };

interface Session {
  request: number;
  result: KvWriteResult;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a command as entry data. */
export function encodeCommand(command: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(command));
}

/** Decodes entry data written by {@link encodeCommand}. */
export function decodeCommand(data: Uint8Array): KvCommand {
  const command = JSON.parse(decoder.decode(data)) as KvCommand;
  assert(command.op === "put" || command.op === "cas", "kv: unknown command");
  assert(Number.isSafeInteger(command.client) && Number.isSafeInteger(command.request), "kv: ids");
  return command;
}

/**
 * The key-value state machine.
 *
 * @example
 * ```ts
 * import { KvStateMachine } from "./kv.ts";
 * const kv = new KvStateMachine();
 * kv.apply({ op: "put", client: 1, request: 1, key: "k", value: "v" });
 * const again = kv.apply({ op: "put", client: 1, request: 1, key: "k", value: "v" });
 * if (again.kind !== "duplicate" || kv.get("k") !== "v") throw new Error("not idempotent");
 * ```
 */
export class KvStateMachine {
  #values = new Map<string, string>();
  #sessions = new Map<number, Session>();

  /** The value of `key`, or null. */
  get(key: string): string | null {
    return this.#values.get(key) ?? null;
  }

  /** Applies `command` unless this client's session already saw it (or a later one). */
  apply(command: KvCommand): KvApplyOutcome {
    const session = this.#sessions.get(command.client);
    if (session !== undefined && command.request === session.request) {
      return { kind: "duplicate", result: session.result };
    }
    if (session !== undefined && command.request < session.request) return { kind: "stale" };
    let result: KvWriteResult;
    if (command.op === "put") {
      this.#values.set(command.key, command.value);
      result = { op: "put" };
    } else {
      const swapped = this.get(command.key) === command.expected;
      if (swapped) this.#values.set(command.key, command.value);
      result = { op: "cas", swapped };
    }
    this.#sessions.set(command.client, { request: command.request, result });
    return { kind: "applied", result };
  }

  /** The canonical encoding of the whole state (the snapshot data). */
  snapshot(): Uint8Array {
    return encoder.encode(this.#canonical());
  }

  /** A state machine restored from {@link KvStateMachine.snapshot} data (empty data = empty). */
  static restore(data: Uint8Array): KvStateMachine {
    const kv = new KvStateMachine();
    if (data.length === 0) return kv;
    const parsed = JSON.parse(decoder.decode(data)) as {
      values: [string, string][];
      sessions: [number, Session][];
    };
    kv.#values = new Map(parsed.values);
    kv.#sessions = new Map(parsed.sessions);
    return kv;
  }

  /** A fingerprint of the whole state. */
  hash(): number {
    return hashString(this.#canonical());
  }

  /** The map as sorted `[key, value]` pairs (for reports). */
  entries(): [string, string][] {
    return [...this.#values.entries()].sort(([a], [b]) => compareStrings(a, b));
  }

  #canonical(): string {
    const sessions = [...this.#sessions.entries()].sort(([a], [b]) => a - b);
    return JSON.stringify({ values: this.entries(), sessions });
  }
}

function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}
