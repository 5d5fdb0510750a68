/**
 * `ukai image sync` and `ukai image move`: the long operations. Both start
 * the work in the cluster and then wait with a progress bar (plain lines
 * when not on a terminal) unless `--no-wait`; Ctrl-C stops only the
 * waiting. `move --cancel` forgets a move (the new copy stays).
 *
 * @module
 */

import { Command } from "commander";
import { parseDuration, parseRate } from "../base/units.ts";
import type { MoveCancelled, MoveStarted, SyncStarted } from "../control/api_types.ts";
import { type ClientOptions, type CliEnvironment, imagePath, withClient } from "./context.ts";
import { examples } from "./help.ts";
import { printJson, size } from "./output.ts";
import { waitFor } from "./wait.ts";

/** Options of a command that may wait (`wait` is undefined when neither flag is given). */
export interface WaitingOptions extends ClientOptions {
  wait?: boolean;
  timeout?: string;
}

/** The `--timeout` of `options` in milliseconds, if given. */
export function timeoutOf(options: { timeout?: string }): { timeoutMs?: number } {
  return options.timeout === undefined
    ? {}
    : { timeoutMs: parseDuration(options.timeout, "--timeout") };
}

/** `image sync` and `image move`. */
export function relocationCommands(environment: CliEnvironment): Command[] {
  const { terminal } = environment;

  const sync = examples(
    new Command("sync")
      .description(
        "bring out-of-sync copies in sync and wait with progress (resync also runs on its own)",
      )
      .argument("<name>")
      .option("--range <A-B>", "wait only for these blocks (inclusive block indexes)")
      .option("--rate <rate>", "cap this image's resync from now on, e.g. 50M (bytes/s; 0: no cap)")
      .option("--wait", "wait until done, with progress (the default)")
      .option("--no-wait", "start and return at once")
      .option("--timeout <duration>", "stop waiting after this long, e.g. 10m")
      .option("--json", "print the result as JSON"),
    "ukai image sync vm1",
    "ukai image sync vm1 --range 0-99 --rate 100M",
    "ukai image sync vm1 --no-wait --json",
  ).action((name: string, options: WaitingOptions & { range?: string; rate?: string }) => {
    const waiting = { json: options.json === true, ...timeoutOf(options) };
    const body = {
      ...(options.range === undefined ? {} : { range: options.range }),
      ...(options.rate === undefined ? {} : { rate: parseRate(options.rate, "--rate") }),
    };
    return withClient(environment, options, async (client) => {
      const started = await client.call<SyncStarted>(
        "POST",
        `${imagePath(name)}/sync`,
        { body, idempotencyKey: crypto.randomUUID() },
      );
      if (options.wait !== false) {
        return await waitFor(environment, client, name, {
          kind: "sync",
          ...(options.range === undefined ? {} : { range: options.range }),
        }, waiting);
      }
      if (options.json) return printJson(terminal, started);
      terminal.out(
        `${name}: ${started.outOfSyncBlocks} block copies out of sync; the resync goes on in the background\n`,
      );
    });
  });

  const move = examples(
    new Command("move")
      .description(
        "relocate an image: add the new node, copy every block there, then drop the old one",
      )
      .argument("<name>")
      .requiredOption("--from <node>", "the location to leave")
      .requiredOption("--to <node>", "the node to move to")
      .option("--rate <rate>", "cap the copy from now on, e.g. 100M (bytes/s; 0: no cap)")
      .option("--wait", "wait until done, with progress (the default)")
      .option("--no-wait", "start and return at once")
      .option("--timeout <duration>", "stop waiting after this long, e.g. 1h")
      .option("--cancel", "forget the move from --from to --to (the new copy stays)")
      .option("--json", "print the result as JSON"),
    "ukai image move vm1 --from n2 --to n3",
    "ukai image move vm1 --from n2 --to n3 --rate 50M --no-wait",
    "ukai image move vm1 --from n2 --to n3 --cancel",
  ).action((
    name: string,
    options: WaitingOptions & { from: string; to: string; rate?: string; cancel?: boolean },
  ) => {
    const path = `${imagePath(name)}/move`;
    const waiting = { json: options.json === true, ...timeoutOf(options) };
    const rate = options.rate === undefined ? {} : { rate: parseRate(options.rate, "--rate") };
    return withClient(environment, options, async (client) => {
      if (options.cancel) {
        const query = new URLSearchParams({ from: options.from, to: options.to });
        const cancelled = await client.call<MoveCancelled>("DELETE", `${path}?${query}`, {
          idempotencyKey: crypto.randomUUID(),
        });
        if (options.json) return printJson(terminal, cancelled);
        terminal.out(
          `stopped moving ${name} from ${cancelled.from} to ${cancelled.to}; both stay locations\n`,
        );
        return;
      }
      const started = await client.call<MoveStarted>("POST", path, {
        body: { from: options.from, to: options.to, ...rate },
        idempotencyKey: crypto.randomUUID(),
      });
      if (options.wait !== false) {
        return await waitFor(
          environment,
          client,
          name,
          { kind: "move", from: options.from, to: options.to },
          waiting,
        );
      }
      if (options.json) return printJson(terminal, started);
      terminal.out(
        `moving ${name} from ${options.from} to ${options.to} (${started.addedBlocks} blocks to copy${
          rate.rate === undefined ? "" : ` at up to ${size(rate.rate)}/s`
        }); watch it with: ukai image info ${name}\n`,
      );
    });
  });
  return [sync, move];
}
