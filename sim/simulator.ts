/**
 * One simulation run, from a seed: build the cluster, the fault injector,
 * the clients and the membership operator; run the **safety phase** (faults
 * on) checking every step; then the **liveness phase**: heal the network,
 * stop crashes, restart every crashed node, stop new client operations, and
 * require that within `livenessTicksMax` ticks every member converges (same
 * applied index as the leader's commit, same state) and a final read of
 * every key succeeds; finally check the client history for
 * linearizability. The run stops at the first failure.
 *
 * @module
 */

import { AssertionError } from "../base/assert.ts";
import { Rng } from "../base/rng.ts";
import { type CheckerName, firstViolation, type Violation } from "./checkers/mod.ts";
import { Clients } from "./clients.ts";
import { Cluster, type ClusterStats } from "./cluster.ts";
import { describeEvent } from "./events.ts";
import { FaultInjector } from "./faults.ts";
import { History } from "./history.ts";
import { deriveKnobs, type Knobs, type ProfileName, validateKnobs } from "./knobs.ts";
import { checkLinearizability } from "./linearizability.ts";
import { MembershipOperator } from "./membership.ts";
import { Trace, TRACE_LINES_DEFAULT } from "./trace.ts";

/** Most events in one run (the safety phase is bounded in time; this bounds the loop). */
export const EVENTS_PER_RUN_MAX = 5_000_000;

/** Options of {@link runSimulation}. */
export interface SimulationOptions {
  profile?: ProfileName;
  /** Trace lines kept for the failure report. */
  traceLines?: number;
  /** Adjusts the derived knobs (tests and experiments; the CLI never does). */
  adjust?: (knobs: Knobs) => void;
}

/** What a run found. */
export interface SimulationResult {
  seed: number;
  knobs: Knobs;
  /** The failure, if any (the run stopped there). */
  violation: Violation | undefined;
  /** Fingerprint of the whole event trace (equal for equal seeds). */
  traceFingerprint: string;
  /** The last trace lines (context for a failure). */
  lastEvents: string[];
  events: number;
  virtualMs: number;
  summary: string;
  /** What the run exercised. */
  stats: ClusterStats & { operationsCompleted: number; operationsIndeterminate: number };
}

interface Run {
  knobs: Knobs;
  trace: Trace;
  cluster: Cluster;
  faults: FaultInjector;
  clients: Clients;
  membership: MembershipOperator;
  history: History;
  events: number;
}

/**
 * Runs seed `seed` to the end or to its first failure.
 *
 * @example
 * ```ts
 * import { runSimulation } from "./simulator.ts";
 * const result = runSimulation(1);
 * if (result.violation !== undefined) throw new Error(result.violation.message);
 * ```
 */
export function runSimulation(seed: number, options: SimulationOptions = {}): SimulationResult {
  const knobs = deriveKnobs(seed, options.profile ?? "default");
  if (options.adjust !== undefined) {
    options.adjust(knobs);
    validateKnobs(knobs);
  }
  const root = new Rng(seed);
  const trace = new Trace(options.traceLines ?? TRACE_LINES_DEFAULT);
  const cluster = new Cluster(knobs, root.fork(), trace);
  const history = new History();
  const run: Run = {
    knobs,
    trace,
    cluster,
    faults: new FaultInjector(cluster, root.fork()),
    clients: new Clients(cluster, root.fork(), history),
    membership: new MembershipOperator(cluster, root.fork()),
    history,
    events: 0,
  };
  const violation = safetyPhase(run) ?? livenessPhase(run) ?? linearizabilityPhase(run);
  return {
    seed,
    knobs,
    violation,
    traceFingerprint: trace.fingerprint(),
    lastEvents: trace.lastLines(),
    events: run.events,
    virtualMs: cluster.scheduler.now,
    summary: summarize(run),
    stats: {
      ...cluster.stats,
      operationsCompleted: history.counts().completed,
      operationsIndeterminate: history.counts().indeterminate,
    },
  };
}

function safetyPhase(run: Run): Violation | undefined {
  return runUntil(run, run.knobs.phases.safetyDurationMs, () => false);
}

function livenessPhase(run: Run): Violation | undefined {
  const { cluster, faults, clients, membership, knobs } = run;
  cluster.phase = "liveness";
  faults.calm();
  clients.quiesce();
  const deadline = cluster.scheduler.now + knobs.phases.livenessTicksMax * knobs.cluster.tickMs;
  const notSettled = (): string | null => {
    if (!clients.idle()) return "a client operation is still in flight";
    if (membership.busy) return "a membership change is still under way";
    return convergenceProblem(cluster);
  };
  let nextCheckMs = 0;
  const settled = () => {
    if (cluster.scheduler.now < nextCheckMs) return false;
    nextCheckMs = cluster.scheduler.now + knobs.cluster.tickMs;
    return notSettled() === null;
  };
  const failure = runUntil(run, deadline, settled);
  if (failure !== undefined) return failure;
  const problem = notSettled();
  if (problem !== null) {
    const ticks = knobs.phases.livenessTicksMax;
    return failed(run, "convergence", `no convergence within ${ticks} ticks: ${problem}`);
  }
  cluster.traceLine(`liveness: converged at ${cluster.scheduler.now} ms; final reads`);
  clients.startFinalReads();
  const readFailure = runUntil(run, deadline, () => clients.finalReadsDone());
  if (readFailure !== undefined) return readFailure;
  if (!clients.finalReadsDone()) {
    return failed(
      run,
      "convergence",
      "the final reads did not complete within the liveness budget",
    );
  }
  return undefined;
}

function linearizabilityPhase(run: Run): Violation | undefined {
  const result = checkLinearizability(run.history.operations());
  if (result.kind === "violation") return failed(run, "linearizability", result.message);
  if (result.kind === "inconclusive") {
    return failed(
      run,
      "linearizability",
      `inconclusive: key ${result.key} after ${result.steps} steps`,
    );
  }
  return undefined;
}

/** Runs events up to `deadlineMs` or until `done()`; returns the first failure. */
function runUntil(run: Run, deadlineMs: number, done: () => boolean): Violation | undefined {
  const { cluster, trace } = run;
  const scheduler = cluster.scheduler;
  while (run.events < EVENTS_PER_RUN_MAX) {
    const time = scheduler.peekTime();
    if (time === undefined || time > deadlineMs) return undefined;
    const event = scheduler.next()!;
    run.events++;
    trace.add(scheduler.now, describeEvent(event));
    try {
      const handled = cluster.handle(event) || run.faults.handle(event) ||
        run.clients.handle(event) || run.membership.handle(event);
      if (!handled) throw new AssertionError(`no module handles ${event.kind}`);
      cluster.afterStep();
    } catch (error) {
      return firstViolation(cluster.violations()) ?? crashed(run, error);
    }
    const violation = firstViolation(cluster.violations());
    if (violation !== undefined) return violation;
    if (done()) return undefined;
  }
  return failed(run, "simulatorAssertion", `more than ${EVENTS_PER_RUN_MAX} events`);
}

/** Why the cluster has not converged, or null when it has. */
export function convergenceProblem(cluster: Cluster): string | null {
  const leader = cluster.leader();
  if (leader === undefined) return "no leader";
  if (leader.awaitingFsync) return `leader ${leader.id} is syncing`;
  const status = leader.status();
  const { voters, learners } = status.confState;
  const lastIndex = leader.mirror.lastIndex();
  if (status.commit !== lastIndex) {
    return `leader ${leader.id} commit ${status.commit} < last ${lastIndex}`;
  }
  const stateHash = leader.kv.hash();
  for (const id of [...voters, ...learners]) {
    const node = cluster.maybeNode(id);
    if (node === undefined || node.liveness !== "running") return `member ${id} is not running`;
    if (node.appliedIndex !== status.commit) {
      return `member ${id} applied ${node.appliedIndex}, leader commit ${status.commit}`;
    }
    if (node.kv.hash() !== stateHash) return `member ${id} state differs from the leader's`;
  }
  return null;
}

function crashed(run: Run, error: unknown): Violation {
  const message = error instanceof Error ? error.message : String(error);
  const stack = error instanceof Error ? error.stack ?? "" : "";
  const frame = stack.split("\n")
    .find((line) => line.includes("at ") && !line.includes("/base/assert.ts")) ?? "";
  // Thrown inside raft/ (an assertion or a storage error): raft's own checks fired.
  const checker: CheckerName = frame.includes("/raft/") ? "raftAssertion" : "simulatorAssertion";
  return failed(run, checker, `${message}\n${stack.split("\n").slice(1, 6).join("\n")}`);
}

function failed(run: Run, checker: CheckerName, message: string): Violation {
  const violation = { checker, message, timeMs: run.cluster.scheduler.now };
  run.trace.add(violation.timeMs, `VIOLATION ${checker}: ${message.split("\n")[0]}`);
  return violation;
}

function summarize(run: Run): string {
  const { cluster, history } = run;
  const { completed, indeterminate } = history.counts();
  const leader = cluster.leader();
  const term = leader?.status().term ?? 0;
  const commit = leader?.status().commit ?? 0;
  const stats = cluster.stats;
  return `events=${run.events} virtualMs=${cluster.scheduler.now} term=${term} commit=${commit} ` +
    `ops=${completed}+${indeterminate}? crashes=${stats.crashes} (points ${stats.crashPoints}, ` +
    `torn ${stats.tornTails}) snapshots=${stats.snapshotsInstalled} ` +
    `messages=${stats.messagesSent} ` +
    `lost=${stats.messagesLost} membership=${stats.membershipChanges} ` +
    `leaderRemovals=${stats.leaderRemovals} nodes=${cluster.nodes().length}`;
}
