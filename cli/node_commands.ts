/**
 * `ukai node list|add|remove|errors` and `ukai status`: the members of the
 * metadata group, their roles and reachability, suspensions as each node
 * sees them, and one screen with the whole cluster.
 *
 * @module
 */

import { Command } from "commander";
import type {
  NodeAdded,
  NodeErrors,
  NodeList,
  NodeRemoved,
  StatusView,
} from "../control/api_types.ts";
import { type ClientOptions, type CliEnvironment, withClient } from "./context.ts";
import { examples } from "./help.ts";
import { nodeErrorsText, nodeTableText, statusText } from "./node_views.ts";
import { printJson, style } from "./output.ts";

/** The `node` command group and `status`. */
export function nodeCommands(environment: CliEnvironment): Command[] {
  const { terminal } = environment;
  const paint = style(terminal);
  const node = new Command("node").description("members of the cluster");

  examples(
    node.command("list")
      .description(
        "members with zone, role, leader, reachability, RTT, last contact, applied index",
      )
      .option("--json", 'print {"leader", "nodes": [...]}'),
    "ukai node list",
    "ukai node list --json",
  ).action((options: ClientOptions) =>
    withClient(environment, options, async (client) => {
      const answer = await client.call<NodeList>("GET", "/v1/nodes");
      if (options.json) return printJson(terminal, answer);
      terminal.out(nodeTableText(answer.nodes, paint, Date.now()));
    })
  );

  examples(
    node.command("add")
      .description(
        "register a member ahead of its start (it joins as a learner and becomes a voter when caught up)",
      )
      .argument("<id>")
      .requiredOption("--address <host:port>", "where peers reach it")
      .option("--zone <zone>", "its data centre", "default")
      .option("--learner", "keep it a non-voting member (a far site)")
      .option("--json", "print the answer"),
    "ukai node add n4 --address 10.0.0.4:7850 --zone dc2",
  ).action((
    id: string,
    options: ClientOptions & { address: string; zone: string; learner?: boolean },
  ) =>
    withClient(environment, options, async (client) => {
      const answer = await client.call<NodeAdded>("POST", "/v1/nodes", {
        body: {
          id,
          address: options.address,
          zone: options.zone,
          learner: options.learner === true,
        },
        idempotencyKey: crypto.randomUUID(),
      });
      if (options.json) return printJson(terminal, answer);
      terminal.out(
        `added ${answer.id} at ${answer.address} in ${answer.zone}; start it with: ukai serve --join ...\n`,
      );
    })
  );

  examples(
    node.command("remove")
      .description(
        "remove a member (leadership moves first; refused if it would break quorum or holds data)",
      )
      .argument("<id>")
      .option("--force", "remove a lost node even if that breaks quorum or drops its copies")
      .option("--json", "print the answer"),
    "ukai node remove n4",
    "ukai node remove n4 --force",
  ).action((id: string, options: ClientOptions & { force?: boolean }) =>
    withClient(environment, options, async (client) => {
      const answer = await client.call<NodeRemoved>(
        "DELETE",
        `/v1/nodes/${encodeURIComponent(id)}${options.force ? "?force=1" : ""}`,
        { idempotencyKey: crypto.randomUUID() },
      );
      if (options.json) return printJson(terminal, answer);
      terminal.out(`removed ${answer.id}\n`);
    })
  );

  examples(
    node.command("errors")
      .description("nodes suspended or failing, as each node sees them, why, and for how long")
      .option("--json", 'print {"errors": [...]}'),
    "ukai node errors",
  ).action((options: ClientOptions) =>
    withClient(environment, options, async (client) => {
      const answer = await client.call<NodeErrors>("GET", "/v1/nodes/errors");
      if (options.json) return printJson(terminal, answer);
      terminal.out(nodeErrorsText(answer.errors, Date.now()));
    })
  );

  const status = examples(
    new Command("status")
      .description("one screen: cluster health and leader, this node, members, images, resyncs")
      .option("--json", "print the whole status"),
    "ukai status",
    "watch -n1 ukai status",
  ).action((options: ClientOptions) =>
    withClient(environment, options, async (client) => {
      const answer = await client.call<StatusView>("GET", "/v1/status");
      if (options.json) return printJson(terminal, answer);
      terminal.out(statusText(answer, paint, Date.now()));
    })
  );
  return [node, status];
}
