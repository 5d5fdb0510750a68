/**
 * `ukai serve`: reads the config file and flags, starts the node (mount,
 * block server, metadata member, control API), tells systemd when ready,
 * and stops cleanly on SIGINT or SIGTERM (unmount, finish in-flight
 * requests, release owned images). Every failure to start is one clear line
 * and a non-zero exit.
 *
 * @module
 */

import { Command, Option } from "commander";
import { UkaiError } from "../base/errors.ts";
import { stderrLogger } from "../base/log.ts";
import { parseConfigFile, resolveConfig, settingKey, SETTINGS } from "../daemon/config.ts";
import { startNode } from "../daemon/node.ts";
import { notifyReady, notifyStopping } from "../daemon/systemd.ts";
import { examples } from "./help.ts";

/** The default config file, read when present. */
export const DEFAULT_CONFIG_FILE = "/etc/ukai/ukai.toml";

async function readConfigFile(path: string, explicit: boolean): Promise<Record<string, unknown>> {
  try {
    return parseConfigFile(await Deno.readTextFile(path), path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && !explicit) return {};
    if (error instanceof Deno.errors.NotFound) {
      throw new UkaiError("CONFIG", `Config file ${path} does not exist`);
    }
    throw error;
  }
}

/** The `serve` command. */
export function serveCommand(): Command {
  const command = examples(
    new Command("serve")
      .description("run this node: FUSE mount, block server, metadata member and control API")
      .option("--config <file>", `config file (default ${DEFAULT_CONFIG_FILE} when it exists)`)
      .addHelpText(
        "after",
        "\nEvery option can also be set in the config file under the same name, without the dashes\n" +
          '(resync-rate = "100M"); flags win over the file. Logs go to stderr, one key=value line each.\n',
      ),
    "ukai serve --node-id n1 --data /var/lib/ukai --mount /ukai --listen 10.0.0.1:7850",
    "ukai serve --node-id n2 --listen 10.0.0.2:7850 --join 10.0.0.1:7850 --secret-file /etc/ukai/secret",
    "ukai serve --config /etc/ukai/ukai.toml --log-level debug",
  );
  for (const entry of SETTINGS) {
    const key = settingKey(entry.field);
    const takesValue = !["bootstrap", "learner", "allowOther"].includes(entry.field);
    command.addOption(new Option(takesValue ? `--${key} <value>` : `--${key}`, entry.help));
  }
  command.addOption(new Option("--no-allow-other", "only root may open the mount"));
  command.action(async (options: Record<string, unknown>) => {
    const explicit = typeof options.config === "string";
    const filePath = explicit ? options.config as string : DEFAULT_CONFIG_FILE;
    const file = await readConfigFile(filePath, explicit);
    const flags: Record<string, unknown> = {};
    for (const entry of SETTINGS) flags[entry.field] = options[entry.field];
    const config = resolveConfig(file, flags, filePath);
    const logger = stderrLogger(config.logLevel, {
      syslogPrefix: (Deno.env.get("JOURNAL_STREAM") ?? "") !== "",
    });
    const node = await startNode(config, logger);
    await notifyReady(logger);
    const onSignal = (signal: string) => () => {
      void notifyStopping();
      void node.stop(`received ${signal}`);
    };
    const onInt = onSignal("SIGINT");
    const onTerm = onSignal("SIGTERM");
    Deno.addSignalListener("SIGINT", onInt);
    Deno.addSignalListener("SIGTERM", onTerm);
    try {
      await node.stopped;
    } finally {
      Deno.removeSignalListener("SIGINT", onInt);
      Deno.removeSignalListener("SIGTERM", onTerm);
    }
  });
  return command;
}
