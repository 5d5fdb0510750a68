/**
 * What this node knows of its peers' health: a smoothed round-trip time per
 * peer (measured continuously by pings), and the suspension list — a peer
 * whose requests keep failing is skipped for a while (the original UKAI's
 * error list, now shown by `ukai node errors` and `ukai status`). Pure: time
 * comes from the injected clock.
 *
 * @module
 */

import type { Clock } from "../base/clock.ts";

/** Consecutive failures after which a peer is suspended. */
export const FAILURES_BEFORE_SUSPENSION = 3;

/** One peer as seen from here. */
export interface PeerHealthView {
  readonly node: string;
  /** Smoothed round-trip time in ms, or null before the first answer. */
  readonly rttMs: number | null;
  readonly consecutiveFailures: number;
  /** Wall-clock ms until which the peer is skipped, or null. */
  readonly suspendedUntilMs: number | null;
  readonly lastError: string | null;
  readonly lastContactMs: number | null;
}

interface PeerState {
  rttMs: number | null;
  consecutiveFailures: number;
  suspendedUntil: number | null;
  lastError: string | null;
  lastContact: number | null;
}

/** RTTs and suspensions of every peer. */
export class PeerHealth {
  readonly #clock: Clock;
  readonly #suspensionMs: number;
  readonly #peers = new Map<string, PeerState>();

  constructor(options: { clock: Clock; suspensionMs: number }) {
    this.#clock = options.clock;
    this.#suspensionMs = options.suspensionMs;
  }

  #peer(node: string): PeerState {
    let state = this.#peers.get(node);
    if (state === undefined) {
      state = {
        rttMs: null,
        consecutiveFailures: 0,
        suspendedUntil: null,
        lastError: null,
        lastContact: null,
      };
      this.#peers.set(node, state);
    }
    return state;
  }

  /** Records a successful request (or ping) and, when known, its round-trip time. */
  succeeded(node: string, rttMs?: number): void {
    const state = this.#peer(node);
    state.consecutiveFailures = 0;
    state.suspendedUntil = null;
    state.lastContact = this.#clock.wallMs();
    if (rttMs !== undefined) {
      state.rttMs = state.rttMs === null ? rttMs : state.rttMs * 0.8 + rttMs * 0.2;
    }
  }

  /** Records a failed request; enough in a row suspend the peer. */
  failed(node: string, reason: string): void {
    const state = this.#peer(node);
    state.consecutiveFailures++;
    state.lastError = reason;
    if (state.consecutiveFailures >= FAILURES_BEFORE_SUSPENSION) {
      state.suspendedUntil = this.#clock.wallMs() + this.#suspensionMs;
    }
  }

  /** Whether `node` is currently skipped. */
  isSuspended(node: string): boolean {
    const until = this.#peers.get(node)?.suspendedUntil ?? null;
    return until !== null && this.#clock.wallMs() < until;
  }

  /** Smoothed RTT of `node` in ms (Infinity when unknown). */
  rttOf(node: string): number {
    return this.#peers.get(node)?.rttMs ?? Infinity;
  }

  /**
   * Orders read candidates: `self` first, then by RTT; suspended peers go
   * last (tried only when nothing else answers).
   */
  orderForRead(candidates: readonly string[], self: string): string[] {
    const rank = (node: string) => node === self ? -1 : this.rttOf(node);
    const ordered = [...candidates].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    return [
      ...ordered.filter((node) => !this.isSuspended(node)),
      ...ordered.filter((node) => this.isSuspended(node)),
    ];
  }

  /** Every peer known so far, sorted by id. */
  views(): PeerHealthView[] {
    const now = this.#clock.wallMs();
    return [...this.#peers].sort(([a], [b]) => a.localeCompare(b)).map(([node, state]) => ({
      node,
      rttMs: state.rttMs,
      consecutiveFailures: state.consecutiveFailures,
      suspendedUntilMs: state.suspendedUntil !== null && state.suspendedUntil > now
        ? state.suspendedUntil
        : null,
      lastError: state.lastError,
      lastContactMs: state.lastContact,
    }));
  }
}
