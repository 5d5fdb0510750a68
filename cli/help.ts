/**
 * Help text shared by the command tree: every command ends its `--help` with
 * examples, and the top level explains how commands find the server, which
 * environment variables count, and what the exit codes mean.
 *
 * @module
 */

import type { Command } from "commander";

/** Appends an "Examples:" section to `command`'s help. */
export function examples<C extends Command>(command: C, ...lines: string[]): C {
  return command.addHelpText(
    "after",
    `\nExamples:\n${lines.map((line) => `  $ ${line}`).join("\n")}\n`,
  );
}

/** The end of `ukai --help`. */
export const PROGRAM_EPILOGUE = `
Client commands ask one node through its control API: --control PATH (or UKAI_CONTROL), default
/run/ukai/control.sock (mode 0600: run them as root). An http://HOST:PORT address uses the TCP
listener with the bearer token read from --token-file (or UKAI_TOKEN_FILE).

Reading commands take --json and print the API's answer with stable field names (docs/api.md).
Tables are for people; colours only on a terminal, and never with NO_COLOR set.

Exit codes: 0 ok, 1 the operation failed or was refused, 2 usage error (bad option or value),
3 the server cannot be reached, 130 stopped waiting with Ctrl-C (the operation goes on).

Examples:
  $ ukai status
  $ ukai image add vm1 --size 20G --location n1 --location n2
  $ ukai image move vm1 --from n2 --to n3
  $ ukai image info vm1 --json
`;
