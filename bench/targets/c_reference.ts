/**
 * Targets "c-ref", "c-ref-2" and "c-ref-remote": bench/fuse_reference.c, a
 * single-threaded C server on libfuse3's low-level API with the FUSE options
 * ukai uses, serving one backing file (a plain file in the suite's folder).
 * The yardstick for what a FUSE file can do on this machine. "c-ref-2" also
 * sends every write to a C peer process over loopback TCP (the copy ukai-2
 * keeps on n2) and "c-ref-remote" serves reads and writes from that peer only
 * (ukai-remote's layout): what replication costs on these two cores when no
 * JavaScript is involved. Built here with gcc into bench/build/.
 *
 * @module
 */

import { type Cleanup, mountsUnder, run, startDaemon, unmount, until } from "../common.ts";
import { fill } from "../fio.ts";
import type { StartedGroup, Target, TargetContext, TargetGroup } from "./target.ts";

const bench = new URL("../", import.meta.url).pathname;
const SOURCE = `${bench}fuse_reference.c`;
const BINARY = `${bench}build/fuse_reference`;

/** Builds the reference server when the binary is missing or older than its source. */
export async function buildReference(): Promise<string> {
  const binary = await Deno.stat(BINARY).catch(() => null);
  const source = await Deno.stat(SOURCE);
  if (binary?.mtime && source.mtime && binary.mtime >= source.mtime) return BINARY;
  await Deno.mkdir(`${bench}build`, { recursive: true });
  await run("gcc", ["-O2", "-Wall", "-o", BINARY, SOURCE, "-lfuse3", "-lpthread"]);
  return BINARY;
}

/** How each C target uses the peer copy (the flag of fuse_reference.c). */
const LAYOUTS: Record<string, { title: string; peer?: "--replicate" | "--remote" }> = {
  "c-ref": { title: "C libfuse3 reference (bench/fuse_reference.c)" },
  "c-ref-2": { title: "C reference, two copies (local + a C peer over TCP)", peer: "--replicate" },
  "c-ref-remote": { title: "C reference, remote-only (the copy is a C peer)", peer: "--remote" },
};

interface Started {
  readonly target: Target;
  readonly backings: readonly string[];
  stop(): Promise<void>;
}

/** Starts a peer copy on `backing` and resolves to the port it listens on. */
async function startPeer(
  cleanup: Cleanup,
  binary: string,
  backing: string,
  log: string,
): Promise<{ port: number; stop: () => Promise<void> }> {
  const peer = startDaemon(cleanup, `C peer of ${backing}`, binary, [
    "--serve-copy",
    backing,
    "0",
  ], log);
  const text = await until(
    () => Deno.readTextFile(log),
    (text) => /listening \d+/.test(text),
    `the C peer on ${backing}`,
    { timeoutMs: 10_000, cleanup },
  );
  return { port: Number(/listening (\d+)/.exec(text)![1]), stop: () => peer.stop() };
}

async function startLayout(context: TargetContext, binary: string, id: string): Promise<Started> {
  const { cleanup, work } = context;
  const layout = LAYOUTS[id]!;
  const backing = `${work}/${id}-backing.img`;
  const mount = `${work}/${id}-mnt`;
  await Deno.mkdir(mount, { recursive: true });
  const speed = await fill(cleanup, backing, context.sizeBytes);
  const backings = [backing];
  const args = [backing, mount, "disk"];
  let stopPeer = () => Promise.resolve();
  if (layout.peer !== undefined) {
    const peerBacking = `${work}/${id}-peer.img`;
    await fill(cleanup, peerBacking, context.sizeBytes);
    backings.push(peerBacking);
    const peer = await startPeer(cleanup, binary, peerBacking, `${work}/${id}-peer.log`);
    stopPeer = peer.stop;
    args.push(layout.peer, String(peer.port));
  }
  const server = startDaemon(cleanup, `fuse_reference ${id}`, binary, args, `${work}/${id}.log`);
  const unmountLater = cleanup.defer(`unmount ${id}`, () => unmount(mount));
  await until(() => mountsUnder(mount), (points) => points.length > 0, `the ${id} mount`, {
    timeoutMs: 10_000,
    cleanup,
  });
  return {
    target: { id, title: layout.title, file: `${mount}/disk`, fillMiBPerSecond: speed },
    backings,
    stop: async () => {
      await server.stop();
      await unmountLater();
      await stopPeer();
      for (const file of backings) await Deno.remove(file).catch(() => undefined);
    },
  };
}

/** The C reference targets. */
export const cReferenceGroup: TargetGroup = {
  ids: Object.keys(LAYOUTS),
  packages: ["gcc", "libfuse3-dev"],
  peer: false,
  async start(context: TargetContext, ids: readonly string[]): Promise<StartedGroup> {
    const binary = await buildReference();
    const started: Started[] = [];
    for (const id of ids) started.push(await startLayout(context, binary, id));
    return {
      targets: started.map((layout) => layout.target),
      details: {
        binary,
        backings: Object.fromEntries(started.map((layout) => [layout.target.id, layout.backings])),
      },
      stop: async () => {
        for (const layout of started) await layout.stop();
      },
    };
  },
};
