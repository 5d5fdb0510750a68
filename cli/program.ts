/**
 * The `ukai` command: one program whose subcommands pick the role — `serve`
 * runs a node, the others talk to a running node over its control API.
 * Exit codes: 0 ok, 1 the operation failed, 2 usage error, 3 the server
 * cannot be reached, 130 interrupted while waiting.
 *
 * @module
 */

import { Command, CommanderError } from "commander";
import { EXIT } from "../base/errors.ts";
import { UKAI_VERSION } from "../daemon/node.ts";
import { type CliEnvironment, reportError } from "./context.ts";
import { PROGRAM_EPILOGUE } from "./help.ts";
import { imageCommands } from "./image_commands.ts";
import { nodeCommands } from "./node_commands.ts";
import { style } from "./output.ts";
import { placementCommands } from "./placement_commands.ts";
import { serveCommand } from "./serve_command.ts";

/** Settings every command of the tree shares; leaves that call the API get --control. */
function configure(command: Command, environment: CliEnvironment, isClient: boolean): void {
  const { terminal } = environment;
  const path: string[] = [];
  for (let at: Command | null = command; at !== null; at = at.parent) path.unshift(at.name());
  command
    .exitOverride()
    .configureOutput({
      writeOut: (text) => terminal.out(text),
      writeErr: (text) => terminal.err(text),
      outputError: (text, write) =>
        write(
          `${style(terminal).red("error:")}${
            text.trim().replace(/^error:/, "").replace(/\s*\n\s*/g, " ")
          } ` +
            `(see: ${path.join(" ")} --help)\n`,
        ),
    });
  if (isClient && command.commands.length === 0) {
    command
      .option("--control <path|url>", "the node's control socket, or http://HOST:PORT")
      .option("--token-file <file>", "bearer token for an http:// control address");
  }
  for (const child of command.commands) {
    configure(child, environment, isClient && child.name() !== "serve");
  }
}

/** Builds the command tree for `environment`. */
export function buildProgram(environment: CliEnvironment): Command {
  const program = new Command("ukai")
    .description("ukai: replicated, location-aware storage for VM disk images")
    .version(UKAI_VERSION)
    .addHelpText("after", PROGRAM_EPILOGUE);
  program.addCommand(serveCommand());
  program.addCommand(imageCommands(environment));
  for (const command of placementCommands(environment)) program.addCommand(command);
  for (const command of nodeCommands(environment)) program.addCommand(command);
  configure(program, environment, true);
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
      const done = ["commander.helpDisplayed", "commander.version"].includes(error.code);
      return done ? EXIT.ok : EXIT.usage;
    }
    return reportError(environment.terminal, error);
  }
}
