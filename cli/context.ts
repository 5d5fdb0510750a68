/**
 * What every client command shares: the control client (from `--control`,
 * then `UKAI_CONTROL`, then the default socket; an `http://` address uses
 * TCP with the token from `--token-file` or `UKAI_TOKEN_FILE`), the terminal,
 * Ctrl-C, and the mapping from errors to one line on stderr and an exit code
 * (0 ok, 1 failed, 2 usage, 3 cannot reach the server, 130 interrupted).
 *
 * @module
 */

import { describeError, ERROR_TABLE, EXIT, UkaiError } from "../base/errors.ts";
import { ControlClient, DEFAULT_CONTROL_SOCKET } from "../control/client.ts";
import { processTerminal, style, type Terminal } from "./output.ts";

/** Options every client command takes. */
export interface ClientOptions {
  control?: string;
  tokenFile?: string;
  json?: boolean;
}

/** The environment of one CLI run. */
export interface CliEnvironment {
  readonly terminal: Terminal;
  readonly env: (name: string) => string | undefined;
  /** Calls `listener` on Ctrl-C until the returned function is called. */
  readonly onInterrupt: (listener: () => void) => () => void;
}

/** The environment of the `ukai` process: its terminal, variables and Ctrl-C. */
export function processEnvironment(): CliEnvironment {
  return {
    terminal: processTerminal(),
    env: (name) => Deno.env.get(name),
    onInterrupt: (listener) => {
      Deno.addSignalListener("SIGINT", listener);
      return () => Deno.removeSignalListener("SIGINT", listener);
    },
  };
}

/** Thrown by commands to end with an exit code after printing. */
export class ExitError extends Error {
  constructor(readonly exitCode: number, message = "") {
    super(message);
  }
}

async function readToken(path: string): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trim();
  } catch (error) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `Cannot read the token file ${path}: ${describeError(error)}`,
    );
  }
}

/** The control client for `options`. */
export async function clientFor(
  environment: CliEnvironment,
  options: ClientOptions,
): Promise<ControlClient> {
  const control = options.control ?? environment.env("UKAI_CONTROL") ?? DEFAULT_CONTROL_SOCKET;
  if (!/^https?:\/\//.test(control)) return new ControlClient({ socketPath: control });
  const tokenFile = options.tokenFile ?? environment.env("UKAI_TOKEN_FILE");
  if (tokenFile === undefined) {
    throw new UkaiError(
      "INVALID_ARGUMENT",
      `The control API at ${control} needs a bearer token: give --token-file or UKAI_TOKEN_FILE`,
    );
  }
  return new ControlClient({ url: control, token: await readToken(tokenFile) });
}

/** The API path of image `name`. */
export function imagePath(name: string): string {
  return `/v1/images/${encodeURIComponent(name)}`;
}

/** Runs `action` with a client for `options`, closing it afterwards. */
export async function withClient(
  environment: CliEnvironment,
  options: ClientOptions,
  action: (client: ControlClient) => Promise<void>,
): Promise<void> {
  const client = await clientFor(environment, options);
  try {
    await action(client);
  } finally {
    client.close();
  }
}

/** Prints `error` as one line on stderr and returns the exit code it stands for. */
export function reportError(terminal: Terminal, error: unknown): number {
  const red = style(terminal).red;
  if (error instanceof ExitError) {
    if (error.message !== "") terminal.err(`${error.message}\n`);
    return error.exitCode;
  }
  const message = describeError(error).replace(/\s*\n\s*/g, " ");
  terminal.err(`${red("error:")} ${message}\n`);
  return error instanceof UkaiError ? ERROR_TABLE[error.code].exit : EXIT.failed;
}
