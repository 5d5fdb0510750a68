/**
 * Target "gluster": GlusterFS replica 3 on one machine, as design.md §7
 * describes — glusterd in the foreground with a private working and run
 * folder and its listener bound to 127.0.0.1, three bricks in the suite's
 * folder, `group virt`, and the FUSE client (`glusterfs -N`). Its CLI
 * refuses loopback brick hosts, so a host name is mapped to 127.0.0.1 in
 * /etc/hosts for the run and removed afterwards. glusterd's port is the
 * fixed 24007 (bricks fetch their volfile there). Bricks and the self-heal
 * daemon daemonize: they are stopped with the volume and then by their pids
 * (every process whose command line names this run's folder).
 *
 * @module
 */

import { mountsUnder, run, sleep, startDaemon, unmount, until } from "../common.ts";
import { fill } from "../fio.ts";
import { PACKAGES } from "../packages.ts";
import type { StartedGroup, TargetContext, TargetGroup } from "./target.ts";

const HOST = "ukai-bench-gluster";
const HOSTS_LINE = `127.0.0.1 ${HOST} # ukai bench (removed when it stops)`;
const VOLUME = "ukaibench";
const GLUSTERD_PORT = 24007;

function glusterdVolfile(folder: string): string {
  return [
    "volume management",
    "    type mgmt/glusterd",
    `    option working-directory ${folder}/lib`,
    `    option run-directory ${folder}/run`,
    `    option glusterd-sockfile ${folder}/glusterd.socket`,
    "    option transport-type socket",
    "    option transport.socket.bind-address 127.0.0.1",
    `    option transport.socket.listen-port ${GLUSTERD_PORT}`,
    "    option transport.socket.read-fail-log off",
    "    option ping-timeout 0",
    "    option event-threads 1",
    "end-volume",
    "",
  ].join("\n");
}

async function addHostName(): Promise<() => Promise<void>> {
  const hosts = await Deno.readTextFile("/etc/hosts");
  if (hosts.split("\n").some((line) => line.split(/\s+/).includes(HOST))) {
    return async () => {};
  }
  await Deno.writeTextFile("/etc/hosts", `${hosts.replace(/\n?$/, "\n")}${HOSTS_LINE}\n`);
  return async () => {
    const now = await Deno.readTextFile("/etc/hosts");
    await Deno.writeTextFile(
      "/etc/hosts",
      now.split("\n").filter((l) => l !== HOSTS_LINE).join("\n"),
    );
  };
}

/** Pids of processes whose command line mentions `folder`, with their `-S` sockets. */
async function processesNaming(folder: string): Promise<{ pid: number; sockets: string[] }[]> {
  const found: { pid: number; sockets: string[] }[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const args = await Deno.readTextFile(`/proc/${entry.name}/cmdline`).catch(() => "");
    const parts = args.split("\0");
    if (!parts.some((part) => part.includes(folder))) continue;
    if (!(parts[0] ?? "").includes("gluster")) continue;
    const sockets = parts.flatMap((part, index) => part === "-S" ? [parts[index + 1] ?? ""] : []);
    found.push({ pid: Number(entry.name), sockets: sockets.filter((s) => s !== "") });
  }
  return found;
}

function assertPortFree(port: number): void {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
  } catch {
    throw new Error(
      `Port ${port} is in use (another glusterd?): GlusterFS needs it; stop that one first`,
    );
  }
}

/** The GlusterFS target. */
export const glusterGroup: TargetGroup = {
  ids: ["gluster"],
  packages: PACKAGES.gluster,
  peer: true,
  async start(context: TargetContext): Promise<StartedGroup> {
    const { cleanup } = context;
    const folder = `${context.work}/gluster`;
    for (const sub of ["lib", "run", "log", "b1", "b2", "b3", "mnt"]) {
      await Deno.mkdir(`${folder}/${sub}`, { recursive: true });
    }
    assertPortFree(GLUSTERD_PORT);
    await Deno.writeTextFile(`${folder}/glusterd.vol`, glusterdVolfile(folder));
    const removeHost = cleanup.defer("remove the /etc/hosts entry", await addHostName());
    const sockets = new Set<string>();
    const killLeftovers = cleanup.defer("stop GlusterFS bricks and daemons", async () => {
      for (const { pid } of await processesNaming(folder)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // gone
        }
      }
      await sleep(200);
      for (const socket of sockets) await Deno.remove(socket).catch(() => undefined);
      const brickLogs = "/var/log/glusterfs/bricks";
      for (const brick of ["b1", "b2", "b3"]) {
        const name = `${folder}/${brick}`.replace(/^\//, "").replaceAll("/", "-");
        await Deno.remove(`${brickLogs}/${name}.log`).catch(() => undefined);
      }
    });
    const glusterd = startDaemon(cleanup, "glusterd", "glusterd", [
      "-N",
      "-f",
      `${folder}/glusterd.vol`,
      "-l",
      `${folder}/log/glusterd.log`,
      "-p",
      `${folder}/glusterd.pid`,
    ], `${folder}/log/glusterd.out`);
    const cli = (...args: string[]) =>
      run("gluster", [
        `--glusterd-sock=${folder}/glusterd.socket`,
        `--log-file=${folder}/log/cli.log`,
        "--mode=script",
        ...args,
      ], { cleanup });
    await until(() => cli("peer", "status"), () => true, "glusterd to answer", {
      cleanup,
      timeoutMs: 20_000,
      intervalMs: 300,
    });
    const bricks = ["b1", "b2", "b3"].map((brick) => `${HOST}:${folder}/${brick}`);
    await cli("volume", "create", VOLUME, "replica", "3", ...bricks, "force");
    await cli("volume", "set", VOLUME, "group", "virt");
    await cli("volume", "start", VOLUME);
    const stopVolume = cleanup.defer("stop the GlusterFS volume", async () => {
      await cli("volume", "stop", VOLUME, "force").catch(() => undefined);
    });
    for (const found of await processesNaming(folder)) found.sockets.forEach((s) => sockets.add(s));
    const mount = `${folder}/mnt`;
    const client = startDaemon(cleanup, "glusterfs client", "glusterfs", [
      "-N",
      "--volfile-server=127.0.0.1",
      `--volfile-id=${VOLUME}`,
      "-l",
      `${folder}/log/client.log`,
      mount,
    ], `${folder}/log/client.out`);
    const unmountLater = cleanup.defer("unmount GlusterFS", () => unmount(mount));
    await until(() => mountsUnder(mount), (points) => points.length > 0, "the GlusterFS mount", {
      cleanup,
      timeoutMs: 20_000,
    });
    const file = `${mount}/disk`;
    const speed = await fill(cleanup, file, context.sizeBytes);
    const version = (await run("glusterfs", ["--version"])).stdout.split("\n")[0] ?? "";
    return {
      targets: [{
        id: "gluster",
        title: "GlusterFS replica 3, group virt, FUSE client",
        file,
        fillMiBPerSecond: speed,
      }],
      details: { version, volume: VOLUME, bricks, options: "group virt" },
      stop: async () => {
        await unmountLater();
        await client.stop();
        await stopVolume();
        await glusterd.stop();
        await killLeftovers();
        await removeHost();
      },
    };
  },
};
