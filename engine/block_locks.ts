/**
 * Per-block readers-writer locks on the owner. Writes to a block hold it
 * shared (many at once); a resync or repair of the block holds it exclusive,
 * so no write lands between copying a block and marking the copy in sync
 * (design rule 5: a write during a resync is never lost or overwritten).
 * Waiters are served in arrival order, so a resync cannot starve writes and
 * writes cannot starve a resync.
 *
 * @module
 */

import { assert } from "../base/assert.ts";

interface Waiter {
  readonly exclusive: boolean;
  readonly resume: () => void;
}

interface BlockLock {
  shared: number;
  exclusive: boolean;
  readonly waiters: Waiter[];
}

/** Releases a lock; call exactly once. */
export type Unlock = () => void;

/** Readers-writer locks keyed by block index; idle locks are forgotten. */
export class BlockLocks {
  readonly #locks = new Map<number, BlockLock>();
  readonly #beforeExclusive: () => void;

  /** `beforeExclusive` runs before every exclusive request (to end what a shared hold implies). */
  constructor(beforeExclusive: () => void = () => {}) {
    this.#beforeExclusive = beforeExclusive;
  }

  /** Number of blocks with a holder or a waiter (for tests and status). */
  get size(): number {
    return this.#locks.size;
  }

  /** Takes `block` shared (for a write). */
  shared(block: number): Promise<Unlock> {
    return this.#acquire(block, false);
  }

  /** Takes `block` exclusive (for a resync or repair). */
  exclusive(block: number): Promise<Unlock> {
    this.#beforeExclusive();
    return this.#acquire(block, true);
  }

  /** Takes a shared hold right away if no one waits or holds it exclusive; null otherwise. */
  trySharedNow(block: number): Unlock | null {
    const lock = this.#locks.get(block);
    if (lock !== undefined && (lock.exclusive || lock.waiters.length > 0)) return null;
    const held = lock ?? this.#create(block);
    held.shared++;
    return this.#unlocker(block, false);
  }

  #create(block: number): BlockLock {
    const lock: BlockLock = { shared: 0, exclusive: false, waiters: [] };
    this.#locks.set(block, lock);
    return lock;
  }

  #acquire(block: number, exclusive: boolean): Promise<Unlock> {
    const lock = this.#locks.get(block) ?? this.#create(block);
    const free = exclusive ? lock.shared === 0 && !lock.exclusive : !lock.exclusive;
    if (free && lock.waiters.length === 0) {
      if (exclusive) lock.exclusive = true;
      else lock.shared++;
      return Promise.resolve(this.#unlocker(block, exclusive));
    }
    return new Promise((resolve) => {
      lock.waiters.push({ exclusive, resume: () => resolve(this.#unlocker(block, exclusive)) });
    });
  }

  #unlocker(block: number, exclusive: boolean): Unlock {
    let released = false;
    return () => {
      assert(!released, "a block lock was released twice");
      released = true;
      const lock = this.#locks.get(block);
      assert(lock !== undefined, "released a lock that is not held");
      if (exclusive) lock.exclusive = false;
      else lock.shared--;
      assert(lock.shared >= 0, "shared count went negative");
      this.#wake(block, lock);
    };
  }

  #wake(block: number, lock: BlockLock): void {
    while (lock.waiters.length > 0 && !lock.exclusive) {
      const next = lock.waiters[0] as Waiter;
      if (next.exclusive && lock.shared > 0) break;
      lock.waiters.shift();
      if (next.exclusive) lock.exclusive = true;
      else lock.shared++;
      next.resume();
      if (next.exclusive) break;
    }
    if (lock.shared === 0 && !lock.exclusive && lock.waiters.length === 0) {
      this.#locks.delete(block);
    }
  }
}
