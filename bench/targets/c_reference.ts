/**
 * Target "c-ref": bench/fuse_reference.c, a single-threaded C server on
 * libfuse3's low-level API with the FUSE options ukai uses, serving one
 * backing file (a plain file in the suite's folder). The yardstick for what a
 * FUSE file can do on this machine. Built here with gcc into bench/build/.
 *
 * @module
 */

import { mountsUnder, run, startDaemon, unmount, until } from "../common.ts";
import { fill } from "../fio.ts";
import type { StartedGroup, TargetContext, TargetGroup } from "./target.ts";

const bench = new URL("../", import.meta.url).pathname;
const SOURCE = `${bench}fuse_reference.c`;
const BINARY = `${bench}build/fuse_reference`;

/** Builds the reference server when the binary is missing or older than its source. */
export async function buildReference(): Promise<string> {
  const binary = await Deno.stat(BINARY).catch(() => null);
  const source = await Deno.stat(SOURCE);
  if (binary?.mtime && source.mtime && binary.mtime >= source.mtime) return BINARY;
  await Deno.mkdir(`${bench}build`, { recursive: true });
  await run("gcc", ["-O2", "-Wall", "-o", BINARY, SOURCE, "-lfuse3"]);
  return BINARY;
}

/** The C reference target. */
export const cReferenceGroup: TargetGroup = {
  ids: ["c-ref"],
  packages: ["gcc", "libfuse3-dev"],
  peer: false,
  async start(context: TargetContext): Promise<StartedGroup> {
    const { cleanup, work } = context;
    const binary = await buildReference();
    const backing = `${work}/c-backing.img`;
    const mount = `${work}/c-mnt`;
    await Deno.mkdir(mount, { recursive: true });
    const speed = await fill(cleanup, backing, context.sizeBytes);
    const server = startDaemon(
      cleanup,
      "fuse_reference",
      binary,
      [backing, mount],
      `${work}/c.log`,
    );
    const unmountLater = cleanup.defer("unmount the C reference", () => unmount(mount));
    await until(() => mountsUnder(mount), (points) => points.length > 0, "the C reference mount", {
      timeoutMs: 10_000,
      cleanup,
    });
    return {
      targets: [{
        id: "c-ref",
        title: "C libfuse3 reference (bench/fuse_reference.c)",
        file: `${mount}/disk`,
        fillMiBPerSecond: speed,
      }],
      details: { binary, backing },
      stop: async () => {
        await server.stop();
        await unmountLater();
        await Deno.remove(backing).catch(() => undefined);
      },
    };
  },
};
