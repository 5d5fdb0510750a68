/**
 * Gathers items submitted in the same instant and hands them to `send` as one
 * batch, with at most one batch in flight; items submitted meanwhile form the
 * next batch. Every submitter's promise settles with its batch. Used to turn
 * many concurrent metadata changes into few Raft commands.
 *
 * @module
 */

interface Pending<Item> {
  readonly item: Item;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Batches items for a sender that takes a whole batch at once. */
export class SerialBatcher<Item> {
  readonly #send: (items: Item[]) => Promise<void>;
  #queue: Pending<Item>[] = [];
  #sending = false;
  #scheduled = false;

  constructor(send: (items: Item[]) => Promise<void>) {
    this.#send = send;
  }

  /** Items waiting for the next batch (not counting the one in flight). */
  get queued(): number {
    return this.#queue.length;
  }

  /** Adds `item` to the next batch; settles when that batch has been sent. */
  submit(item: Item): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#sending || this.#queue.length === 0) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      void this.#sendBatch();
    });
  }

  async #sendBatch(): Promise<void> {
    if (this.#sending || this.#queue.length === 0) return;
    this.#sending = true;
    const batch = this.#queue;
    this.#queue = [];
    try {
      await this.#send(batch.map((pending) => pending.item));
      for (const pending of batch) pending.resolve();
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    } finally {
      this.#sending = false;
      this.#schedule();
    }
  }
}
