/**
 * The `ukai` program: hands the command line to the CLI and exits with its
 * code. Run it with `deno task ukai ARGS` from a checkout.
 *
 * @module
 */

import { runCli } from "./cli/program.ts";
import { processTerminal } from "./cli/output.ts";

if (import.meta.main) {
  const code = await runCli(Deno.args, {
    terminal: processTerminal(),
    env: (name) => Deno.env.get(name),
  });
  Deno.exit(code);
}
