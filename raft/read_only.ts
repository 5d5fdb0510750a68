/**
 * The leader's queue of ReadIndex requests awaiting confirmation (the "safe"
 * read-only option): each request records the commit index when it arrived
 * and is confirmed once a majority of voters answers a heartbeat sent after
 * it. Heartbeats carry an 8-byte sequence number as their context; an answer
 * for sequence `s` confirms every request up to `s`.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { majorityCommittedIndex } from "./quorum.ts";
import type { NodeId } from "./types.ts";

/** Most read requests a leader keeps waiting; more are refused (backpressure). */
export const READ_INDEX_PENDING_MAX = 4096;

/** A read request: who asked, its opaque context, and the index it may read at. */
export interface ReadRequest {
  /** The commit index when the request arrived. */
  index: number;
  /** The requesting node (the leader itself for local requests). */
  from: NodeId;
  context: Uint8Array;
}

/** Invariant: `#unconfirmed[i]` has sequence number `#confirmed + i + 1`. */
export class ReadOnlyQueue {
  #acks = new Map<NodeId, number>();
  #unconfirmed: ReadRequest[] = [];
  #confirmed = 0;

  /** Number of requests waiting for confirmation. */
  get pendingCount(): number {
    return this.#unconfirmed.length;
  }

  /** Queues `request`; false when the queue is full. */
  add(request: ReadRequest): boolean {
    if (this.#unconfirmed.length >= READ_INDEX_PENDING_MAX) return false;
    this.#unconfirmed.push(request);
    return true;
  }

  /** Records that `from` answered a heartbeat with `context`; junk contexts are ignored. */
  recvAck(from: NodeId, context: Uint8Array): void {
    const sequence = decodeSequence(context);
    if (sequence === undefined) return;
    this.#acks.set(from, Math.max(this.#acks.get(from) ?? 0, sequence));
  }

  /**
   * Removes and returns the requests a majority of `voters` has now confirmed,
   * oldest first.
   */
  maybeAdvance(voters: Iterable<NodeId>): ReadRequest[] {
    const confirmedUpTo = majorityCommittedIndex(voters, (id) => this.#acks.get(id));
    if (confirmedUpTo <= this.#confirmed) return [];
    const newlyConfirmed = Math.min(confirmedUpTo - this.#confirmed, this.#unconfirmed.length);
    const released = this.#unconfirmed.slice(0, newlyConfirmed);
    this.#unconfirmed = this.#unconfirmed.slice(newlyConfirmed);
    this.#confirmed = confirmedUpTo;
    return released;
  }

  /** The context for the next heartbeat: the newest request's sequence, if any waits. */
  heartbeatContext(): Uint8Array | undefined {
    if (this.#unconfirmed.length === 0) return undefined;
    return encodeSequence(this.#confirmed + this.#unconfirmed.length);
  }
}

const SEQUENCE_BYTES = 8;

function encodeSequence(sequence: number): Uint8Array {
  assert(Number.isSafeInteger(sequence) && sequence > 0, "read sequence must be positive");
  const bytes = new Uint8Array(SEQUENCE_BYTES);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(sequence), true);
  return bytes;
}

function decodeSequence(context: Uint8Array): number | undefined {
  if (context.length !== SEQUENCE_BYTES) return undefined;
  const view = new DataView(context.buffer, context.byteOffset, context.byteLength);
  const value = view.getBigUint64(0, true);
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}
