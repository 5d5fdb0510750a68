/**
 * Progress of a long operation (sync, move, location add --wait): on a
 * terminal a bar redrawn in place with rate and ETA; otherwise a plain line
 * every few seconds, which logs and scripts can read.
 *
 * @module
 */

import { duration, size, style, type Terminal } from "./output.ts";

/** Seconds between progress lines when not on a terminal. */
const LINE_INTERVAL_MS = 2000;

/** One progress display. */
export class Progress {
  readonly #terminal: Terminal;
  readonly #label: string;
  readonly #now: () => number;
  #lastLineMs = -Infinity;
  readonly #history: { atMs: number; done: number }[] = [];
  #drawn = false;

  constructor(terminal: Terminal, label: string, now: () => number = () => performance.now()) {
    this.#terminal = terminal;
    this.#label = label;
    this.#now = now;
  }

  /** Rate in units per second over the last ~10 s of updates. */
  #rate(done: number): number {
    const now = this.#now();
    this.#history.push({ atMs: now, done });
    while (this.#history.length > 2 && now - (this.#history[0] as { atMs: number }).atMs > 10_000) {
      this.#history.shift();
    }
    const first = this.#history[0] as { atMs: number; done: number };
    return now > first.atMs ? (done - first.done) / ((now - first.atMs) / 1000) : 0;
  }

  /** Shows `done` of `total` blocks of `blockSize` bytes. */
  update(done: number, total: number, blockSize: number): void {
    const rate = this.#rate(done);
    const fraction = total === 0 ? 1 : Math.min(1, done / total);
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    const eta = rate > 0 ? `ETA ${duration((total - done) / rate)}` : "ETA --";
    const bytes = `${size(done * blockSize)} / ${size(total * blockSize)}`;
    const speed = `${size(rate * blockSize)}/s`;
    if (this.#terminal.interactive) {
      const width = Math.max(10, Math.min(40, this.#terminal.columns - 70));
      const filled = Math.round(fraction * width);
      const bar = style(this.#terminal).green("#".repeat(filled)) + ".".repeat(width - filled);
      this.#terminal.out(`\r\x1b[2K${this.#label} [${bar}] ${percent} ${bytes} ${speed} ${eta}`);
      this.#drawn = true;
      return;
    }
    const now = this.#now();
    if (now - this.#lastLineMs < LINE_INTERVAL_MS && done < total) return;
    this.#lastLineMs = now;
    this.#terminal.out(
      `${this.#label}: ${percent.trim()} (${done}/${total} blocks, ${bytes}) ${speed} ${eta}\n`,
    );
  }

  /** Ends the display with `message`. */
  finish(message: string): void {
    if (this.#drawn) this.#terminal.out("\n");
    this.#terminal.out(`${message}\n`);
  }
}
