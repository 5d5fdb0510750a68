/**
 * Target "nbd": a single copy over the network through FUSE — nbdkit's file
 * plugin serving a plain backing file on 127.0.0.1 (`--threads 4
 * cache=none`, as in design.md §7) and nbdfuse exposing it as a file. Both
 * run in the foreground as children of the suite.
 *
 * @module
 */

import { freePort } from "../../tests/harness/processes.ts";
import { mountsUnder, run, startDaemon, unmount, until } from "../common.ts";
import { fill } from "../fio.ts";
import { PACKAGES } from "../packages.ts";
import type { StartedGroup, TargetContext, TargetGroup } from "./target.ts";

/** The nbdkit + nbdfuse target. */
export const nbdGroup: TargetGroup = {
  ids: ["nbd"],
  packages: PACKAGES.nbd,
  peer: true,
  async start(context: TargetContext): Promise<StartedGroup> {
    const { cleanup, work } = context;
    const backing = `${work}/nbd-backing.img`;
    const mount = `${work}/nbd-mnt`;
    await Deno.mkdir(mount, { recursive: true });
    const speed = await fill(cleanup, backing, context.sizeBytes);
    const port = freePort();
    const nbdkitArgs = [
      "--foreground",
      "--exit-with-parent",
      "--ipaddr",
      "127.0.0.1",
      "--port",
      String(port),
      "--threads",
      "4",
      "file",
      backing,
      "cache=none",
    ];
    const server = startDaemon(cleanup, "nbdkit", "nbdkit", nbdkitArgs, `${work}/nbdkit.log`);
    await until(
      async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conn.close();
        return true;
      },
      (up) => up,
      "nbdkit to listen",
      { cleanup, timeoutMs: 10_000 },
    );
    const uri = `nbd://127.0.0.1:${port}`;
    const client = startDaemon(
      cleanup,
      "nbdfuse",
      "nbdfuse",
      [`${mount}/disk`, uri],
      `${work}/nbdfuse.log`,
    );
    const unmountLater = cleanup.defer("unmount nbdfuse", () => unmount(mount));
    await until(() => mountsUnder(mount), (points) => points.length > 0, "the nbdfuse mount", {
      cleanup,
      timeoutMs: 10_000,
    });
    const versions = await run("nbdkit", ["--version"]);
    return {
      targets: [{
        id: "nbd",
        title: "nbdkit file plugin over loopback + nbdfuse (one copy over the network)",
        file: `${mount}/disk`,
        fillMiBPerSecond: speed,
      }],
      details: {
        nbdkit: ["nbdkit", ...nbdkitArgs].join(" "),
        nbdfuse: `nbdfuse MNT/disk ${uri}`,
        version: versions.stdout.trim(),
      },
      stop: async () => {
        await unmountLater();
        await client.stop();
        await server.stop();
        await Deno.remove(backing).catch(() => undefined);
      },
    };
  },
};
