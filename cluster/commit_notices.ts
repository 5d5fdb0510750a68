/**
 * Commit notices held back for a moment. When the leader's commit index
 * moves, the core sends each follower an append without entries that carries
 * the new index (etcd's `bcastAppend`). Under a steady stream of proposals
 * the next append, which carries the commit index too, follows within a
 * millisecond or so; a notice held briefly is then superseded and never
 * sent, which spares each follower a Ready cycle and an answer per commit,
 * and the leader the answers — on a busy machine, at the moment the next
 * proposal needs the processors. A notice is only ever delayed by
 * {@link COMMIT_NOTICE_HOLD_MS}: followers learn a commit that late at most.
 * Nothing on a follower waits for that: its reads that must be current use
 * ReadIndex (whose heartbeats carry the commit index), and a follower that
 * forwarded a proposal and waits to apply it gets the notice that commits it
 * at once ({@link CommitNotices.awaited}).
 *
 * @module
 */

import type { Message } from "../raft/mod.ts";
import { MessageType } from "../raft/mod.ts";

/** The longest a commit notice waits for an append that supersedes it. */
export const COMMIT_NOTICE_HOLD_MS = 5;

/** Whether `message` is a commit notice: a leader's append without entries. */
export function isCommitNotice(message: Message): boolean {
  return message.type === MessageType.App && message.entries.length === 0;
}

/** Timer functions, replaceable in tests. */
export interface NoticeTimers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: NoticeTimers = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The notices held per follower; the newest replaces an older one. */
export class CommitNotices {
  readonly #send: (message: Message) => void;
  readonly #timers: NoticeTimers;
  readonly #held = new Map<string, Message>();
  /** Per follower, the last index of a proposal it forwarded and waits to apply. */
  readonly #awaited = new Map<string, number>();
  #timer: unknown;

  constructor(send: (message: Message) => void, timers: NoticeTimers = realTimers) {
    this.#send = send;
    this.#timers = timers;
  }

  /** Notes that `follower` forwarded a proposal that ends at `index` and waits for its commit. */
  awaited(follower: string, index: number): void {
    this.#awaited.set(follower, Math.max(index, this.#awaited.get(follower) ?? 0));
  }

  /**
   * Sends `notice` at once when it commits a proposal its follower waits for;
   * otherwise holds it until {@link COMMIT_NOTICE_HOLD_MS} passes or an
   * append to its follower supersedes it.
   */
  offer(notice: Message): void {
    const awaited = this.#awaited.get(notice.to);
    if (awaited !== undefined && notice.commit >= awaited) {
      this.#awaited.delete(notice.to);
      this.#held.delete(notice.to);
      this.#send(notice);
      return;
    }
    this.#held.set(notice.to, notice);
    this.#timer ??= this.#timers.set(() => {
      this.#timer = undefined;
      this.flush();
    }, COMMIT_NOTICE_HOLD_MS);
  }

  /**
   * Drops the notice held for `message.to` when `message`, about to be sent,
   * is an append: it carries a commit index at least as new.
   */
  supersede(message: Message): void {
    if (message.type !== MessageType.App) return;
    this.#held.delete(message.to);
    if (message.commit >= (this.#awaited.get(message.to) ?? Infinity)) {
      this.#awaited.delete(message.to);
    }
  }

  /** Sends every held notice now. */
  flush(): void {
    const held = [...this.#held.values()];
    this.#held.clear();
    held.forEach(this.#send);
  }

  /** Drops every held notice and the timer (the node stops). */
  clear(): void {
    this.#held.clear();
    this.#awaited.clear();
    if (this.#timer !== undefined) this.#timers.clear(this.#timer);
    this.#timer = undefined;
  }
}
