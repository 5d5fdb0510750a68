/**
 * What every client command shares: the control client (socket from
 * `--control`, then `UKAI_CONTROL`, then the default), the terminal, and the
 * mapping from errors to one line on stderr and an exit code
 * (0 ok, 1 failed, 2 usage, 3 cannot reach the server).
 *
 * @module
 */

import { describeError, ERROR_TABLE, EXIT, UkaiError } from "../base/errors.ts";
import { ControlClient, DEFAULT_CONTROL_SOCKET } from "../control/client.ts";
import { style, type Terminal } from "./output.ts";

/** Options every client command takes. */
export interface ClientOptions {
  control?: string;
  json?: boolean;
}

/** The environment of one CLI run. */
export interface CliEnvironment {
  readonly terminal: Terminal;
  readonly env: (name: string) => string | undefined;
}

/** Thrown by commands to end with an exit code after printing. */
export class ExitError extends Error {
  constructor(readonly exitCode: number, message = "") {
    super(message);
  }
}

/** The control client for `options`. */
export function clientFor(environment: CliEnvironment, options: ClientOptions): ControlClient {
  const socketPath = options.control ?? environment.env("UKAI_CONTROL") ?? DEFAULT_CONTROL_SOCKET;
  return new ControlClient({ socketPath });
}

/** Prints `error` as one line and returns the exit code it stands for. */
export function reportError(terminal: Terminal, error: unknown): number {
  const red = style(terminal).red;
  if (error instanceof ExitError) {
    if (error.message !== "") terminal.err(`${red("error:")} ${error.message}\n`);
    return error.exitCode;
  }
  if (error instanceof UkaiError) {
    terminal.err(`${red("error:")} ${error.message}\n`);
    const blocks = error.details?.blocks;
    if (Array.isArray(blocks) && blocks.length > 0 && error.code === "LAST_IN_SYNC_LOCATION") {
      terminal.err(`blocks: ${JSON.stringify(blocks)}\n`);
    }
    return ERROR_TABLE[error.code].exit;
  }
  terminal.err(`${red("error:")} ${describeError(error)}\n`);
  return EXIT.failed;
}
