/**
 * `ukai node …` and `ukai status`: the members of the metadata group, their
 * roles and reachability, suspensions seen by each node, and one screen
 * with the whole cluster.
 *
 * @module
 */

import { Command } from "commander";
import type { ImageView } from "../meta/mod.ts";
import { clientFor, type ClientOptions, type CliEnvironment } from "./context.ts";
import { ago, duration, printJson, size, style, table } from "./output.ts";

interface NodeRow {
  id: string;
  address: string;
  zone: string;
  role: string;
  desiredRole: string;
  leader: boolean;
  self: boolean;
  reachable: boolean;
  lastContactMs: number | null;
  rttMs: number | null;
  appliedIndex: number | null;
  suspendedUntilMs: number | null;
}

function nodeTable(environment: CliEnvironment, nodes: NodeRow[]): string {
  const paint = style(environment.terminal);
  const now = Date.now();
  return table(
    ["NODE", "ADDRESS", "ZONE", "ROLE", "REACHABLE", "RTT", "LAST CONTACT", "APPLIED"],
    nodes.map((node) => [
      `${node.id}${node.self ? " (this)" : ""}`,
      node.address,
      node.zone,
      `${node.role}${node.leader ? " (leader)" : ""}${
        node.role !== node.desiredRole ? ` → ${node.desiredRole}` : ""
      }`,
      node.suspendedUntilMs !== null
        ? paint.yellow("suspended")
        : node.reachable
        ? paint.green("yes")
        : paint.red("no"),
      node.rttMs === null ? "-" : `${node.rttMs.toFixed(2)}ms`,
      node.self ? "-" : ago(node.lastContactMs, now),
      node.appliedIndex === null ? "-" : String(node.appliedIndex),
    ]),
  );
}

async function withClient(
  environment: CliEnvironment,
  options: ClientOptions,
  action: (client: ReturnType<typeof clientFor>) => Promise<void>,
): Promise<void> {
  const client = clientFor(environment, options);
  try {
    await action(client);
  } finally {
    client.close();
  }
}

/** The `node` command group and `status`. */
export function nodeCommands(environment: CliEnvironment): Command[] {
  const { terminal } = environment;
  const node = new Command("node").description("members of the cluster");

  node.command("list")
    .description("members with role, leader, reachability, RTT, last contact and applied index")
    .option("--json", "print JSON")
    .action((options: ClientOptions) =>
      withClient(environment, options, async (client) => {
        const answer = await client.call<{ leader: string | null; nodes: NodeRow[] }>(
          "GET",
          "/v1/nodes",
        );
        if (options.json) return printJson(terminal, answer);
        terminal.out(nodeTable(environment, answer.nodes));
      })
    );

  node.command("add")
    .description("add a member (it joins as a learner; start it with --join)")
    .argument("<id>")
    .requiredOption("--address <host:port>", "where peers reach it")
    .option("--zone <zone>", "its data centre", "default")
    .option("--learner", "keep it a non-voting member")
    .action((
      id: string,
      options: ClientOptions & { address: string; zone: string; learner?: boolean },
    ) =>
      withClient(environment, options, async (client) => {
        await client.call("POST", "/v1/nodes", {
          body: {
            id,
            address: options.address,
            zone: options.zone,
            learner: options.learner === true,
          },
        });
        terminal.out(`added ${id}\n`);
      })
    );

  node.command("remove")
    .description("remove a member (leadership moves first; refused if quorum would be lost)")
    .argument("<id>")
    .option("--force", "remove even if it breaks quorum or holds the last copy of data")
    .action((id: string, options: ClientOptions & { force?: boolean }) =>
      withClient(environment, options, async (client) => {
        await client.call(
          "DELETE",
          `/v1/nodes/${encodeURIComponent(id)}${options.force ? "?force=1" : ""}`,
        );
        terminal.out(`removed ${id}\n`);
      })
    );

  node.command("errors")
    .description("nodes suspended after failures, as each node sees them, why, and until when")
    .option("--json", "print JSON")
    .action((options: ClientOptions) =>
      withClient(environment, options, async (client) => {
        const answer = await client.call<{ errors: Record<string, unknown>[] }>(
          "GET",
          "/v1/nodes/errors",
        );
        if (options.json) return printJson(terminal, answer);
        if (answer.errors.length === 0) return terminal.out("no node is suspended\n");
        const now = Date.now();
        terminal.out(table(
          ["SEEN BY", "NODE", "FAILURES", "SUSPENDED FOR", "LAST ERROR"],
          answer.errors.map((row) => [
            String(row.observer),
            String(row.node),
            String(row.consecutiveFailures ?? "-"),
            typeof row.suspendedUntilMs === "number"
              ? duration((row.suspendedUntilMs - now) / 1000)
              : "-",
            String(row.lastError ?? (row.unreachable ? "unreachable" : "-")),
          ]),
        ));
      })
    );

  const status = new Command("status")
    .description("one screen: group health and leader, nodes, images, resyncs")
    .option("--json", "print JSON")
    .action((options: ClientOptions) =>
      withClient(environment, options, async (client) => {
        const answer = await client.call<{
          node: string;
          cluster: {
            leader: string | null;
            term: number;
            voters: number;
            reachableVoters: number;
            quorum: boolean;
          };
          nodes: NodeRow[];
          images: ImageView[];
          resyncs: {
            image: string;
            outOfSyncBlocks: number;
            bytesPerSecond: number;
            etaSeconds: number | null;
          }[];
        }>("GET", "/v1/status");
        if (options.json) return printJson(terminal, answer);
        const paint = style(terminal);
        const health = answer.cluster.quorum ? paint.green("healthy") : paint.red("NO QUORUM");
        terminal.out(
          `${paint.bold("cluster")}  ${health}, leader ${
            answer.cluster.leader ?? "none"
          }, term ${answer.cluster.term}, ` +
            `${answer.cluster.reachableVoters}/${answer.cluster.voters} voters reachable (asked ${answer.node})\n\n`,
        );
        terminal.out(nodeTable(environment, answer.nodes) + "\n");
        terminal.out(table(
          ["IMAGE", "SIZE", "OWNER", "LOCATIONS", "OUT OF SYNC"],
          answer.images.map((image) => [
            image.name,
            size(image.size),
            image.owner ?? "-",
            image.locations.map((location) => location.node).join(","),
            image.outOfSyncBlocks === 0 ? "0" : paint.yellow(String(image.outOfSyncBlocks)),
          ]),
        ));
        if (answer.resyncs.length > 0) {
          terminal.out(
            "\n" + table(
              ["RESYNC", "LEFT", "RATE", "ETA"],
              answer.resyncs.map((resync) => [
                resync.image,
                `${resync.outOfSyncBlocks} blocks`,
                `${size(resync.bytesPerSecond)}/s`,
                resync.etaSeconds === null ? "-" : duration(resync.etaSeconds),
              ]),
            ),
          );
        }
      })
    );
  return [node, status];
}
