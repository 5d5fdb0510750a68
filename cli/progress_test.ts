/**
 * Snapshot tests of the progress display: the bar redrawn in place on a
 * terminal (with and without colours) and the plain lines elsewhere.
 */

import assert from "node:assert/strict";
import { FakeTerminal } from "./_test_terminal.ts";
import { LINE_INTERVAL_MS, Progress } from "./progress.ts";

const MiB = 1024 * 1024;

function clock() {
  let nowMs = 0;
  return { now: () => nowMs, advance: (ms: number) => (nowMs += ms) };
}

Deno.test("Progress on a terminal redraws one line with a bar, bytes, rate and ETA", () => {
  const terminal = new FakeTerminal({ interactive: true, columns: 92 });
  const time = clock();
  const progress = new Progress(terminal, "move vm1", time.now);
  progress.update(0, 16, MiB);
  time.advance(1000);
  progress.update(4, 16, MiB);
  time.advance(1000);
  progress.update(16, 16, MiB);
  progress.finish("vm1 moved from n2 to n3");
  const frames = terminal.stdout.split("\r\x1b[2K").slice(1);
  assert.deepEqual(frames, [
    "move vm1 ░░░░░░░░░░░░░░░░░░░░   0%  0 B of 16.0 MiB  0 B/s  ETA --",
    "move vm1 █████░░░░░░░░░░░░░░░  25%  4.0 MiB of 16.0 MiB  4.0 MiB/s  ETA 3s",
    "move vm1 ████████████████████ 100%  16.0 MiB of 16.0 MiB  8.0 MiB/s  done\nvm1 moved from n2 to n3\n",
  ]);
  assert.equal(terminal.stderr, "");
});

Deno.test("Progress on a colour terminal paints the done part of the bar green", () => {
  const terminal = new FakeTerminal({ interactive: true, colors: true, columns: 82 });
  const progress = new Progress(terminal, "sync vm1", () => 0);
  progress.update(5, 10, MiB);
  assert.ok(terminal.stdout.includes("\x1b[32m█████\x1b[0m░░░░░  50%"), terminal.stdout);
});

Deno.test("Progress elsewhere prints a plain line every few seconds and one at the end", () => {
  const terminal = new FakeTerminal({ interactive: false });
  const time = clock();
  const progress = new Progress(terminal, "sync vm1", time.now);
  for (let done = 0; done <= 8; done++) {
    progress.update(done, 8, 4 * MiB);
    time.advance(LINE_INTERVAL_MS / 2);
  }
  progress.update(8, 8, 4 * MiB);
  progress.finish("vm1 is in sync");
  assert.equal(
    terminal.stdout,
    [
      "sync vm1: 0% (0/8 blocks, 0 B of 32.0 MiB) 0 B/s ETA --",
      "sync vm1: 25% (2/8 blocks, 8.0 MiB of 32.0 MiB) 4.0 MiB/s ETA 6s",
      "sync vm1: 50% (4/8 blocks, 16.0 MiB of 32.0 MiB) 4.0 MiB/s ETA 4s",
      "sync vm1: 75% (6/8 blocks, 24.0 MiB of 32.0 MiB) 4.0 MiB/s ETA 2s",
      "sync vm1: 100% (8/8 blocks, 32.0 MiB of 32.0 MiB) 4.0 MiB/s done",
      "vm1 is in sync",
      "",
    ].join("\n"),
  );
});

Deno.test("Progress.finish() can put its message on stderr (Ctrl-C, timeouts)", () => {
  const terminal = new FakeTerminal({ interactive: true });
  const progress = new Progress(terminal, "sync vm1", () => 0);
  progress.update(1, 2, MiB);
  progress.finish("stopped waiting", { toErr: true });
  assert.ok(terminal.stdout.endsWith("\n"), "the bar's line is ended");
  assert.equal(terminal.stderr, "stopped waiting\n");
});
