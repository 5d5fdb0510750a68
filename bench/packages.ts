/**
 * Debian packages the benchmark suite needs (fio, gcc and libfuse3-dev for
 * the C reference, gnuplot, and the peers: nbdkit + nbdfuse, GlusterFS,
 * etcd): which are missing, installing them with apt-get when running as
 * root, and otherwise the exact command to run. Also the versions recorded
 * in the report.
 *
 * @module
 */

import { run } from "./common.ts";

/** Packages per part of the suite. */
export const PACKAGES = {
  core: ["fio", "gcc", "libfuse3-dev", "fuse3", "gnuplot-nox"],
  nbd: ["nbdkit", "libnbd-bin"],
  gluster: ["glusterfs-server", "glusterfs-client"],
  etcd: ["etcd-server", "etcd-client"],
} as const;

async function installed(name: string): Promise<boolean> {
  const result = await run("dpkg-query", ["-W", "-f=${Status}", name], { allowFailure: true });
  return result.code === 0 && result.stdout.includes("install ok installed");
}

/**
 * Makes sure `names` are installed: installs the missing ones when root,
 * otherwise throws with the apt-get command to run.
 */
export async function ensurePackages(names: readonly string[]): Promise<void> {
  const missing: string[] = [];
  for (const name of names) if (!(await installed(name))) missing.push(name);
  if (missing.length === 0) return;
  const command = `apt-get install -y ${missing.join(" ")}`;
  if (Deno.uid() !== 0) {
    throw new Error(`Missing Debian packages: run "sudo apt-get update && sudo ${command}"`);
  }
  console.log(`installing ${missing.join(", ")} (apt-get)`);
  const env = { DEBIAN_FRONTEND: "noninteractive", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
  await run("apt-get", ["update", "-qq"], { env });
  await run("apt-get", ["install", "-y", "-qq", ...missing], { env });
}

/** The installed version of each package (null when absent). */
export async function packageVersions(
  names: readonly string[],
): Promise<Record<string, string | null>> {
  const versions: Record<string, string | null> = {};
  for (const name of names) {
    const result = await run("dpkg-query", ["-W", "-f=${Version}", name], { allowFailure: true });
    versions[name] = result.code === 0 && result.stdout !== "" ? result.stdout : null;
  }
  return versions;
}
