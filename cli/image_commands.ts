/**
 * `ukai image add|list|info|remove|stats|handover`: thin mappings of
 * arguments onto the control API, with tables for people and `--json` (the
 * API's answer) for scripts. `sync` and `move` live in
 * `relocation_commands.ts`.
 *
 * @module
 */

import { Command } from "commander";
import { parseSize } from "../base/units.ts";
import type {
  Handover,
  ImageList,
  ImageRemoved,
  ImageStatsByNode,
  ImageView,
} from "../control/api_types.ts";
import { type ClientOptions, type CliEnvironment, imagePath, withClient } from "./context.ts";
import { examples } from "./help.ts";
import { imageInfoText, imageListText, imageStatsText, placementText } from "./image_views.ts";
import { printJson, size, style } from "./output.ts";
import { relocationCommands } from "./relocation_commands.ts";

/** Collects a repeated option into a list. */
const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The `image` command group. */
export function imageCommands(environment: CliEnvironment): Command {
  const { terminal } = environment;
  const paint = style(terminal);
  const image = new Command("image").description(
    "create, inspect, relocate and remove disk images",
  );

  examples(
    image.command("add")
      .description("create a thin image; all its blocks start in sync at its first locations")
      .argument("<name>", "image name: letters, digits, '.', '_' and '-'")
      .requiredOption("--size <size>", "capacity with a unit (binary): 8G, 500M, 1T")
      .option("--block-size <size>", "block size, a power of two from 64K to 64M", "4M")
      .option(
        "--location <node>",
        "a node holding a copy (repeat; default: the node asked)",
        collect,
      )
      .option("--hypervisor <node>", "a node allowed to run the VM (repeat; default: any)", collect)
      .option("--json", "print the new image (as image info --json)"),
    "ukai image add vm1 --size 20G --location n1 --location n2",
    "ukai image add scratch --size 500M --block-size 1M --hypervisor n1",
  ).action((
    name: string,
    options: ClientOptions & {
      size: string;
      blockSize: string;
      location?: string[];
      hypervisor?: string[];
    },
  ) => {
    const body = {
      name,
      size: parseSize(options.size, "--size"),
      blockSize: parseSize(options.blockSize, "--block-size"),
      ...(options.location === undefined ? {} : { locations: options.location }),
      ...(options.hypervisor === undefined ? {} : { hypervisors: options.hypervisor }),
    };
    return withClient(environment, options, async (client) => {
      const view = await client.call<ImageView>("POST", "/v1/images", {
        body,
        idempotencyKey: crypto.randomUUID(),
      });
      if (options.json) return printJson(terminal, view);
      terminal.out(
        `created ${view.name}: ${size(view.size)} in ${view.blockCount} blocks of ${
          size(view.blockSize)
        } on ${placementText(view)}\n`,
      );
    });
  });

  examples(
    image.command("list")
      .description("list every image with size, owner, locations and out-of-sync copies")
      .option("--json", 'print {"images": [...]}'),
    "ukai image list",
    "ukai image list --json",
  ).action((options: ClientOptions) =>
    withClient(environment, options, async (client) => {
      const answer = await client.call<ImageList>("GET", "/v1/images?fresh=1");
      if (options.json) return printJson(terminal, answer);
      terminal.out(imageListText(answer.images, paint));
    })
  );

  examples(
    image.command("info")
      .description(
        "show an image: owner and epoch, opens, and each location's state per block range",
      )
      .argument("<name>")
      .option("--json", "print the image with every block range"),
    "ukai image info vm1",
    "ukai image info vm1 --json",
  ).action((name: string, options: ClientOptions) =>
    withClient(environment, options, async (client) => {
      const view = await client.call<ImageView>("GET", `${imagePath(name)}?fresh=1`);
      if (options.json) return printJson(terminal, view);
      terminal.out(imageInfoText(view, paint));
    })
  );

  examples(
    image.command("remove")
      .description("remove an image and its block files on every node (refused while open)")
      .argument("<name>")
      .option("--force", "remove it even while a node has it open")
      .option("--json", "print the answer"),
    "ukai image remove scratch",
  ).action((name: string, options: ClientOptions & { force?: boolean }) =>
    withClient(environment, options, async (client) => {
      const answer = await client.call<ImageRemoved>(
        "DELETE",
        `${imagePath(name)}${options.force ? "?force=1" : ""}`,
        { idempotencyKey: crypto.randomUUID() },
      );
      if (options.json) return printJson(terminal, answer);
      terminal.out(`removed ${name}\n`);
    })
  );

  examples(
    image.command("stats")
      .description("I/O statistics of an image on every node since it started")
      .argument("<name>")
      .option("--json", 'print {"image", "nodes": [...]} with one entry per node'),
    "ukai image stats vm1",
    "ukai image stats vm1 --json",
  ).action((name: string, options: ClientOptions) =>
    withClient(environment, options, async (client) => {
      const answer = await client.call<ImageStatsByNode>(
        "GET",
        `${imagePath(name)}/stats?nodes=all`,
      );
      if (options.json) return printJson(terminal, answer);
      terminal.out(imageStatsText(answer, paint));
    })
  );

  examples(
    image.command("handover")
      .description(
        "make a node the image's owner now (the old owner flushes and lets go), e.g. around a live migration",
      )
      .argument("<name>")
      .option("--to <node>", "the new owner (default: the node asked)")
      .option("--json", "print the answer"),
    "ukai image handover vm1 --to n2",
    "ukai image handover vm1          # on the node that should own it",
  ).action((name: string, options: ClientOptions & { to?: string }) =>
    withClient(environment, options, async (client) => {
      const answer = await client.call<Handover>("POST", `${imagePath(name)}/handover`, {
        body: options.to === undefined ? {} : { to: options.to },
        idempotencyKey: crypto.randomUUID(),
      });
      if (options.json) return printJson(terminal, answer);
      terminal.out(`${answer.name} is owned by ${answer.owner} (epoch ${answer.epoch})\n`);
    })
  );

  for (const command of relocationCommands(environment)) image.addCommand(command);
  return image;
}
