/**
 * The metadata commands: small, validated changes that the Raft state machine
 * applies (design rule 6 — no document rewrites). `parseCommand` is the
 * gateway: everything that arrives as JSON (control API, log entries) passes
 * through it and comes out as a typed `Command` or a clear INVALID_ARGUMENT.
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import type { BlockRange } from "./block_ranges.ts";
import { checkAddress, checkImageName, checkNodeId } from "./names.ts";

/** Role of a node in the Raft group. */
export type NodeRole = "voter" | "learner";

/** Fields every command may carry. */
export interface CommandBase {
  /** Client-chosen id; a retried command with the same id returns the first result. */
  readonly requestId?: string;
}

/** A status change of block ranges at one location. */
export interface BlockMark {
  readonly node: string;
  readonly ranges: readonly BlockRange[];
  readonly status: "inSync" | "outOfSync";
}

/** Every metadata command. */
export type Command =
  & CommandBase
  & (
    | { type: "node.add"; id: string; address: string; zone: string; role: NodeRole }
    | { type: "node.update"; id: string; address?: string; zone?: string; role?: NodeRole }
    | { type: "node.remove"; id: string; force: boolean }
    | { type: "node.closeAll"; node: string }
    | {
      type: "image.create";
      name: string;
      size: number;
      blockSize: number;
      locations: readonly string[];
      hypervisors: readonly string[];
      createdAtMs: number;
    }
    | { type: "image.remove"; name: string; force: boolean }
    | { type: "image.resize"; name: string; size: number; epoch: number }
    | { type: "image.setResyncRate"; name: string; bytesPerSecond: number }
    | { type: "image.open"; name: string; node: string }
    | { type: "image.close"; name: string; node: string }
    | { type: "hypervisor.add"; name: string; node: string }
    | { type: "hypervisor.remove"; name: string; node: string }
    | { type: "location.add"; name: string; node: string; range?: BlockRange }
    | { type: "location.remove"; name: string; node: string; range?: BlockRange }
    | {
      type: "owner.take";
      name: string;
      node: string;
      kind: "io" | "resync";
      expectedEpoch: number;
    }
    | { type: "owner.release"; name: string; node: string; epoch: number }
    | {
      type: "blocks.mark";
      name: string;
      epoch: number;
      marks: readonly BlockMark[];
      retireActivity: readonly number[];
    }
    | { type: "activity.add"; name: string; epoch: number; blocks: readonly number[] }
    | { type: "activity.retire"; name: string; epoch: number; blocks: readonly number[] }
    | { type: "move.start"; name: string; from: string; to: string; startedAtMs: number }
    | { type: "move.finish"; name: string }
    | { type: "move.cancel"; name: string }
  );

/** The `type` of a command. */
export type CommandType = Command["type"];

type Fields = Record<string, unknown>;

function fail(message: string): never {
  throw new UkaiError("INVALID_ARGUMENT", message);
}

function integer(fields: Fields, key: string, min = 0): number {
  const value = fields[key];
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    fail(`Field "${key}" must be an integer ≥ ${min}: got ${JSON.stringify(value)}`);
  }
  return value;
}

function text(fields: Fields, key: string, maxLength = 256): string {
  const value = fields[key];
  if (typeof value !== "string" || value.length > maxLength) {
    fail(`Field "${key}" must be a string of at most ${maxLength} characters`);
  }
  return value;
}

function flag(fields: Fields, key: string): boolean {
  const value = fields[key] ?? false;
  if (typeof value !== "boolean") fail(`Field "${key}" must be true or false`);
  return value;
}

function list<T>(fields: Fields, key: string, item: (value: unknown) => T, max: number): T[] {
  const value = fields[key] ?? [];
  if (!Array.isArray(value) || value.length > max) {
    fail(`Field "${key}" must be a list of at most ${max} items`);
  }
  return value.map(item);
}

function blockIndex(value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    fail(`Block index must be a non-negative integer: got ${JSON.stringify(value)}`);
  }
  return value;
}

function range(value: unknown): BlockRange {
  if (
    !Array.isArray(value) || value.length !== 2 ||
    !value.every((part) => typeof part === "number" && Number.isSafeInteger(part) && part >= 0) ||
    value[0] >= value[1]
  ) {
    fail(`Block range must be [start, end) with start < end: got ${JSON.stringify(value)}`);
  }
  return { start: value[0], end: value[1] };
}

function optionalRange(fields: Fields): { range?: BlockRange } {
  return fields.range === undefined || fields.range === null ? {} : { range: range(fields.range) };
}

function role(value: unknown): NodeRole {
  if (value !== "voter" && value !== "learner") fail(`Role must be "voter" or "learner"`);
  return value;
}

function mark(value: unknown): BlockMark {
  if (typeof value !== "object" || value === null) fail("Each mark must be an object");
  const fields = value as Fields;
  const status = fields.status;
  if (status !== "inSync" && status !== "outOfSync") {
    fail(`Mark status must be "inSync" or "outOfSync"`);
  }
  return {
    node: checkNodeId(fields.node),
    ranges: list(fields, "ranges", range, 100_000),
    status,
  };
}

const PARSERS: { [K in CommandType]: (fields: Fields) => Extract<Command, { type: K }> } = {
  "node.add": (f) => ({
    type: "node.add",
    id: checkNodeId(f.id),
    address: checkAddress(f.address),
    zone: text(f, "zone", 64),
    role: role(f.role),
  }),
  "node.update": (f) => ({
    type: "node.update",
    id: checkNodeId(f.id),
    ...(f.address === undefined ? {} : { address: checkAddress(f.address) }),
    ...(f.zone === undefined ? {} : { zone: text(f, "zone", 64) }),
    ...(f.role === undefined ? {} : { role: role(f.role) }),
  }),
  "node.remove": (f) => ({ type: "node.remove", id: checkNodeId(f.id), force: flag(f, "force") }),
  "node.closeAll": (f) => ({ type: "node.closeAll", node: checkNodeId(f.node) }),
  "image.create": (f) => ({
    type: "image.create",
    name: checkImageName(f.name),
    size: integer(f, "size", 1),
    blockSize: integer(f, "blockSize", 1),
    locations: list(f, "locations", checkNodeId, 64),
    hypervisors: list(f, "hypervisors", checkNodeId, 64),
    createdAtMs: integer(f, "createdAtMs"),
  }),
  "image.remove": (f) => ({
    type: "image.remove",
    name: checkImageName(f.name),
    force: flag(f, "force"),
  }),
  "image.resize": (f) => ({
    type: "image.resize",
    name: checkImageName(f.name),
    size: integer(f, "size"),
    epoch: integer(f, "epoch"),
  }),
  "image.setResyncRate": (f) => ({
    type: "image.setResyncRate",
    name: checkImageName(f.name),
    bytesPerSecond: integer(f, "bytesPerSecond"),
  }),
  "image.open": (f) => ({
    type: "image.open",
    name: checkImageName(f.name),
    node: checkNodeId(f.node),
  }),
  "image.close": (f) => ({
    type: "image.close",
    name: checkImageName(f.name),
    node: checkNodeId(f.node),
  }),
  "hypervisor.add": (f) => ({
    type: "hypervisor.add",
    name: checkImageName(f.name),
    node: checkNodeId(f.node),
  }),
  "hypervisor.remove": (f) => ({
    type: "hypervisor.remove",
    name: checkImageName(f.name),
    node: checkNodeId(f.node),
  }),
  "location.add": (f) => ({
    type: "location.add",
    name: checkImageName(f.name),
    node: checkNodeId(f.node),
    ...optionalRange(f),
  }),
  "location.remove": (f) => ({
    type: "location.remove",
    name: checkImageName(f.name),
    node: checkNodeId(f.node),
    ...optionalRange(f),
  }),
  "owner.take": (f) => {
    if (f.kind !== "io" && f.kind !== "resync") fail(`Owner kind must be "io" or "resync"`);
    return {
      type: "owner.take",
      name: checkImageName(f.name),
      node: checkNodeId(f.node),
      kind: f.kind,
      expectedEpoch: integer(f, "expectedEpoch"),
    };
  },
  "owner.release": (f) => ({
    type: "owner.release",
    name: checkImageName(f.name),
    node: checkNodeId(f.node),
    epoch: integer(f, "epoch"),
  }),
  "blocks.mark": (f) => ({
    type: "blocks.mark",
    name: checkImageName(f.name),
    epoch: integer(f, "epoch"),
    marks: list(f, "marks", mark, 64),
    retireActivity: list(f, "retireActivity", blockIndex, 1_000_000),
  }),
  "activity.add": (f) => ({
    type: "activity.add",
    name: checkImageName(f.name),
    epoch: integer(f, "epoch"),
    blocks: list(f, "blocks", blockIndex, 100_000),
  }),
  "activity.retire": (f) => ({
    type: "activity.retire",
    name: checkImageName(f.name),
    epoch: integer(f, "epoch"),
    blocks: list(f, "blocks", blockIndex, 1_000_000),
  }),
  "move.start": (f) => ({
    type: "move.start",
    name: checkImageName(f.name),
    from: checkNodeId(f.from),
    to: checkNodeId(f.to),
    startedAtMs: integer(f, "startedAtMs"),
  }),
  "move.finish": (f) => ({ type: "move.finish", name: checkImageName(f.name) }),
  "move.cancel": (f) => ({ type: "move.cancel", name: checkImageName(f.name) }),
};

/**
 * Validates an untrusted value (parsed JSON) and returns it as a `Command`.
 *
 * @throws {UkaiError} INVALID_ARGUMENT naming the offending field
 * @example
 * ```ts
 * import { parseCommand } from "./commands.ts";
 * const command = parseCommand({ type: "image.open", name: "vm1", node: "n1" });
 * if (command.type !== "image.open") throw new Error("bad");
 * ```
 */
export function parseCommand(value: unknown): Command {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail("A command must be a JSON object");
  }
  const fields = value as Fields;
  const type = fields.type;
  if (typeof type !== "string" || !Object.hasOwn(PARSERS, type)) {
    fail(`Unknown command type ${JSON.stringify(type)}`);
  }
  const parser = PARSERS[type as CommandType] as (fields: Fields) => Command;
  const command = parser(fields);
  if (fields.requestId === undefined) return command;
  return { ...command, requestId: text(fields, "requestId", 64) };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes a command for a log entry or the wire (JSON; ranges as [start, end]). */
export function encodeCommand(command: Command): Uint8Array {
  return encoder.encode(
    JSON.stringify(command, (_key, value) => {
      if (
        value !== null && typeof value === "object" && "start" in value && "end" in value &&
        Object.keys(value).length === 2
      ) {
        return [value.start, value.end];
      }
      return value;
    }),
  );
}

/**
 * Decodes and validates bytes made by {@link encodeCommand}.
 *
 * @throws {UkaiError} INVALID_ARGUMENT when the bytes are not a valid command
 */
export function decodeCommand(bytes: Uint8Array): Command {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new UkaiError("INVALID_ARGUMENT", "Command bytes are not valid UTF-8 JSON", {
      cause: error,
    });
  }
  return parseCommand(value);
}
