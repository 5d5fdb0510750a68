/**
 * Replays of retried requests: a mutating request that carries an
 * `Idempotency-Key` runs once per key; a retry with the same key and the same
 * request gets the first answer (waiting for it while it is still running),
 * and a different request under a used key is refused. Answers meaning "not
 * now" (5xx) are not kept, so a retry after them runs again. Metadata
 * commands also carry the key as their request id, so a retry through
 * another node is applied once as well.
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import type { HttpReply } from "./http_server.ts";

/** Keys remembered per node; the oldest is forgotten first. */
export const IDEMPOTENCY_KEYS_MAX = 4096;

interface Entry {
  readonly fingerprint: string;
  readonly answer: Promise<HttpReply>;
}

/** The answers of recent idempotent requests by key. */
export class IdempotencyCache {
  readonly #entries = new Map<string, Entry>();
  readonly #capacity: number;

  constructor(capacity = IDEMPOTENCY_KEYS_MAX) {
    this.#capacity = capacity;
  }

  /**
   * Runs `produce` for the first request with `key`; later ones with the same
   * `fingerprint` (method, path, query and body) get its answer.
   *
   * @throws {UkaiError} CONFLICT when `key` was used for a different request
   */
  async run(
    key: string,
    fingerprint: string,
    produce: () => Promise<HttpReply>,
  ): Promise<HttpReply> {
    const earlier = this.#entries.get(key);
    if (earlier !== undefined) {
      if (earlier.fingerprint !== fingerprint) {
        throw new UkaiError(
          "CONFLICT",
          `Idempotency-Key "${key}" was already used for a different request`,
        );
      }
      return await earlier.answer;
    }
    const answer = produce();
    this.#entries.set(key, { fingerprint, answer });
    while (this.#entries.size > this.#capacity) {
      this.#entries.delete(this.#entries.keys().next().value as string);
    }
    const forget = () => {
      if (this.#entries.get(key)?.answer === answer) this.#entries.delete(key);
    };
    try {
      const result = await answer;
      if (result.status >= 500) forget();
      return result;
    } catch (error) {
      forget();
      throw error;
    }
  }

  /** How many keys are remembered. */
  get size(): number {
    return this.#entries.size;
  }
}
