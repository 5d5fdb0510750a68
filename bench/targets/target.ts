/**
 * What a benchmark target is: a file that fio can open with O_DIRECT, served
 * by something the suite starts and stops itself (a plain file, the C
 * libfuse3 reference, ukai, nbdkit + nbdfuse, GlusterFS). A target group is
 * one running service that may expose several targets (one ukai cluster
 * serves the four ukai layouts).
 *
 * @module
 */

import type { Cleanup } from "../common.ts";

/** Where and how targets start. */
export interface TargetContext {
  readonly cleanup: Cleanup;
  /** A private temporary folder for this group's state (removed by the suite). */
  readonly work: string;
  /** Size of each target's file. */
  readonly sizeBytes: number;
  /** The ukai checkout to run (its main.ts and tests/harness). */
  readonly ukaiRoot: string;
}

/** One file fio runs against. */
export interface Target {
  /** Short id used in `--targets` and the report (e.g. "ukai-2"). */
  readonly id: string;
  /** What it is, for the report. */
  readonly title: string;
  /** The file fio opens. */
  readonly file: string;
  /** How fast the initial fill went, MiB/s. */
  readonly fillMiBPerSecond: number;
}

/** A started group of targets. */
export interface StartedGroup {
  readonly targets: readonly Target[];
  /** Versions and settings worth recording (command lines, package versions). */
  readonly details: Readonly<Record<string, unknown>>;
  /** Stops everything the group started and unmounts its mounts. */
  stop(): Promise<void>;
}

/** A kind of target: which ids it serves, which Debian packages it needs, how it starts. */
export interface TargetGroup {
  readonly ids: readonly string[];
  readonly packages: readonly string[];
  /** Whether it is a peer (skipped by `--no-peers`). */
  readonly peer: boolean;
  start(context: TargetContext, ids: readonly string[]): Promise<StartedGroup>;
}
