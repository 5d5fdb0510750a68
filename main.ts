/**
 * The `ukai` program: hands the command line to the CLI and exits with its
 * code. Run it with `deno task ukai ARGS` from a checkout.
 *
 * @module
 */

import { processEnvironment } from "./cli/context.ts";
import { runCli } from "./cli/program.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args, processEnvironment()));
}
