/**
 * Test helper: a terminal that records what the CLI prints, interactive or
 * not, with or without colours, and an environment around it whose Ctrl-C
 * the test presses.
 */

import type { CliEnvironment } from "./context.ts";
import type { Terminal } from "./output.ts";

/** A terminal that keeps its output. */
export class FakeTerminal implements Terminal {
  stdout = "";
  stderr = "";
  readonly interactive: boolean;
  readonly colors: boolean;
  readonly columns: number;

  constructor(options: { interactive?: boolean; colors?: boolean; columns?: number } = {}) {
    this.interactive = options.interactive ?? false;
    this.colors = options.colors ?? false;
    this.columns = options.columns ?? 100;
  }

  out(text: string): void {
    this.stdout += text;
  }

  err(text: string): void {
    this.stderr += text;
  }
}

/** A CLI environment for tests. */
export interface FakeEnvironment extends CliEnvironment {
  readonly terminal: FakeTerminal;
  /** Presses Ctrl-C. */
  interrupt(): void;
}

/** An environment with `variables` and a fake terminal. */
export function fakeEnvironment(
  variables: Record<string, string> = {},
  terminal = new FakeTerminal(),
): FakeEnvironment {
  const listeners = new Set<() => void>();
  return {
    terminal,
    env: (name) => variables[name],
    onInterrupt: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    interrupt: () => listeners.forEach((listener) => listener()),
  };
}
