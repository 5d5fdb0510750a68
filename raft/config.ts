/**
 * The configuration of one Raft node, its defaults, and {@link validateConfig},
 * which names the first bad value. Time is in ticks: the caller decides how
 * long a tick is.
 *
 * @module
 */

import { Rng } from "../base/rng.ts";
import type { Storage } from "./storage.ts";
import { NO_LIMIT, type NodeId } from "./types.ts";

/** Longest node id in UTF-8 bytes (the codec refuses longer ones). */
export const NODE_ID_BYTES_MAX = 255;

/**
 * Planted-bug switches for the simulator's self-tests. **Never set them in
 * production**: each one deliberately breaks a safety property, so that a
 * test can prove the checkers notice.
 */
export interface TestingKnobs {
  /** Grant votes comparing only last log indexes, not last log terms (breaks section 5.4.1). */
  skipLogTermVoteCheck?: boolean;
  /** Commit any quorum-replicated entry, even of an earlier term (the Figure 8 bug). */
  commitByCountingAnyTerm?: boolean;
}

/** Everything a node needs to start. */
export interface Config {
  /** This node's id; never empty. */
  id: NodeId;
  /** Ticks without hearing from a leader before campaigning (randomised up to twice this). Default 10. */
  electionTicks?: number;
  /** Ticks between leader heartbeats; less than `electionTicks`. Default 1. */
  heartbeatTicks?: number;
  /** The durable log (read only by the core). */
  storage: Storage;
  /** The last index the application applied before this start (0 for a fresh node). */
  applied: number;
  /** Byte budget of one append message (at least one entry is always sent). */
  maxSizePerMsg: number;
  /** Most append messages in flight to one follower in replicate state. */
  maxInflightMsgs: number;
  /** Most payload bytes in flight to one follower; 0 or absent = no limit. */
  maxInflightBytes?: number;
  /** Most payload bytes of uncommitted entries a leader accepts; 0 or absent = no limit. */
  maxUncommittedEntriesSize?: number;
  /** Most bytes of committed entries handed out in one Ready; absent = no limit. */
  maxCommittedSizePerReady?: number;
  /** Leader steps down when it has not heard from a quorum in an election timeout. */
  checkQuorum: boolean;
  /** Run a pre-election first so that a partitioned node cannot disrupt with term bumps. */
  preVote: boolean;
  /** Randomness for the election timeout. */
  rng: Rng;
  /** A leader removed from (or demoted in) the membership steps down. Default true. */
  stepDownOnRemoval?: boolean;
  /** Test-only planted bugs; see {@link TestingKnobs}. */
  testingKnobs?: TestingKnobs;
}

/** A config with every default filled in. */
export interface ResolvedConfig {
  id: NodeId;
  electionTicks: number;
  heartbeatTicks: number;
  storage: Storage;
  applied: number;
  maxSizePerMsg: number;
  maxInflightMsgs: number;
  maxInflightBytes: number;
  maxUncommittedEntriesSize: number;
  maxCommittedSizePerReady: number;
  checkQuorum: boolean;
  preVote: boolean;
  rng: Rng;
  stepDownOnRemoval: boolean;
  testingKnobs: TestingKnobs;
}

/** Default election timeout in ticks. */
export const ELECTION_TICKS_DEFAULT = 10;
/** Default heartbeat interval in ticks. */
export const HEARTBEAT_TICKS_DEFAULT = 1;

/**
 * Why `config` is unusable, or null when it is fine.
 *
 * @example
 * ```ts
 * import { validateConfig } from "./config.ts";
 * import { MemoryStorage } from "./storage.ts";
 * import { Rng } from "../base/rng.ts";
 * const problem = validateConfig({
 *   id: "a", storage: new MemoryStorage(), applied: 0, maxSizePerMsg: 1 << 20,
 *   maxInflightMsgs: 0, checkQuorum: true, preVote: true, rng: new Rng(1),
 * });
 * if (problem === null) throw new Error("maxInflightMsgs 0 must be refused");
 * ```
 */
export function validateConfig(config: Config): string | null {
  if (typeof config.id !== "string" || config.id === "") return "id must be a non-empty string";
  if (new TextEncoder().encode(config.id).length > NODE_ID_BYTES_MAX) {
    return `id must be at most ${NODE_ID_BYTES_MAX} UTF-8 bytes`;
  }
  const electionTicks = config.electionTicks ?? ELECTION_TICKS_DEFAULT;
  const heartbeatTicks = config.heartbeatTicks ?? HEARTBEAT_TICKS_DEFAULT;
  const required: [string, unknown, number][] = [
    ["heartbeatTicks", heartbeatTicks, 1],
    ["electionTicks", electionTicks, 1],
    ["applied", config.applied, 0],
    ["maxSizePerMsg", config.maxSizePerMsg, 0],
    ["maxInflightMsgs", config.maxInflightMsgs, 1],
  ];
  const optional: [string, unknown, number][] = [
    ["maxInflightBytes", config.maxInflightBytes, 0],
    ["maxUncommittedEntriesSize", config.maxUncommittedEntriesSize, 0],
    ["maxCommittedSizePerReady", config.maxCommittedSizePerReady, 1],
  ];
  const present = optional.filter(([, value]) => value !== undefined);
  for (const [name, value, minimum] of [...required, ...present]) {
    if (!Number.isSafeInteger(value) || (value as number) < minimum) {
      return `${name} must be an integer >= ${minimum} (got ${String(value)})`;
    }
  }
  if (electionTicks <= heartbeatTicks) {
    return `electionTicks (${electionTicks}) must be greater than heartbeatTicks (${heartbeatTicks})`;
  }
  const maxInflightBytes = config.maxInflightBytes ?? 0;
  if (maxInflightBytes !== 0 && maxInflightBytes < config.maxSizePerMsg) {
    return `maxInflightBytes (${maxInflightBytes}) must be 0 or >= maxSizePerMsg (${config.maxSizePerMsg})`;
  }
  if (config.storage === undefined || config.storage === null) return "storage is required";
  if (!(config.rng instanceof Rng)) return "rng must be a seeded Rng";
  if (typeof config.checkQuorum !== "boolean") return "checkQuorum must be a boolean";
  if (typeof config.preVote !== "boolean") return "preVote must be a boolean";
  return null;
}

/** Thrown by `new RawNode(config)` when {@link validateConfig} finds a problem. */
export class RaftConfigError extends Error {
  override name = "RaftConfigError";
}

/**
 * Fills in the defaults.
 * @throws {RaftConfigError} when the config is invalid.
 */
export function resolveConfig(config: Config): ResolvedConfig {
  const problem = validateConfig(config);
  if (problem !== null) throw new RaftConfigError(`Invalid Raft config: ${problem}`);
  return {
    id: config.id,
    electionTicks: config.electionTicks ?? ELECTION_TICKS_DEFAULT,
    heartbeatTicks: config.heartbeatTicks ?? HEARTBEAT_TICKS_DEFAULT,
    storage: config.storage,
    applied: config.applied,
    maxSizePerMsg: config.maxSizePerMsg,
    maxInflightMsgs: config.maxInflightMsgs,
    maxInflightBytes: config.maxInflightBytes ?? 0,
    maxUncommittedEntriesSize: config.maxUncommittedEntriesSize || NO_LIMIT,
    maxCommittedSizePerReady: config.maxCommittedSizePerReady ?? NO_LIMIT,
    checkQuorum: config.checkQuorum,
    preVote: config.preVote,
    rng: config.rng,
    stepDownOnRemoval: config.stepDownOnRemoval ?? true,
    testingKnobs: { ...config.testingKnobs },
  };
}
