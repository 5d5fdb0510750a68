/**
 * `ukai location add|remove` (which nodes hold copies of which blocks) and
 * `ukai hypervisor add|remove` (which nodes may run the image's VM), as in
 * the original UKAI's add_location / remove_location / add_hypervisor /
 * remove_hypervisor.
 *
 * @module
 */

import { Command } from "commander";
import type { HypervisorList, LocationAdded, LocationRemoved } from "../control/api_types.ts";
import { type ClientOptions, type CliEnvironment, imagePath, withClient } from "./context.ts";
import { examples } from "./help.ts";
import { printJson } from "./output.ts";
import { timeoutOf, type WaitingOptions } from "./relocation_commands.ts";
import { waitFor } from "./wait.ts";

function locationCommands(environment: CliEnvironment): Command {
  const { terminal } = environment;
  const location = new Command("location").description("add or remove copies of an image's blocks");

  examples(
    location.command("add")
      .description("add a node as a location; its blocks start out of sync and resync copies them")
      .argument("<image>")
      .argument("<node>")
      .option("--range <A-B>", "only these blocks (inclusive block indexes)")
      .option("--wait", "wait until the new copies are in sync, with progress")
      .option("--timeout <duration>", "with --wait: stop waiting after this long")
      .option("--json", "print the answer (with --wait: the result of the wait)"),
    "ukai location add vm1 n3 --wait",
    "ukai location add vm1 n3 --range 0-255",
  ).action((
    name: string,
    node: string,
    options: WaitingOptions & { range?: string },
  ) => {
    const waiting = { json: options.json === true, ...timeoutOf(options) };
    return withClient(environment, options, async (client) => {
      const answer = await client.call<LocationAdded>("POST", `${imagePath(name)}/locations`, {
        body: { node, ...(options.range === undefined ? {} : { range: options.range }) },
        idempotencyKey: crypto.randomUUID(),
      });
      if (options.wait) {
        return await waitFor(environment, client, name, {
          kind: "sync",
          node,
          ...(options.range === undefined ? {} : { range: options.range }),
        }, waiting);
      }
      if (options.json) return printJson(terminal, answer);
      terminal.out(`${node} added to ${name}: ${answer.addedBlocks} blocks to copy\n`);
    });
  });

  examples(
    location.command("remove")
      .description("remove a location; refused for blocks whose only in-sync copy it holds")
      .argument("<image>")
      .argument("<node>")
      .option("--range <A-B>", "only these blocks (inclusive block indexes)")
      .option("--json", "print the answer"),
    "ukai location remove vm1 n2",
    "ukai location remove vm1 n2 --range 0-99",
  ).action((name: string, node: string, options: ClientOptions & { range?: string }) =>
    withClient(environment, options, async (client) => {
      const query = options.range === undefined
        ? ""
        : `?range=${encodeURIComponent(options.range)}`;
      const answer = await client.call<LocationRemoved>(
        "DELETE",
        `${imagePath(name)}/locations/${encodeURIComponent(node)}${query}`,
        { idempotencyKey: crypto.randomUUID() },
      );
      if (options.json) return printJson(terminal, answer);
      terminal.out(`${node} removed from ${name}: ${answer.removedBlocks} blocks\n`);
    })
  );
  return location;
}

function hypervisorCommands(environment: CliEnvironment): Command {
  const { terminal } = environment;
  const hypervisor = new Command("hypervisor")
    .description("nodes allowed to run an image's VM (none listed: any node)");
  const print = (answer: HypervisorList, options: ClientOptions) => {
    if (options.json) return printJson(terminal, answer);
    terminal.out(`${answer.name} may run on: ${answer.hypervisors.join(", ") || "any node"}\n`);
  };

  examples(
    hypervisor.command("add")
      .description("allow a node to own the image for VM I/O")
      .argument("<image>")
      .argument("<node>")
      .option("--json", "print the answer"),
    "ukai hypervisor add vm1 n1",
  ).action((name: string, node: string, options: ClientOptions) =>
    withClient(environment, options, async (client) => {
      print(
        await client.call<HypervisorList>("POST", `${imagePath(name)}/hypervisors`, {
          body: { node },
          idempotencyKey: crypto.randomUUID(),
        }),
        options,
      );
    })
  );

  examples(
    hypervisor.command("remove")
      .description("stop allowing a node (refused for the last one: add the replacement first)")
      .argument("<image>")
      .argument("<node>")
      .option("--json", "print the answer"),
    "ukai hypervisor remove vm1 n1",
  ).action((name: string, node: string, options: ClientOptions) =>
    withClient(environment, options, async (client) => {
      print(
        await client.call<HypervisorList>(
          "DELETE",
          `${imagePath(name)}/hypervisors/${encodeURIComponent(node)}`,
          { idempotencyKey: crypto.randomUUID() },
        ),
        options,
      );
    })
  );
  return hypervisor;
}

/** The `location` and `hypervisor` command groups. */
export function placementCommands(environment: CliEnvironment): Command[] {
  return [locationCommands(environment), hypervisorCommands(environment)];
}
