/**
 * etcd 3.4 (Debian's etcd-server) as the Raft peer: three members on
 * loopback ports, each with its data folder in the suite's temporary folder,
 * fsync on (etcd's default), started and stopped by the suite. Clients talk
 * to the leader through etcd's HTTP/JSON gateway (`/v3/kv/put`), the same
 * kind of transport (HTTP/1.1 + JSON) as ukai's control API.
 *
 * @module
 */

import { freePort } from "../tests/harness/processes.ts";
import { type Cleanup, run, startDaemon, until } from "./common.ts";

/** A running etcd cluster. */
export interface EtcdCluster {
  /** Client URLs, one per member. */
  readonly clientUrls: readonly string[];
  /** The leader's client URL. */
  leaderUrl(): Promise<string>;
  readonly version: string;
  close(): Promise<void>;
}

interface MemberStatus {
  header?: { "member_id"?: string };
  leader?: string;
}

/** Starts three etcd members in `folder` and waits for a leader. */
export async function startEtcd(cleanup: Cleanup, folder: string): Promise<EtcdCluster> {
  const members = [1, 2, 3].map((index) => ({
    name: `m${index}`,
    client: `http://127.0.0.1:${freePort()}`,
    peer: `http://127.0.0.1:${freePort()}`,
  }));
  await Deno.mkdir(folder, { recursive: true });
  const initial = members.map((member) => `${member.name}=${member.peer}`).join(",");
  const daemons = members.map((member) =>
    startDaemon(cleanup, `etcd ${member.name}`, "etcd", [
      "--name",
      member.name,
      "--data-dir",
      `${folder}/${member.name}`,
      "--listen-client-urls",
      member.client,
      "--advertise-client-urls",
      member.client,
      "--listen-peer-urls",
      member.peer,
      "--initial-advertise-peer-urls",
      member.peer,
      "--initial-cluster",
      initial,
      "--initial-cluster-state",
      "new",
      "--initial-cluster-token",
      "ukai-bench",
      "--log-level",
      "warn",
    ], `${folder}/${member.name}.log`)
  );
  const close = async () => {
    for (const daemon of daemons) await daemon.stop();
  };
  const status = async (url: string) => {
    const response = await fetch(`${url}/v3/maintenance/status`, { method: "POST", body: "{}" });
    if (!response.ok) throw new Error(`etcd status: ${response.status}`);
    return await response.json() as MemberStatus;
  };
  const leaderUrl = async () => {
    for (const member of members) {
      const answer = await status(member.client).catch(() => null);
      if (answer?.leader && answer.leader !== "0" && answer.header?.member_id === answer.leader) {
        return member.client;
      }
    }
    throw new Error("etcd has no leader");
  };
  try {
    await until(leaderUrl, () => true, "an etcd leader", { cleanup, timeoutMs: 30_000 });
  } catch (error) {
    await close();
    throw error;
  }
  const version = (await run("etcd", ["--version"])).stdout.split("\n")[0] ?? "";
  return { clientUrls: members.map((member) => member.client), leaderUrl, version, close };
}
