import { assert } from "../base/assert.ts";
import { Rng } from "../base/rng.ts";
import { MemoryStorage, type Message, NO_LIMIT } from "../raft/mod.ts";
import { type CrashPoint, deriveKnobs, type Knobs } from "./knobs.ts";
import { encodeCommand, KvStateMachine } from "./kv.ts";
import { type NodeEnvironment, SimNode } from "./node.ts";

/** A one-node world: fsyncs complete when `settle()` says so; crash points are scripted. */
class SoloEnvironment implements NodeEnvironment {
  readonly knobs: Knobs;
  readonly sent: Message[] = [];
  fsyncsPending = 0;
  crashAt: CrashPoint | undefined;
  appliedCount = 0;

  constructor(adjust: (knobs: Knobs) => void = () => {}) {
    this.knobs = deriveKnobs(1);
    this.knobs.cluster.snapshotEveryEntries = 5;
    this.knobs.disk.tornWriteProbability = 0;
    adjust(this.knobs);
  }

  send(_node: SimNode, message: Message): void {
    this.sent.push(message);
  }
  scheduleFsync(): void {
    this.fsyncsPending++;
  }
  crashPoint(node: SimNode, point: CrashPoint): boolean {
    if (point !== this.crashAt) return false;
    this.crashAt = undefined;
    node.crash(`scripted ${point}`);
    return true;
  }
  persisting(): void {}
  persisted(): void {}
  durable(): void {}
  applied(): void {
    this.appliedCount++;
  }
  commandApplied(): void {}
  snapshotRestored(): void {}
  readReady(): void {}
  traceLine(): void {}

  /** Completes fsyncs until the node is idle. */
  settle(node: SimNode): void {
    for (let round = 0; round < 1_000 && this.fsyncsPending > 0; round++) {
      this.fsyncsPending--;
      node.fsyncDone(node.incarnation);
    }
    this.fsyncsPending = 0;
  }
}

function soloNode(environment: SoloEnvironment): SimNode {
  const node = new SimNode("n1", environment, new Rng(9));
  const bootstrap = MemoryStorage.bootstrap(
    { voters: ["n1"], learners: [] },
    new KvStateMachine().snapshot(),
  );
  node.disk.write({
    snapshot: bootstrap.snapshot(),
    hardState: bootstrap.initialState().hardState,
    entries: [],
  });
  node.disk.fsync();
  node.start();
  for (let tick = 0; tick < 100 && node.status().state !== "leader"; tick++) {
    node.tick();
    environment.settle(node);
  }
  assert(node.status().state === "leader", "a single voter elects itself");
  return node;
}

function put(node: SimNode, environment: SoloEnvironment, request: number): void {
  const command = { op: "put" as const, client: 1, request, key: "k", value: `v${request}` };
  node.propose(encodeCommand(command));
  environment.settle(node);
}

Deno.test("SimNode: a restart rebuilds the log, hard state and state machine from disk", () => {
  const environment = new SoloEnvironment();
  const node = soloNode(environment);
  for (let request = 1; request <= 12; request++) put(node, environment, request);
  const before = {
    last: node.mirror.lastIndex(),
    first: node.mirror.firstIndex(),
    hardState: JSON.stringify(node.mirror.initialState().hardState),
    state: node.kv.hash(),
    applied: node.appliedIndex,
  };
  assert(before.first > 2, "the log was compacted by snapshots");
  node.crash("test");
  node.start();
  assert(node.appliedIndex === before.first - 1, "applied restarts at the snapshot index");
  assert(node.mirror.lastIndex() === before.last, "same last index");
  assert(
    JSON.stringify(node.mirror.initialState().hardState) === before.hardState,
    "same hard state",
  );
  for (let tick = 0; tick < 50; tick++) {
    node.tick();
    environment.settle(node);
  }
  assert(node.appliedIndex >= before.applied, "committed entries are applied again");
  assert(node.kv.get("k") === "v12", "the state machine is back");
  const entries = node.mirror.entries(
    node.mirror.firstIndex(),
    node.mirror.lastIndex() + 1,
    NO_LIMIT,
  );
  assert(entries.every((entry, i) => entry.index === node.mirror.firstIndex() + i), "consecutive");
});

Deno.test("SimNode: a crash between append and fsync loses the unsynced entries", () => {
  const environment = new SoloEnvironment();
  const node = soloNode(environment);
  put(node, environment, 1);
  const durableLast = node.disk.durable().lastIndex();
  environment.crashAt = "afterAppendBeforeFsync";
  node.propose(encodeCommand({ op: "put", client: 1, request: 2, key: "k", value: "lost" }));
  assert(node.liveness === "crashed", "crashed at the crash point");
  node.start();
  assert(node.mirror.lastIndex() === durableLast, "the unsynced entry is gone");
});

Deno.test("SimNode: the forgetVoteOnRestart planted bug drops the durable vote", () => {
  const honest = new SoloEnvironment();
  const node = soloNode(honest);
  node.crash("test");
  node.start();
  assert(node.status().vote === "n1", "an honest restart keeps the vote");
  const buggy = new SoloEnvironment((knobs) => (knobs.bugs.forgetVoteOnRestart = true));
  const forgetful = soloNode(buggy);
  forgetful.crash("test");
  forgetful.start();
  assert(forgetful.status().vote === "", "the planted bug forgets it");
});
