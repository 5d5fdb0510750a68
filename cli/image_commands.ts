/**
 * `ukai image …`, `ukai location …` and `ukai hypervisor …`: thin mappings of
 * arguments onto the control API, with tables for people and `--json` for
 * scripts, and `--wait` progress for long operations.
 *
 * @module
 */

import { Command } from "commander";
import { parseSize } from "../base/units.ts";
import type { ControlClient } from "../control/client.ts";
import type { ImageView } from "../meta/mod.ts";
import { clientFor, type ClientOptions, type CliEnvironment } from "./context.ts";
import { printJson, size, table } from "./output.ts";
import { waitFor } from "./wait.ts";

type Run = (
  action: (client: ControlClient) => Promise<void>,
  options: ClientOptions,
) => Promise<void>;

function runner(environment: CliEnvironment): Run {
  return async (action, options) => {
    const client = clientFor(environment, options);
    try {
      await action(client);
    } finally {
      client.close();
    }
  };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function locationsLine(view: Pick<ImageView, "locations">): string {
  return view.locations.map((location) =>
    location.outOfSyncBlocks === 0
      ? location.node
      : `${location.node}(${location.outOfSyncBlocks} out of sync)`
  ).join(", ");
}

function printInfo(environment: CliEnvironment, view: ImageView): void {
  const { terminal } = environment;
  const rows: [string, string][] = [
    ["name", view.name],
    ["size", `${size(view.size)} (${view.size} bytes, capacity ${size(view.capacity)})`],
    ["blocks", `${view.blockCount} × ${size(view.blockSize)}`],
    [
      "owner",
      view.owner === null ? "none" : `${view.owner} (${view.ownerKind}, epoch ${view.epoch})`,
    ],
    ["open on", view.opens.join(", ") || "none"],
    ["hypervisors", view.hypervisors.join(", ") || "any node"],
    ["out of sync", `${view.outOfSyncBlocks} block copies`],
    [
      "resync rate",
      view.resyncRateBytesPerSecond === 0
        ? "node default"
        : `${size(view.resyncRateBytesPerSecond)}/s`,
    ],
    ["move", view.move === null ? "none" : `${view.move.from} → ${view.move.to}`],
  ];
  terminal.out(rows.map(([key, value]) => `${key.padEnd(12)} ${value}\n`).join(""));
  terminal.out("\n");
  const ranges: string[][] = [];
  for (const location of view.locations) {
    for (const range of location.ranges) {
      const blocks = range.end - range.start === 1
        ? `${range.start}`
        : `${range.start}-${range.end - 1}`;
      ranges.push([location.node, blocks, range.state === "inSync" ? "in sync" : "OUT OF SYNC"]);
    }
  }
  terminal.out(table(["LOCATION", "BLOCKS", "STATE"], ranges));
}

/** The `image`, `location` and `hypervisor` command groups. */
export function imageCommands(environment: CliEnvironment): Command[] {
  const run = runner(environment);
  const { terminal } = environment;
  const image = new Command("image").description("create, inspect and relocate disk images");

  image.command("add")
    .description("create a thin image (all blocks in sync at its first locations)")
    .argument("<name>", "image name (letters, digits, '.', '_', '-')")
    .requiredOption("--size <size>", "capacity, with units: 8G, 500M, 1T")
    .option("--block-size <size>", "block size, a power of two from 64K to 64M", "4M")
    .option("--location <node>", "node holding a copy (repeat; default: this node)", collect)
    .option("--hypervisor <node>", "node allowed to run the VM (repeat; default: any)", collect)
    .option("--json", "print the new image as JSON")
    .addHelpText(
      "after",
      "\nExample:\n  ukai image add vm1 --size 20G --location n1 --location n2\n",
    )
    .action((
      name: string,
      options: ClientOptions & {
        size: string;
        blockSize: string;
        location?: string[];
        hypervisor?: string[];
      },
    ) =>
      run(async (client) => {
        const view = await client.call<ImageView>("POST", "/v1/images", {
          body: {
            name,
            size: parseSize(options.size, "--size"),
            blockSize: parseSize(options.blockSize, "--block-size"),
            ...(options.location === undefined ? {} : { locations: options.location }),
            ...(options.hypervisor === undefined ? {} : { hypervisors: options.hypervisor }),
          },
          idempotencyKey: crypto.randomUUID(),
        });
        if (options.json) return printJson(terminal, view);
        terminal.out(
          `created ${view.name}: ${size(view.size)} in ${view.blockCount} blocks on ${
            locationsLine(view)
          }\n`,
        );
      }, options)
    );

  image.command("list")
    .description("list images")
    .option("--json", "print JSON")
    .action((options: ClientOptions) =>
      run(async (client) => {
        const { images } = await client.call<{ images: ImageView[] }>("GET", "/v1/images");
        if (options.json) return printJson(terminal, { images });
        terminal.out(table(
          ["NAME", "SIZE", "BLOCK", "OWNER", "LOCATIONS", "OUT OF SYNC"],
          images.map((view) => [
            view.name,
            size(view.size),
            size(view.blockSize),
            view.owner ?? "-",
            locationsLine(view),
            String(view.outOfSyncBlocks),
          ]),
        ));
      }, options)
    );

  image.command("info")
    .description("show an image: owner, epoch, and each location's state per block range")
    .argument("<name>")
    .option("--json", "print JSON")
    .action((name: string, options: ClientOptions) =>
      run(async (client) => {
        const view = await client.call<ImageView>("GET", `/v1/images/${encodeURIComponent(name)}`);
        if (options.json) return printJson(terminal, view);
        printInfo(environment, view);
      }, options)
    );

  image.command("remove")
    .description("remove an image and its block files (refused while it is open)")
    .argument("<name>")
    .option("--force", "remove even while open on a node")
    .action((name: string, options: ClientOptions & { force?: boolean }) =>
      run(async (client) => {
        await client.call(
          "DELETE",
          `/v1/images/${encodeURIComponent(name)}${options.force ? "?force=1" : ""}`,
          {
            idempotencyKey: crypto.randomUUID(),
          },
        );
        terminal.out(`removed ${name}\n`);
      }, options)
    );

  image.command("sync")
    .description(
      "bring out-of-sync copies in sync (resync runs on its own; this sets a rate and waits)",
    )
    .argument("<name>")
    .option("--range <A-B>", "only wait for these blocks (inclusive)")
    .option("--rate <rate>", "cap this image's resync, e.g. 50M (bytes/s)")
    .option("--wait", "wait until in sync, with progress")
    .option("--json", "print JSON")
    .action((
      name: string,
      options: ClientOptions & { range?: string; rate?: string; wait?: boolean },
    ) =>
      run(async (client) => {
        const started = await client.call<{ outOfSyncBlocks: number }>(
          "POST",
          `/v1/images/${encodeURIComponent(name)}/sync`,
          {
            body: {
              ...(options.range ? { range: options.range } : {}),
              ...(options.rate ? { rate: options.rate } : {}),
            },
          },
        );
        if (!options.wait) {
          if (options.json) return printJson(terminal, started);
          terminal.out(
            `${name}: ${started.outOfSyncBlocks} block copies out of sync; resync runs in the background\n`,
          );
          return;
        }
        await waitFor(environment, client, name, {
          kind: "sync",
          ...(options.range ? { range: options.range } : {}),
        }, options.json === true);
      }, options)
    );

  image.command("move")
    .description("relocate an image's data: add the new node, sync it, then remove the old one")
    .argument("<name>")
    .requiredOption("--from <node>", "the location to leave")
    .requiredOption("--to <node>", "the node to move to")
    .option("--rate <rate>", "cap the copy, e.g. 100M (bytes/s)")
    .option("--wait", "wait until done, with progress")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  ukai image move vm1 --from n2 --to n3 --wait\n")
    .action((
      name: string,
      options: ClientOptions & { from: string; to: string; rate?: string; wait?: boolean },
    ) =>
      run(async (client) => {
        const started = await client.call("POST", `/v1/images/${encodeURIComponent(name)}/move`, {
          body: {
            from: options.from,
            to: options.to,
            ...(options.rate ? { rate: options.rate } : {}),
          },
          idempotencyKey: crypto.randomUUID(),
        });
        if (!options.wait) {
          if (options.json) return printJson(terminal, started);
          terminal.out(
            `moving ${name} from ${options.from} to ${options.to}; watch it with: ukai image info ${name}\n`,
          );
          return;
        }
        await waitFor(environment, client, name, { kind: "move" }, options.json === true);
      }, options)
    );

  image.command("handover")
    .description("make a node the image's owner now (live migration hook)")
    .argument("<name>")
    .requiredOption("--to <node>", "the new owner")
    .option("--json", "print JSON")
    .action((name: string, options: ClientOptions & { to: string }) =>
      run(async (client) => {
        const answer = await client.call<{ owner: string; epoch: number }>(
          "POST",
          `/v1/images/${encodeURIComponent(name)}/handover`,
          { body: { to: options.to } },
        );
        if (options.json) return printJson(terminal, answer);
        terminal.out(`${name} is owned by ${answer.owner} (epoch ${answer.epoch})\n`);
      }, options)
    );

  image.command("stats")
    .description("I/O statistics of an image on the node you ask")
    .argument("<name>")
    .option("--json", "print JSON")
    .action((name: string, options: ClientOptions) =>
      run(async (client) => {
        const stats = await client.call<Record<string, unknown>>(
          "GET",
          `/v1/images/${encodeURIComponent(name)}/stats`,
        );
        if (options.json) return printJson(terminal, stats);
        const latency = (value: unknown) => {
          const l = value as { count: number; p50Ms: number | null; p99Ms: number | null };
          return l.count === 0 ? "-" : `p50 ≤${l.p50Ms}ms p99 ≤${l.p99Ms}ms (${l.count})`;
        };
        terminal.out(table(["STAT", "VALUE"], [
          ["node", String(stats.node)],
          ["reads", `${stats.readOps} ops, ${size(stats.readBytes as number)}`],
          [
            "  local / remote",
            `${size(stats.localReadBytes as number)} / ${size(stats.remoteReadBytes as number)}`,
          ],
          ["  forwarded to owner", `${stats.forwardedReadOps} ops`],
          ["writes", `${stats.writeOps} ops, ${size(stats.writeBytes as number)}`],
          ["discards / flushes", `${stats.discardOps} / ${stats.flushOps}`],
          ["resync", `${stats.resyncBlocks} blocks, ${size(stats.resyncBytes as number)}`],
          ["errors", String(stats.errors)],
          ["read latency", latency(stats.readLatency)],
          ["write latency", latency(stats.writeLatency)],
          ["flush latency", latency(stats.flushLatency)],
        ]));
      }, options)
    );

  const location = new Command("location").description("add or remove copies of an image's blocks");
  location.command("add")
    .description("add a location (its blocks start out of sync; resync starts)")
    .argument("<image>")
    .argument("<node>")
    .option("--range <A-B>", "only these blocks (inclusive)")
    .option("--wait", "wait until in sync, with progress")
    .option("--json", "print JSON")
    .action((
      name: string,
      node: string,
      options: ClientOptions & { range?: string; wait?: boolean },
    ) =>
      run(async (client) => {
        const answer = await client.call<{ addedBlocks: number }>(
          "POST",
          `/v1/images/${encodeURIComponent(name)}/locations`,
          {
            body: { node, ...(options.range ? { range: options.range } : {}) },
            idempotencyKey: crypto.randomUUID(),
          },
        );
        if (options.wait) {
          await waitFor(environment, client, name, { kind: "sync", node }, options.json === true);
          return;
        }
        if (options.json) return printJson(terminal, answer);
        terminal.out(`${node} added to ${name}: ${answer.addedBlocks} blocks to copy\n`);
      }, options)
    );
  location.command("remove")
    .description("remove a location (refused for blocks whose only in-sync copy it holds)")
    .argument("<image>")
    .argument("<node>")
    .option("--range <A-B>", "only these blocks (inclusive)")
    .option("--json", "print JSON")
    .action((name: string, node: string, options: ClientOptions & { range?: string }) =>
      run(async (client) => {
        const query = options.range ? `?range=${encodeURIComponent(options.range)}` : "";
        const answer = await client.call<{ removed: number[][] }>(
          "DELETE",
          `/v1/images/${encodeURIComponent(name)}/locations/${encodeURIComponent(node)}${query}`,
          { idempotencyKey: crypto.randomUUID() },
        );
        if (options.json) return printJson(terminal, answer);
        const count = answer.removed.reduce(
          (sum, [start, end]) => sum + (end as number) - (start as number),
          0,
        );
        terminal.out(`${node} removed from ${name}: ${count} blocks\n`);
      }, options)
    );

  const hypervisor = new Command("hypervisor").description("nodes allowed to run an image's VM");
  for (
    const [verb, method, summary] of [["add", "POST", "allow"], [
      "remove",
      "DELETE",
      "stop allowing",
    ]] as const
  ) {
    hypervisor.command(verb)
      .description(`${summary} a node to own the image for VM I/O`)
      .argument("<image>")
      .argument("<node>")
      .option("--json", "print JSON")
      .action((name: string, node: string, options: ClientOptions) =>
        run(async (client) => {
          const path = `/v1/images/${encodeURIComponent(name)}/hypervisors`;
          const answer = method === "POST"
            ? await client.call(method, path, { body: { node } })
            : await client.call(method, `${path}/${encodeURIComponent(node)}`);
          if (options.json) return printJson(terminal, answer);
          terminal.out(
            `${name} hypervisors: ${(answer.hypervisors as string[]).join(", ") || "any node"}\n`,
          );
        }, options)
      );
  }
  return [image, location, hypervisor];
}
