/**
 * Every `ukai` command against a real three-node cluster (zones dc1, dc1,
 * dc2, each with a mount): happy paths and errors — usage, unknown image or
 * node, refused operations, a dead node, a server that is not there — with
 * their exit codes, the exact field names of `--json`, the human tables, a
 * progress bar under a real pseudo-terminal, and Ctrl-C while waiting. One
 * cluster serves all the steps; most commands run in-process (the same
 * `runCli` as `main.ts`), the process-level behaviours run `main.ts`.
 */

import assert from "node:assert/strict";
import { fakeEnvironment } from "../../cli/_test_terminal.ts";
import { stripStyles } from "../../cli/output.ts";
import { runCli } from "../../cli/program.ts";
import { ProcessCluster, textOutput } from "../harness/processes.ts";

const MiB = 1024 * 1024;
const root = new URL("../../", import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ukai ARGS` in-process against `control`. */
async function ukai(control: string, ...args: string[]): Promise<Run> {
  const environment = fakeEnvironment({ UKAI_CONTROL: control });
  const code = await runCli(args, environment);
  return { code, stdout: environment.terminal.stdout, stderr: environment.terminal.stderr };
}

/** Runs `ukai ARGS --json` and parses its answer, expecting exit 0. */
async function json<T = Record<string, unknown>>(control: string, ...args: string[]): Promise<T> {
  const run = await ukai(control, ...args, "--json");
  assert.equal(run.code, 0, `ukai ${args.join(" ")}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/** Expects exit `code` and one error line matching `message`. */
function fails(run: Run, code: number, message: RegExp): void {
  assert.equal(run.code, code, run.stderr);
  assert.equal(run.stdout, "");
  assert.match(run.stderr, message);
  assert.equal(run.stderr.split("\n").length, 2, `one line: ${run.stderr}`);
}

function keys(value: unknown): string[] {
  return Object.keys(value as object).sort();
}

const IMAGE_VIEW_KEYS = [
  "activeBlocks",
  "blockCount",
  "blockSize",
  "capacity",
  "createdAtMs",
  "epoch",
  "hypervisors",
  "locations",
  "move",
  "name",
  "opens",
  "outOfSyncBlocks",
  "owner",
  "ownerKind",
  "resyncRateBytesPerSecond",
  "size",
  "uid",
];
const NODE_VIEW_KEYS = [
  "address",
  "appliedIndex",
  "desiredRole",
  "id",
  "lastContactAtMs",
  "leader",
  "reachable",
  "role",
  "rttMs",
  "self",
  "suspendedUntilMs",
  "zone",
];
const COUNTER_KEYS = [
  "discardOps",
  "errors",
  "flushLatency",
  "flushOps",
  "forwardedReadOps",
  "localReadBytes",
  "readBytes",
  "readLatency",
  "readOps",
  "remoteReadBytes",
  "resyncBlocks",
  "resyncBytes",
  "writeBytes",
  "writeLatency",
  "writeOps",
];

async function threeNodes(): Promise<ProcessCluster> {
  const cluster = await ProcessCluster.create();
  cluster.define("n1", "dc1");
  cluster.define("n2", "dc1");
  cluster.define("n3", "dc2");
  await cluster.start("n1");
  await cluster.start("n2", { join: cluster.address("n1") });
  await cluster.start("n3", { join: cluster.address("n1") });
  for (let attempt = 0;; attempt++) {
    const { nodes } = await json<{ nodes: { role: string }[] }>(
      cluster.node("n1").control,
      "node",
      "list",
    );
    if (nodes.filter((node) => node.role === "voter").length === 3) return cluster;
    if (attempt > 200) throw new Error("the three nodes did not become voters");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Runs `main.ts ARGS` in a pseudo-terminal (util-linux `script`) with only
 * `env` (and what deno needs), returning its output.
 */
async function inTerminal(args: string[], env: Record<string, string>): Promise<Run> {
  const command = [Deno.execPath(), "run", "--allow-all", `${root}main.ts`, ...args].join(" ");
  const inherited = ["PATH", "HOME", "DENO_DIR"].flatMap((name) => {
    const value = Deno.env.get(name);
    return value === undefined ? [] : [[name, value]];
  });
  const output = await new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    env: { ...Object.fromEntries(inherited), TERM: "xterm", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return textOutput(output);
}

async function writeThrough(path: string, bytes: number): Promise<void> {
  const file = await Deno.open(path, { write: true });
  try {
    const chunk = new Uint8Array(MiB).fill(0x5a);
    for (let offset = 0; offset < bytes; offset += chunk.length) {
      let written = 0;
      while (written < chunk.length) written += await file.write(chunk.subarray(written));
    }
    await file.syncData();
  } finally {
    file.close();
  }
}

Deno.test("every ukai command against a real three-node cluster", async (t) => {
  const cluster = await threeNodes();
  const n1 = cluster.node("n1").control;
  const n2 = cluster.node("n2").control;
  try {
    await t.step("status and node list describe the cluster, for people and as JSON", async () => {
      const status = await json(n1, "status");
      assert.deepEqual(keys(status), [
        "capacity",
        "cluster",
        "images",
        "node",
        "nodes",
        "owned",
        "resyncs",
        "uptimeSeconds",
        "version",
      ]);
      assert.deepEqual(keys(status.cluster), [
        "leader",
        "quorum",
        "reachableVoters",
        "term",
        "voters",
      ]);
      assert.equal((status.cluster as { quorum: boolean }).quorum, true);
      const list = await json<{ leader: string; nodes: Record<string, unknown>[] }>(
        n2,
        "node",
        "list",
      );
      assert.deepEqual(keys(list), ["leader", "nodes"]);
      assert.deepEqual(list.nodes.map(keys), [NODE_VIEW_KEYS, NODE_VIEW_KEYS, NODE_VIEW_KEYS]);
      assert.deepEqual(list.nodes.map((node) => [node.id, node.zone, node.self]), [
        ["n1", "dc1", false],
        ["n2", "dc1", true],
        ["n3", "dc2", false],
      ]);
      assert.equal(list.nodes.filter((node) => node.leader).length, 1);
      const human = await ukai(n1, "status");
      assert.equal(human.code, 0);
      assert.match(
        human.stdout,
        /^cluster {4}healthy; leader n\d, term \d+; 3 of 3 voters reachable\n/,
      );
      assert.match(human.stdout, /\nn1 \(this\) +127\.0\.0\.1:\d+ +dc1 +voter/);
      assert.match(human.stdout, /\nno images yet\n/);
      assert.deepEqual(await json(n1, "node", "errors"), { errors: [] });
    });

    await t.step(
      "image add, list and info; duplicates, unknown nodes and bad names fail",
      async () => {
        const view = await json(
          n1,
          "image",
          "add",
          "vm",
          "--size",
          "16M",
          "--block-size",
          "1M",
          "--location",
          "n1",
          "--location",
          "n2",
        );
        assert.deepEqual(keys(view), IMAGE_VIEW_KEYS);
        assert.equal(view.blockCount, 16);
        assert.deepEqual(view.locations, [
          {
            node: "n1",
            inSyncBlocks: 16,
            outOfSyncBlocks: 0,
            ranges: [{ start: 0, end: 16, state: "inSync" }],
          },
          {
            node: "n2",
            inSyncBlocks: 16,
            outOfSyncBlocks: 0,
            ranges: [{ start: 0, end: 16, state: "inSync" }],
          },
        ]);
        const solo = await ukai(n1, "image", "add", "solo", "--size", "4M", "--block-size", "1M");
        assert.equal(solo.code, 0, solo.stderr);
        assert.equal(solo.stdout, "created solo: 4.0 MiB in 4 blocks of 1.0 MiB on n1\n");
        fails(
          await ukai(n2, "image", "add", "vm", "--size", "1M"),
          1,
          /^error: Image "vm" already exists\n/,
        );
        fails(
          await ukai(n1, "image", "add", "x", "--size", "4M", "--location", "n9"),
          1,
          /^error: Node "n9" .*/,
        );
        fails(
          await ukai(n1, "image", "add", "../x", "--size", "4M"),
          2,
          /^error: Field "name": Image name/,
        );
        fails(
          await ukai(n1, "image", "add", "x", "--size", "4M", "--block-size", "3M"),
          2,
          /^error: Block size 3145728 is not allowed/,
        );
        const list = await json<{ images: Record<string, unknown>[] }>(n2, "image", "list");
        assert.deepEqual(list.images.map((image) => image.name), ["solo", "vm"]);
        assert.deepEqual(
          keys(list.images[1]),
          IMAGE_VIEW_KEYS.filter((key) =>
            !["activeBlocks", "createdAtMs", "resyncRateBytesPerSecond", "uid"].includes(key)
          ),
        );
        const table = await ukai(n2, "image", "list");
        assert.equal(
          table.stdout,
          "NAME  SIZE      BLOCKS        OWNER  LOCATIONS  OUT OF SYNC\n" +
            "solo  4.0 MiB   4 × 1.0 MiB   -      n1         0\n" +
            "vm    16.0 MiB  16 × 1.0 MiB  -      n1, n2     0\n",
        );
        const info = await ukai(n2, "image", "info", "vm");
        assert.match(
          info.stdout,
          /^name {9}vm\nsize {9}16\.0 MiB \(16777216 bytes; capacity 16\.0 MiB\)\n/,
        );
        assert.match(
          info.stdout,
          /\nLOCATION {2}BLOCKS {2}STATE\nn1 {8}0-15 {4}in sync\nn2 {8}0-15 {4}in sync\n$/,
        );
        fails(await ukai(n1, "image", "info", "nope"), 1, /^error: Image "nope" does not exist\n/);
      },
    );

    await t.step("image stats shows each node's I/O after writes through a mount", async () => {
      await writeThrough(`${cluster.node("n1").mount}/vm`, 16 * MiB);
      const stats = await json<{ image: string; nodes: Record<string, unknown>[] }>(
        n2,
        "image",
        "stats",
        "vm",
      );
      assert.equal(stats.image, "vm");
      assert.deepEqual(stats.nodes.map((node) => node.node), ["n1", "n2", "n3"]);
      for (const node of stats.nodes) {
        assert.deepEqual(keys(node), [...COUNTER_KEYS, "node", "reachable"].sort());
      }
      const n1Stats = stats.nodes[0] as { writeOps: number; writeBytes: number; flushOps: number };
      assert.ok(n1Stats.writeOps > 0 && n1Stats.writeBytes === 16 * MiB, JSON.stringify(n1Stats));
      assert.ok(n1Stats.flushOps >= 1);
      const table = await ukai(n2, "image", "stats", "vm");
      assert.match(table.stdout, /^ +n1\n/);
      assert.match(table.stdout, /\nwrites +\d+ \(16\.0 MiB\)\n/);
      fails(await ukai(n1, "image", "stats", "nope"), 1, /does not exist/);
    });

    await t.step("hypervisor add and remove; the last one cannot be removed", async () => {
      assert.deepEqual(await json(n1, "hypervisor", "add", "solo", "n1"), {
        name: "solo",
        hypervisors: ["n1"],
      });
      fails(
        await ukai(n1, "hypervisor", "remove", "solo", "n1"),
        1,
        /^error: Cannot remove "n1", the last hypervisor of image "solo"/,
      );
      await json(n1, "hypervisor", "add", "solo", "n2");
      const human = await ukai(n2, "hypervisor", "remove", "solo", "n1");
      assert.equal(human.stdout, "solo may run on: n2\n");
      fails(await ukai(n1, "hypervisor", "remove", "solo", "n3"), 1, /is not a hypervisor/);
      fails(await ukai(n1, "hypervisor", "add", "nope", "n3"), 1, /Image "nope" does not exist/);
    });

    await t.step(
      "location add --wait copies blocks; remove refuses the last in-sync copy",
      async () => {
        assert.deepEqual(await json(n1, "location", "add", "vm", "n3", "--wait"), {
          name: "vm",
          operation: "sync",
          done: true,
          outOfSyncBlocks: 0,
        });
        assert.deepEqual(await json(n1, "location", "remove", "vm", "n3", "--range", "0-3"), {
          name: "vm",
          node: "n3",
          removedBlocks: 4,
          ranges: [{ start: 0, end: 4 }],
        });
        assert.deepEqual(await json(n2, "location", "add", "vm", "n3", "--range", "0-1"), {
          name: "vm",
          node: "n3",
          addedBlocks: 2,
        });
        fails(
          await ukai(n1, "location", "remove", "solo", "n1"),
          1,
          /^error: Cannot remove location "n1" of image "solo": it holds the only in-sync copy of blocks 0-3\n/,
        );
        fails(await ukai(n1, "location", "remove", "vm", "n9"), 1, /is not a location/);
        fails(
          await ukai(n1, "location", "add", "vm", "n3", "--range", "10-99"),
          2,
          /^error: Field "range"|^error: Cannot use block range "10-99"/,
        );
      },
    );

    await t.step("image sync reports, waits, and refuses ranges outside the image", async () => {
      const started = await json(n1, "image", "sync", "vm", "--no-wait", "--rate", "64M");
      assert.deepEqual(keys(started), ["name", "outOfSyncBlocks", "resyncRateBytesPerSecond"]);
      assert.equal(started.resyncRateBytesPerSecond, 64 * MiB);
      const waited = await ukai(n1, "image", "sync", "vm");
      assert.equal(waited.code, 0, waited.stderr);
      assert.match(waited.stdout, /vm is in sync\n$/);
      fails(
        await ukai(n1, "image", "sync", "vm", "--range", "0-99"),
        2,
        /the image has blocks 0-15/,
      );
    });

    await t.step("image move under a pseudo-terminal draws a progress bar, in colour", async () => {
      const run = await inTerminal(
        ["image", "move", "vm", "--from", "n2", "--to", "n3", "--rate", "16M"],
        { UKAI_CONTROL: n1 },
      );
      assert.equal(run.code, 0, run.stdout);
      assert.ok(run.stdout.includes("\r\x1b[2Kmove vm "), "the bar is redrawn in place");
      assert.ok(run.stdout.includes("\x1b[32m█"), "its done part is green");
      assert.match(
        stripStyles(run.stdout),
        /\rmove vm █*░* +\d+% {2}[\d.]+ [KMG]?i?B of [\d.]+ MiB {2}[\d.]+ [KMG]?i?B\/s {2}(ETA|done)/,
      );
      assert.match(run.stdout, /vm moved from n2 to n3\r?\n$/);
      const view = await json<{ locations: { node: string }[]; move: unknown }>(
        n2,
        "image",
        "info",
        "vm",
      );
      assert.deepEqual(view.locations.map((location) => location.node), ["n1", "n3"]);
      assert.equal(view.move, null);
      const plain = await inTerminal(["status"], { UKAI_CONTROL: n1, NO_COLOR: "1" });
      assert.equal(plain.code, 0);
      assert.ok(!plain.stdout.includes("\x1b["), "NO_COLOR: no escapes");
      const coloured = await inTerminal(["status"], { UKAI_CONTROL: n1 });
      assert.ok(coloured.stdout.includes("\x1b[32mhealthy\x1b[0m"), coloured.stdout);
    });

    await t.step(
      "image move errors, --cancel, and Ctrl-C that leaves the move running",
      async () => {
        fails(
          await ukai(n1, "image", "move", "vm", "--from", "n1", "--to", "n1"),
          2,
          /two different nodes/,
        );
        fails(
          await ukai(n1, "image", "move", "vm", "--from", "n2", "--to", "n1"),
          1,
          /"n2" is not a location/,
        );
        fails(await ukai(n1, "image", "move", "vm", "--from", "n1", "--to", "n9"), 1, /Node "n9"/);
        fails(await ukai(n1, "image", "move", "vm"), 2, /required option '--from <node>'/);
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-all",
            `${root}main.ts`,
            "image",
            "move",
            "vm",
            "--from",
            "n1",
            "--to",
            "n2",
            "--rate",
            "1M",
          ],
          env: { UKAI_CONTROL: n1, NO_COLOR: "1" },
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let stdout = "";
        while (!stdout.includes("\n")) stdout += (await reader.read()).value ?? "";
        assert.match(stdout, /^move vm: \d+% \(\d+\/16 blocks, /);
        child.kill("SIGINT");
        const status = await child.status;
        reader.releaseLock();
        await child.stdout.cancel().catch(() => undefined);
        const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
        assert.equal(status.code, 130);
        assert.equal(
          stderr,
          "stopped waiting; the move of vm goes on in the cluster. Watch it with: ukai image info vm  (or: ukai status)\n",
        );
        const view = await json<{ move: { from: string; to: string } | null }>(
          n1,
          "image",
          "info",
          "vm",
        );
        assert.deepEqual({ ...view.move, startedAtMs: 0 }, {
          from: "n1",
          to: "n2",
          startedAtMs: 0,
        });
        fails(
          await ukai(n1, "image", "move", "vm", "--from", "n3", "--to", "n2", "--cancel"),
          1,
          /is moving from "n1" to "n2", not from "n3" to "n2"/,
        );
        assert.deepEqual(
          await json(n2, "image", "move", "vm", "--from", "n1", "--to", "n2", "--cancel"),
          { name: "vm", from: "n1", to: "n2" },
        );
        fails(
          await ukai(n2, "image", "move", "vm", "--from", "n1", "--to", "n2", "--cancel"),
          1,
          /is not being moved/,
        );
        await json(n1, "image", "sync", "vm", "--rate", "0");
        await json(n1, "location", "remove", "vm", "n2");
      },
    );

    await t.step("image handover moves ownership to the named node or the node asked", async () => {
      const to2 = await json(n1, "image", "handover", "vm", "--to", "n2");
      assert.deepEqual(keys(to2), ["epoch", "name", "owner"]);
      assert.equal(to2.owner, "n2");
      const here = await ukai(n1, "image", "handover", "vm");
      assert.match(here.stdout, /^vm is owned by n1 \(epoch \d+\)\n$/);
      assert.ok(
        (await json<{ epoch: number }>(n1, "image", "info", "vm")).epoch > (to2.epoch as number),
      );
      fails(await ukai(n1, "image", "handover", "vm", "--to", "n9"), 1, /Node "n9"/);
      fails(
        await ukai(n1, "image", "handover", "solo", "--to", "n3"),
        1,
        /^error: Node "n3" may not run image "solo": its hypervisors are n2\n/,
      );
    });

    await t.step("node add and remove; removing a node that holds data is refused", async () => {
      const added = await json(
        n2,
        "node",
        "add",
        "n4",
        "--address",
        "127.0.0.1:9",
        "--zone",
        "dc3",
        "--learner",
      );
      assert.deepEqual(added, { id: "n4", address: "127.0.0.1:9", zone: "dc3", learner: true });
      const list = await json<{ nodes: { id: string; role: string; reachable: boolean }[] }>(
        n1,
        "node",
        "list",
      );
      assert.deepEqual(list.nodes.find((node) => node.id === "n4"), {
        ...list.nodes.find((node) => node.id === "n4"),
        role: "learner",
        reachable: false,
      });
      assert.deepEqual(await json(n1, "node", "remove", "n4"), { id: "n4", removed: true });
      fails(await ukai(n1, "node", "remove", "n4"), 1, /^error: Node "n4" is not a member\n/);
      fails(await ukai(n1, "node", "add", "n5", "--address", "nowhere"), 2, /HOST:PORT/);
      fails(
        await ukai(n1, "node", "remove", "n3"),
        1,
        /^error: Cannot remove node "n3": it holds images "vm"; remove its locations first/,
      );
    });

    await t.step("image remove: refused while open, then done; a second remove fails", async () => {
      const file = await Deno.open(`${cluster.node("n2").mount}/solo`, { read: true });
      try {
        fails(
          await ukai(n1, "image", "remove", "solo"),
          1,
          /^error: Cannot remove image "solo": it is open on "n2"\n/,
        );
      } finally {
        file.close();
      }
      for (let attempt = 0;; attempt++) {
        const run = await ukai(n1, "image", "remove", "solo", "--json");
        if (run.code === 0) {
          assert.deepEqual(JSON.parse(run.stdout), { name: "solo", removed: true });
          break;
        }
        if (attempt > 50) assert.fail(run.stderr);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      fails(await ukai(n1, "image", "remove", "solo"), 1, /Image "solo" does not exist/);
    });

    await t.step(
      "a dead node shows in status, node errors and stats; the CLI still exits 0",
      async () => {
        await cluster.kill("n3");
        const errors = await json<{ errors: Record<string, unknown>[] }>(n1, "node", "errors");
        assert.deepEqual(errors.errors.find((row) => row.observer === "n3"), {
          observer: "n3",
          node: "n3",
          observerReachable: false,
          consecutiveFailures: null,
          suspendedUntilMs: null,
          lastError: errors.errors.find((row) => row.observer === "n3")?.lastError,
        });
        const status = await json<{ nodes: { id: string; reachable: boolean }[] }>(n1, "status");
        assert.equal(status.nodes.find((node) => node.id === "n3")?.reachable, false);
        const stats = await ukai(n1, "image", "stats", "vm");
        assert.equal(stats.code, 0);
        assert.match(stats.stdout, /\nn3: not asked \(.+\)\n$/);
      },
    );

    await t.step("the real program exits 3 without a server and 2 on usage errors", async () => {
      const missing = await cluster.cli(null, ["status"], {
        UKAI_CONTROL: `${cluster.root}/none.sock`,
      });
      assert.equal(missing.code, 3);
      assert.match(missing.stderr, /^error: Cannot reach the ukai server: no control socket at /);
      const usage = await cluster.cli("n1", ["image", "add", "x"]);
      assert.equal(usage.code, 2);
      const refused = await cluster.cli("n1", ["image", "info", "nope", "--json"]);
      assert.equal(refused.code, 1);
      assert.equal(refused.stdout, "");
    });
  } finally {
    await cluster.close();
  }
});
