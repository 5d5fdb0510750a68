/**
 * Tests of waiting for sync and move: what counts as remaining, the progress
 * and the final line, `--json` results, and Ctrl-C / `--timeout`, which stop
 * the waiting only and say how to watch the operation.
 */

import assert from "node:assert/strict";
import type { ImageView } from "../control/api_types.ts";
import type { ControlClient } from "../control/client.ts";
import { applyCommand, type Command, imageView, MetaState } from "../meta/mod.ts";
import { fakeEnvironment } from "./_test_terminal.ts";
import { ExitError } from "./context.ts";
import { remaining, waitFor } from "./wait.ts";

const MiB = 1024 * 1024;

function moving(): MetaState {
  const meta = new MetaState();
  const commands: Command[] = [
    { type: "node.add", id: "n1", address: "127.0.0.1:1", zone: "dc1", role: "voter" },
    { type: "node.add", id: "n2", address: "127.0.0.1:2", zone: "dc1", role: "voter" },
    { type: "node.add", id: "n3", address: "127.0.0.1:3", zone: "dc2", role: "voter" },
    {
      type: "image.create",
      name: "vm1",
      size: 8 * MiB,
      blockSize: MiB,
      locations: ["n1", "n2"],
      hypervisors: [],
      createdAtMs: 0,
    },
    { type: "move.start", name: "vm1", from: "n2", to: "n3", startedAtMs: 0 },
  ];
  for (const command of commands) assert.ok(applyCommand(meta, command).ok);
  return meta;
}

/** A client whose image view is `views[i]` on the i-th poll (the last one repeats). */
function pollingClient(views: ImageView[]): ControlClient & { polls: number } {
  const client = {
    polls: 0,
    call: () => Promise.resolve(views[Math.min(client.polls++, views.length - 1)]),
  };
  return client as unknown as ControlClient & { polls: number };
}

function copied(meta: MetaState, end: number): ImageView {
  const command: Command = {
    type: "blocks.mark",
    name: "vm1",
    epoch: meta.image("vm1").epoch,
    marks: [{ node: "n3", ranges: [{ start: 0, end }], status: "inSync" }],
    retireActivity: [],
  };
  assert.ok(applyCommand(meta, command).ok);
  return imageView(meta.image("vm1"));
}

Deno.test("remaining() counts out-of-sync copies at the node, in the range, or of the move", () => {
  const view = imageView(moving().image("vm1"));
  assert.equal(remaining(view, { kind: "move", from: "n2", to: "n3" }), 8);
  assert.equal(remaining(view, { kind: "sync" }), 8);
  assert.equal(remaining(view, { kind: "sync", range: "2-4" }), 3);
  assert.equal(remaining(view, { kind: "sync", node: "n1" }), 0);
});

Deno.test("waitFor() follows a move to its end and prints progress lines and one last line", async () => {
  const meta = moving();
  const views = [imageView(meta.image("vm1")), copied(meta, 4), copied(meta, 8)];
  assert.ok(applyCommand(meta, { type: "move.finish", name: "vm1" }).ok);
  views.push(imageView(meta.image("vm1")));
  const environment = fakeEnvironment();
  await waitFor(environment, pollingClient(views), "vm1", { kind: "move", from: "n2", to: "n3" }, {
    json: false,
    pollMs: 1,
  });
  const lines = environment.terminal.stdout.trim().split("\n");
  assert.match(lines[0] ?? "", /^move vm1: 0% \(0\/8 blocks, 0 B of 8\.0 MiB\)/);
  assert.match(
    lines.at(-2) ?? "",
    /^move vm1: 100% \(8\/8 blocks, 8\.0 MiB of 8\.0 MiB\) .* done$/,
  );
  assert.equal(lines.at(-1), "vm1 moved from n2 to n3");
  assert.equal(environment.terminal.stderr, "");
});

Deno.test("waitFor() with --json prints only the result", async () => {
  const meta = moving();
  const environment = fakeEnvironment();
  const views = [imageView(meta.image("vm1")), copied(meta, 8)];
  await waitFor(environment, pollingClient(views), "vm1", { kind: "sync", node: "n3" }, {
    json: true,
    pollMs: 1,
  });
  assert.deepEqual(JSON.parse(environment.terminal.stdout), {
    name: "vm1",
    operation: "sync",
    done: true,
    outOfSyncBlocks: 0,
  });
});

Deno.test("waitFor() stops at Ctrl-C with exit 130, says how to watch, and leaves the work alone", async () => {
  const environment = fakeEnvironment();
  const client = pollingClient([imageView(moving().image("vm1"))]);
  const waiting = waitFor(environment, client, "vm1", { kind: "move", from: "n2", to: "n3" }, {
    json: true,
    pollMs: 60_000,
  });
  await new Promise((resolve) => setTimeout(resolve, 10));
  environment.interrupt();
  await assert.rejects(waiting, (error) => error instanceof ExitError && error.exitCode === 130);
  assert.equal(client.polls, 1, "no call after Ctrl-C: nothing was cancelled");
  assert.deepEqual(JSON.parse(environment.terminal.stdout), {
    name: "vm1",
    operation: "move",
    done: false,
    outOfSyncBlocks: 8,
  });
  assert.equal(
    environment.terminal.stderr,
    "stopped waiting; the move of vm1 goes on in the cluster. Watch it with: ukai image info vm1  (or: ukai status)\n",
  );
});

Deno.test("waitFor() gives up after --timeout with exit 1 and the same advice", async () => {
  const environment = fakeEnvironment();
  const client = pollingClient([imageView(moving().image("vm1"))]);
  await assert.rejects(
    waitFor(environment, client, "vm1", { kind: "sync" }, {
      json: false,
      timeoutMs: 30,
      pollMs: 5,
    }),
    (error) => error instanceof ExitError && error.exitCode === 1,
  );
  assert.ok(client.polls >= 2, "it polled until the timeout");
  assert.match(environment.terminal.stderr, /^gave up waiting after 0s; the sync of vm1 goes on/);
});
