/**
 * Every setting of a simulation run, derived from its seed ("swarm testing":
 * each seed picks its own cluster size, fault rates and Raft options, so that
 * a sweep over seeds covers many combinations instead of one average), plus
 * the named profiles the planted-bug tests use and the budgets that bound
 * every fault.
 *
 * A run is fully described by `(seed, profile)`: `deriveKnobs` is pure, and
 * `describeKnobs` prints the result so that a failure report shows exactly
 * which faults were in play.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { Rng } from "../base/rng.ts";

// ---- budgets ----------------------------------------------------------------
// Each fault rate has a ceiling. Above it a seed mostly tests timeouts: the
// group rarely elects a leader inside a safety phase, so it exercises less of
// the protocol, not more. The liveness phase lifts every fault anyway.

/** Most initial voters (5: tolerates two failures; larger groups add time, not coverage). */
export const VOTERS_MAX = 5;
/** Most nodes that may join during a run (they get fresh ids: ids are never reused). */
export const SPARE_NODES_MAX = 2;
/** Highest probability that a network message is lost. */
export const LOSS_PROBABILITY_MAX = 0.1;
/** Highest probability that a network message is delivered twice. */
export const DUPLICATE_PROBABILITY_MAX = 0.05;
/** Longest one-way network delay, spikes included (ms): about one election timeout. */
export const NETWORK_DELAY_MAX_MS = 150;
/** Longest fsync (ms). */
export const FSYNC_DELAY_MAX_MS = 25;
/** Highest probability of crashing at each crash point when it is reached (profiles included). */
export const CRASH_POINT_PROBABILITY_MAX = 0.5;
/**
 * Highest crash-point probability a seed derives by itself. A busy node passes
 * a crash point dozens of times a second; more than a few percent keeps the
 * group too busy restarting to make progress.
 */
export const CRASH_POINT_PROBABILITY_DERIVED_MAX = 0.03;
/** Shortest mean time between random crashes (ms, whole cluster). */
export const CRASH_INTERVAL_MIN_MS = 400;
/** Longest time a crashed node stays down in the safety phase (ms). */
export const RESTART_DELAY_MAX_MS = 1_500;
/** Longest partition (ms); a partition heals on its own after at most this. */
export const PARTITION_DURATION_MAX_MS = 2_000;
/** Most client operations per run (keeps the linearizability search small). */
export const CLIENT_OPERATIONS_MAX = 600;

/** Where the node driver may crash on purpose (design.md section 4). */
export const CRASH_POINTS = [
  "afterVoteGrant",
  "afterAppendBeforeFsync",
  "afterFsyncBeforeSend",
  "duringSnapshotInstall",
  "duringMembershipChange",
] as const;

/** One of {@link CRASH_POINTS}. */
export type CrashPoint = (typeof CRASH_POINTS)[number];

/** The Raft options of every node. */
export interface RaftKnobs {
  electionTicks: number;
  heartbeatTicks: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Small values send one entry per append: more interleavings. */
  maxSizePerMsg: number;
  maxInflightMsgs: number;
  /** Payload bytes in flight per follower; 0 = no limit. */
  maxInflightBytes: number;
  /** Uncommitted payload bytes a leader accepts; 0 = no limit (proposals beyond are refused). */
  maxUncommittedEntriesSize: number;
  /** Committed bytes handed out per Ready; 0 = no limit (applies in several Readys). */
  maxCommittedSizePerReady: number;
}

/** The shape of the group and how it is driven. */
export interface ClusterKnobs {
  voterCount: number;
  /** Nodes that may join later (as learners, then promoted). */
  spareCount: number;
  /** Virtual milliseconds per Raft tick. */
  tickMs: number;
  /** Each tick lands up to this many ms late (clocks are not in step). */
  tickJitterMs: number;
  /** Each node snapshots and compacts once this many entries are applied past its snapshot. */
  snapshotEveryEntries: number;
  /** Mean ms between membership-operator steps; 0 = no membership changes. */
  membershipIntervalMs: number;
}

/** The simulated network (sim/network.ts). */
export interface NetworkKnobs {
  delayMinMs: number;
  delayMaxMs: number;
  /** Chance that a message takes a spike of up to `spikeMaxMs` extra. */
  spikeProbability: number;
  spikeMaxMs: number;
  lossProbability: number;
  duplicateProbability: number;
  /** Mean ms between partitions; 0 = never partitioned. */
  partitionIntervalMs: number;
  partitionDurationMinMs: number;
  partitionDurationMaxMs: number;
  /** Share of partitions that block one direction only. */
  asymmetricShare: number;
  /** Share of partitions that isolate the current leader. */
  leaderIsolationShare: number;
}

/** The simulated disks (sim/disk.ts). */
export interface DiskKnobs {
  fsyncDelayMinMs: number;
  fsyncDelayMaxMs: number;
  /** On a crash, chance that a random byte prefix of the unsynced writes survives (torn tail). */
  tornWriteProbability: number;
}

/** Crashes and restarts. */
export interface CrashKnobs {
  /** Mean ms between random crashes (any node); 0 = none besides crash points. */
  crashIntervalMs: number;
  restartDelayMinMs: number;
  restartDelayMaxMs: number;
  /** Probability of crashing when each crash point is reached. */
  points: Record<CrashPoint, number>;
  /** Crash points fire only on a node that is leader at that moment. */
  pointsOnLeadersOnly: boolean;
}

/** The clients and their workload (sim/clients.ts). */
export interface ClientKnobs {
  clientCount: number;
  keyCount: number;
  /** Longest pause between a client's operations (ms). */
  thinkMaxMs: number;
  /** How long a client waits for one attempt before retrying elsewhere (ms). */
  attemptTimeoutMs: number;
  /** Attempts before the client gives up (the operation stays indeterminate). */
  attemptsMax: number;
  /** Each retry waits twice as long as the one before (always so in the liveness phase). */
  retryBackoff: boolean;
  putShare: number;
  casShare: number;
  operationsMax: number;
}

/** How long each phase runs. */
export interface PhaseKnobs {
  /** Virtual ms of the safety phase (faults on). */
  safetyDurationMs: number;
  /** Ticks the liveness phase may take to converge and serve the final reads. */
  livenessTicksMax: number;
}

/** Planted bugs: each breaks one safety property on purpose (checker self-tests). */
export interface PlantedBugs {
  /** Driver: restart with the vote dropped from the recovered hard state. */
  forgetVoteOnRestart: boolean;
  /** Driver: send a Ready's messages before its writes are fsynced. */
  sendBeforeFsync: boolean;
  /** Raft testing knob: grant votes on last index only. */
  skipLogTermVoteCheck: boolean;
  /** Raft testing knob: commit earlier-term entries by counting replicas. */
  commitByCountingAnyTerm: boolean;
  /** Driver: serve a confirmed read at once, before the read index is applied. */
  readBeforeApplied: boolean;
}

/** Every setting of one run. */
export interface Knobs {
  seed: number;
  profile: ProfileName;
  cluster: ClusterKnobs;
  raft: RaftKnobs;
  network: NetworkKnobs;
  disk: DiskKnobs;
  crash: CrashKnobs;
  clients: ClientKnobs;
  phases: PhaseKnobs;
  bugs: PlantedBugs;
}

/** Safety phase of the planted-bug profiles (longer: more chances for the bug's scenario). */
export const PLANTED_BUG_SAFETY_DURATION_MS = 20_000;

/** Names of the knob profiles: `default`, or one per planted bug. */
export type ProfileName = keyof typeof PROFILES;

/**
 * Profiles adjust the seed-derived knobs. The planted-bug profiles turn one
 * bug on and bias the fault mix toward the situations where that bug shows
 * (the checkers stay the general ones).
 */
export const PROFILES = {
  default: (_knobs: Knobs, _rng: Rng): void => {},
  forgetVoteOnRestart: (knobs: Knobs, rng: Rng): void => {
    knobs.bugs.forgetVoteOnRestart = true;
    knobs.cluster.voterCount = rng.pick([3, 5]);
    // Split votes need candidates in the same term: no pre-vote, slow links.
    knobs.raft.preVote = false;
    knobs.raft.checkQuorum = false;
    knobs.crash.points.afterVoteGrant = CRASH_POINT_PROBABILITY_MAX;
    knobs.crash.restartDelayMinMs = 1;
    knobs.crash.restartDelayMaxMs = 20;
    knobs.network.delayMaxMs = rng.between(Math.max(40, knobs.network.delayMinMs), 100);
    knobs.network.spikeMaxMs = Math.min(knobs.network.spikeMaxMs, NETWORK_DELAY_MAX_MS - 100);
    knobs.network.duplicateProbability = DUPLICATE_PROBABILITY_MAX;
    knobs.phases.safetyDurationMs = PLANTED_BUG_SAFETY_DURATION_MS;
  },
  sendBeforeFsync: (knobs: Knobs, _rng: Rng): void => {
    knobs.bugs.sendBeforeFsync = true;
  },
  skipLogTermVoteCheck: (knobs: Knobs, rng: Rng): void => {
    knobs.bugs.skipLogTermVoteCheck = true;
    // A leader cut off with a backlog of unreplicated entries (slow replication,
    // busy clients) must later win an election on log length alone: check-quorum
    // makes it step down and campaign while cut off; without pre-vote its higher
    // term then forces an election once the partition heals.
    knobs.raft.preVote = false;
    knobs.raft.checkQuorum = true;
    knobs.cluster.voterCount = 3;
    knobs.raft.maxSizePerMsg = 1;
    knobs.raft.maxInflightMsgs = 1;
    knobs.raft.maxUncommittedEntriesSize = 0;
    knobs.network.partitionIntervalMs = rng.between(250, 350);
    knobs.network.partitionDurationMinMs = 200;
    knobs.network.partitionDurationMaxMs = 800;
    knobs.network.asymmetricShare = 0;
    knobs.network.leaderIsolationShare = 1;
    knobs.crash.crashIntervalMs = 0;
    knobs.clients.thinkMaxMs = 5;
    knobs.clients.clientCount = 6;
    knobs.phases.safetyDurationMs = PLANTED_BUG_SAFETY_DURATION_MS;
  },
  commitByCountingAnyTerm: (knobs: Knobs, _rng: Rng): void => {
    knobs.bugs.commitByCountingAnyTerm = true;
    // Figure 8: one entry per append, leaders that crash between fsync and send.
    knobs.raft.maxSizePerMsg = 1;
    knobs.raft.maxInflightMsgs = 1;
    knobs.raft.maxUncommittedEntriesSize = 0;
    knobs.raft.preVote = false;
    knobs.raft.checkQuorum = false;
    knobs.cluster.voterCount = 3;
    knobs.cluster.membershipIntervalMs = 0;
    knobs.clients.retryBackoff = false;
    knobs.crash.points.afterFsyncBeforeSend = CRASH_POINT_PROBABILITY_MAX;
    knobs.crash.pointsOnLeadersOnly = true;
    knobs.crash.crashIntervalMs = 0;
    knobs.network.partitionIntervalMs = 0;
    knobs.phases.safetyDurationMs = PLANTED_BUG_SAFETY_DURATION_MS;
    knobs.crash.restartDelayMinMs = 200;
    knobs.crash.restartDelayMaxMs = RESTART_DELAY_MAX_MS;
    knobs.clients.thinkMaxMs = 20;
    // No reads: with this bug a new leader's held ReadIndex requests trip raft's
    // own assertion (`releasePendingReads`) before the checkers see the damage.
    knobs.clients.putShare = 0.6;
    knobs.clients.casShare = 0.4;
  },
  readBeforeApplied: (knobs: Knobs, rng: Rng): void => {
    knobs.bugs.readBeforeApplied = true;
    knobs.cluster.voterCount = rng.pick([3, 5]);
    // Lagging followers serve reads: one key, many reads, slow and lossy links.
    knobs.clients.keyCount = 1;
    knobs.clients.clientCount = 4;
    knobs.clients.putShare = 0.5;
    knobs.clients.casShare = 0.1;
    knobs.network.delayMaxMs = rng.between(Math.max(20, knobs.network.delayMinMs), 40);
    knobs.network.lossProbability = LOSS_PROBABILITY_MAX / 2;
    knobs.clients.operationsMax = CLIENT_OPERATIONS_MAX;
    knobs.phases.safetyDurationMs = PLANTED_BUG_SAFETY_DURATION_MS;
  },
} as const;

/** True when `name` names a profile. */
export function isProfileName(name: string): name is ProfileName {
  return Object.hasOwn(PROFILES, name);
}

/**
 * The knobs of run `seed` under `profile`: a pure function of both.
 *
 * @example
 * ```ts
 * import { deriveKnobs, describeKnobs } from "./knobs.ts";
 * if (describeKnobs(deriveKnobs(7)) !== describeKnobs(deriveKnobs(7))) throw new Error("impure");
 * ```
 */
export function deriveKnobs(seed: number, profile: ProfileName = "default"): Knobs {
  assert(Number.isSafeInteger(seed) && seed >= 0, `seed must be a non-negative integer: ${seed}`);
  const rng = new Rng(seed ^ 0x6b6e6f62);
  const knobs: Knobs = {
    seed,
    profile,
    cluster: deriveCluster(rng),
    network: deriveNetwork(rng),
    raft: deriveRaft(rng),
    disk: deriveDisk(rng),
    crash: deriveCrash(rng),
    clients: deriveClients(rng),
    phases: { safetyDurationMs: rng.between(8_000, 20_000), livenessTicksMax: 1_500 },
    bugs: {
      forgetVoteOnRestart: false,
      sendBeforeFsync: false,
      skipLogTermVoteCheck: false,
      commitByCountingAnyTerm: false,
      readBeforeApplied: false,
    },
  };
  PROFILES[profile](knobs, rng);
  knobs.raft.electionTicks = Math.max(knobs.raft.electionTicks, electionTicksMin(knobs));
  validateKnobs(knobs);
  return knobs;
}

function deriveCluster(rng: Rng): ClusterKnobs {
  return {
    voterCount: rng.pick([1, 2, 3, 3, 3, 3, 5, 5]),
    spareCount: rng.between(0, SPARE_NODES_MAX),
    tickMs: 10,
    tickJitterMs: rng.between(0, 3),
    snapshotEveryEntries: rng.pick([8, 20, 50, 200]),
    membershipIntervalMs: rng.chance(0.5) ? rng.between(300, 1_000) : 0,
  };
}

/**
 * The shortest election timeout (ticks) that lets a calm network keep a leader:
 * a heartbeat interval plus a round trip at the slowest link delay must fit in
 * it, with two ticks to spare. Below this the liveness phase may never settle.
 */
export function electionTicksMin(knobs: Knobs): number {
  const { tickMs } = knobs.cluster;
  const needMs = knobs.raft.heartbeatTicks * tickMs + 2 * knobs.network.delayMaxMs;
  return Math.ceil(needMs / tickMs) + 2;
}

function deriveRaft(rng: Rng): RaftKnobs {
  return {
    electionTicks: rng.between(8, 20),
    heartbeatTicks: rng.between(1, 3),
    preVote: rng.chance(0.5),
    checkQuorum: rng.chance(0.5),
    maxSizePerMsg: rng.pick([1, 256, 4096]),
    maxInflightMsgs: rng.pick([1, 4, 64]),
    maxInflightBytes: rng.pick([0, 0, 8192]),
    maxUncommittedEntriesSize: rng.pick([0, 0, 512]),
    maxCommittedSizePerReady: rng.pick([0, 0, 1, 200]),
  };
}

function deriveNetwork(rng: Rng): NetworkKnobs {
  const delayMinMs = rng.between(1, 5);
  return {
    delayMinMs,
    delayMaxMs: rng.between(delayMinMs + 1, 40),
    spikeProbability: rng.chance(0.5) ? rng.float() * 0.05 : 0,
    spikeMaxMs: rng.between(20, NETWORK_DELAY_MAX_MS - 40),
    lossProbability: rng.chance(0.6) ? rng.float() * LOSS_PROBABILITY_MAX : 0,
    duplicateProbability: rng.chance(0.4) ? rng.float() * DUPLICATE_PROBABILITY_MAX : 0,
    partitionIntervalMs: rng.chance(0.6) ? rng.between(400, 3_000) : 0,
    partitionDurationMinMs: 50,
    partitionDurationMaxMs: rng.between(100, PARTITION_DURATION_MAX_MS),
    asymmetricShare: rng.float() * 0.5,
    leaderIsolationShare: rng.float() * 0.5,
  };
}

function deriveDisk(rng: Rng): DiskKnobs {
  const fsyncDelayMinMs = rng.between(1, 3);
  return {
    fsyncDelayMinMs,
    fsyncDelayMaxMs: rng.between(fsyncDelayMinMs, FSYNC_DELAY_MAX_MS),
    tornWriteProbability: rng.chance(0.5) ? rng.float() * 0.5 : 0,
  };
}

function deriveCrash(rng: Rng): CrashKnobs {
  const points = {} as Record<CrashPoint, number>;
  const pointsOn = rng.chance(0.7);
  for (const point of CRASH_POINTS) {
    points[point] = pointsOn && rng.chance(0.5)
      ? rng.float() * CRASH_POINT_PROBABILITY_DERIVED_MAX
      : 0;
  }
  const restartDelayMinMs = rng.between(5, 200);
  return {
    crashIntervalMs: rng.chance(0.6) ? rng.between(CRASH_INTERVAL_MIN_MS, 3_000) : 0,
    restartDelayMinMs,
    restartDelayMaxMs: rng.between(restartDelayMinMs, RESTART_DELAY_MAX_MS),
    points,
    pointsOnLeadersOnly: rng.chance(0.3),
  };
}

function deriveClients(rng: Rng): ClientKnobs {
  const putShare = 0.2 + rng.float() * 0.4;
  return {
    clientCount: rng.between(1, 4),
    keyCount: rng.between(1, 3),
    thinkMaxMs: rng.between(5, 200),
    attemptTimeoutMs: rng.between(150, 600),
    attemptsMax: rng.between(3, 8),
    retryBackoff: rng.chance(0.5),
    putShare,
    casShare: rng.float() * (1 - putShare) * 0.6,
    operationsMax: rng.between(100, CLIENT_OPERATIONS_MAX),
  };
}

/** Asserts the relationships between knobs that the simulator relies on. */
export function validateKnobs(knobs: Knobs): void {
  const { cluster, raft, network, disk, crash, clients } = knobs;
  assert(cluster.voterCount >= 1 && cluster.voterCount <= VOTERS_MAX, "voterCount out of range");
  assert(cluster.spareCount >= 0 && cluster.spareCount <= SPARE_NODES_MAX, "spareCount");
  assert(cluster.tickMs >= 1 && cluster.tickJitterMs < cluster.tickMs, "tick jitter < tick");
  assert(raft.heartbeatTicks < raft.electionTicks, "heartbeat must be shorter than election");
  assert(raft.electionTicks >= electionTicksMin(knobs), "election timeout too short for the links");
  assert(network.delayMinMs >= 1 && network.delayMinMs <= network.delayMaxMs, "delay range");
  assert(network.delayMaxMs + network.spikeMaxMs <= NETWORK_DELAY_MAX_MS, "delay budget");
  assert(network.lossProbability <= LOSS_PROBABILITY_MAX, "loss budget");
  assert(network.duplicateProbability <= DUPLICATE_PROBABILITY_MAX, "duplicate budget");
  assert(network.partitionDurationMaxMs <= PARTITION_DURATION_MAX_MS, "partition budget");
  assert(disk.fsyncDelayMinMs >= 1 && disk.fsyncDelayMinMs <= disk.fsyncDelayMaxMs, "fsync");
  assert(disk.fsyncDelayMaxMs <= FSYNC_DELAY_MAX_MS, "fsync budget");
  assert(crash.crashIntervalMs === 0 || crash.crashIntervalMs >= CRASH_INTERVAL_MIN_MS, "crash");
  assert(crash.restartDelayMaxMs <= RESTART_DELAY_MAX_MS, "restart budget");
  for (const point of CRASH_POINTS) {
    assert(crash.points[point] <= CRASH_POINT_PROBABILITY_MAX, `crash point ${point} budget`);
  }
  assert(clients.operationsMax <= CLIENT_OPERATIONS_MAX, "client operations budget");
  assert(clients.putShare + clients.casShare <= 1, "operation shares");
}

/** A compact, stable, one-knob-per-line description (printed with every failure). */
export function describeKnobs(knobs: Knobs): string {
  const lines: string[] = [`seed=${knobs.seed} profile=${knobs.profile}`];
  const sections: [string, object][] = [
    ["cluster", knobs.cluster],
    ["raft", knobs.raft],
    ["network", knobs.network],
    ["disk", knobs.disk],
    ["crash", { ...knobs.crash, points: undefined }],
    ["crashPoints", knobs.crash.points],
    ["clients", knobs.clients],
    ["phases", knobs.phases],
    ["bugs", knobs.bugs],
  ];
  for (const [name, section] of sections) {
    const fields = Object.entries(section)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => `${key}=${typeof value === "number" ? round(value) : value}`);
    lines.push(`  ${name}: ${fields.join(" ")}`);
  }
  return lines.join("\n");
}

function round(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(4);
}
