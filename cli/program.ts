/**
 * The `ukai` command: one program whose subcommands pick the role — `serve`
 * runs a node, the others talk to a running node over its control socket.
 * Exit codes: 0 ok, 1 the operation failed, 2 usage error, 3 the server
 * cannot be reached.
 *
 * @module
 */

import { Command, CommanderError } from "commander";
import { EXIT } from "../base/errors.ts";
import { UKAI_VERSION } from "../daemon/node.ts";
import { type CliEnvironment, reportError } from "./context.ts";
import { imageCommands } from "./image_commands.ts";
import { nodeCommands } from "./node_commands.ts";
import { serveCommand } from "./serve_command.ts";

/** Builds the command tree for `environment`. */
export function buildProgram(environment: CliEnvironment): Command {
  const { terminal } = environment;
  const program = new Command("ukai")
    .description("ukai: replicated, location-aware storage for VM disk images")
    .version(UKAI_VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText(
      "after",
      "\nEvery client command takes --control PATH (or UKAI_CONTROL) to reach a node's control socket\n" +
        "(default /run/ukai/control.sock). Exit codes: 0 ok, 1 failed, 2 usage error, 3 server unreachable.\n",
    )
    .exitOverride()
    .configureOutput({
      writeOut: (text) => terminal.out(text),
      writeErr: (text) => terminal.err(text),
    });
  program.addCommand(serveCommand());
  for (const command of [...imageCommands(environment), ...nodeCommands(environment)]) {
    program.addCommand(command);
  }
  const addControl = (command: Command) => {
    if (command.name() !== "serve" && command.commands.length === 0) {
      command.option("--control <path>", "control socket of the node to ask");
    }
    command.exitOverride();
    command.configureOutput({
      writeOut: (text) => terminal.out(text),
      writeErr: (text) => terminal.err(text),
    });
    command.commands.forEach(addControl);
  };
  program.commands.forEach(addControl);
  return program;
}

/** Runs the CLI with `args` and returns the exit code. */
export async function runCli(args: string[], environment: CliEnvironment): Promise<number> {
  const program = buildProgram(environment);
  try {
    await program.parseAsync(args, { from: "user" });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (["commander.helpDisplayed", "commander.version", "commander.help"].includes(error.code)) {
        return EXIT.ok;
      }
      return EXIT.usage;
    }
    return reportError(environment.terminal, error);
  }
}
