/**
 * Commit notices held back for a moment. When the leader's commit index
 * moves, the core sends each follower an append without entries that carries
 * the new index (etcd's `bcastAppend`). Under a steady stream of proposals
 * the next append, which carries the commit index too, follows within a
 * fraction of a millisecond; a notice held briefly is then superseded and
 * never sent, which spares each follower a Ready cycle and an answer per
 * commit, and the leader the answers. A notice is only ever delayed by
 * {@link COMMIT_NOTICE_HOLD_MS}: followers learn each commit that late at
 * most (their reads that must be current use ReadIndex, whose heartbeats
 * carry the commit index anyway).
 *
 * @module
 */

import type { Message } from "../raft/mod.ts";
import { MessageType } from "../raft/mod.ts";

/** The longest a commit notice waits for an append that supersedes it. */
export const COMMIT_NOTICE_HOLD_MS = 1;

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
  #timer: unknown;

  constructor(send: (message: Message) => void, timers: NoticeTimers = realTimers) {
    this.#send = send;
    this.#timers = timers;
  }

  /** Holds `notice` until {@link COMMIT_NOTICE_HOLD_MS} passes or an append to its follower. */
  hold(notice: Message): void {
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
    if (message.type === MessageType.App) this.#held.delete(message.to);
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
    if (this.#timer !== undefined) this.#timers.clear(this.#timer);
    this.#timer = undefined;
  }
}
