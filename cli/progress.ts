/**
 * Progress of a long operation (sync, move, location add --wait): on a
 * terminal a bar redrawn in place with bytes, rate and ETA; otherwise a plain
 * line every few seconds (and at the end), which logs and scripts can read.
 *
 * @module
 */

import { duration, size, style, type Terminal } from "./output.ts";

/** Milliseconds between progress lines when not on a terminal. */
export const LINE_INTERVAL_MS = 2000;

/** The window over which the rate is measured. */
const RATE_WINDOW_MS = 10_000;

/** Samples kept for the rate (bounded; one per poll). */
const SAMPLES_MAX = 64;

/** One progress display. */
export class Progress {
  readonly #terminal: Terminal;
  readonly #label: string;
  readonly #now: () => number;
  readonly #samples: { atMs: number; done: number }[] = [];
  #lastLineMs = -Infinity;
  #completeShown = false;
  #drawn = false;

  constructor(terminal: Terminal, label: string, now: () => number = () => performance.now()) {
    this.#terminal = terminal;
    this.#label = label;
    this.#now = now;
  }

  /** Units per second over the last {@link RATE_WINDOW_MS}. */
  #rate(nowMs: number, done: number): number {
    this.#samples.push({ atMs: nowMs, done });
    while (
      this.#samples.length > SAMPLES_MAX ||
      (this.#samples.length > 2 && nowMs - (this.#samples[0]?.atMs ?? nowMs) > RATE_WINDOW_MS)
    ) {
      this.#samples.shift();
    }
    const first = this.#samples[0] ?? { atMs: nowMs, done };
    return nowMs > first.atMs ? (done - first.done) / ((nowMs - first.atMs) / 1000) : 0;
  }

  /** Shows `done` of `total` blocks of `blockSize` bytes. */
  update(done: number, total: number, blockSize: number): void {
    const nowMs = this.#now();
    const rate = this.#rate(nowMs, done);
    const fraction = total === 0 ? 1 : Math.min(1, done / total);
    const percent = `${Math.floor(fraction * 100)}%`;
    const eta = done >= total
      ? "done"
      : rate > 0
      ? `ETA ${duration((total - done) / rate)}`
      : "ETA --";
    const bytes = `${size(done * blockSize)} of ${size(total * blockSize)}`;
    const speed = `${size(rate * blockSize)}/s`;
    if (this.#terminal.interactive) {
      const width = Math.max(10, Math.min(40, this.#terminal.columns - 72));
      const filled = Math.round(fraction * width);
      const done = filled === 0 ? "" : style(this.#terminal).green("█".repeat(filled));
      const bar = done + "░".repeat(width - filled);
      this.#terminal.out(
        `\r\x1b[2K${this.#label} ${bar} ${percent.padStart(4)}  ${bytes}  ${speed}  ${eta}`,
      );
      this.#drawn = true;
      return;
    }
    const complete = done >= total;
    if (this.#completeShown) return;
    if (!complete && nowMs - this.#lastLineMs < LINE_INTERVAL_MS) return;
    this.#lastLineMs = nowMs;
    this.#completeShown = complete;
    this.#terminal.out(
      `${this.#label}: ${percent} (${done}/${total} blocks, ${bytes}) ${speed} ${eta}\n`,
    );
  }

  /** Ends the display: `message` goes on its own line (stderr when `toErr`). */
  finish(message: string, options: { toErr?: boolean } = {}): void {
    if (this.#drawn) this.#terminal.out("\n");
    this.#drawn = false;
    if (options.toErr) this.#terminal.err(`${message}\n`);
    else this.#terminal.out(`${message}\n`);
  }
}
