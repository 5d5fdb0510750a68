/**
 * What is mounted where, from `/proc/self/mountinfo`, and the canonical form
 * of a mount point path. Reading the table never touches the mounted
 * filesystems, so it is safe while one of them is stale or served by this
 * very process. Knows nothing of ukai.
 *
 * @module
 */

/** One line of `/proc/self/mountinfo`. */
export interface MountEntry {
  /** Where it is mounted (octal escapes decoded). */
  mountPoint: string;
  /** Filesystem type (`fuse.ukai`, `ext4`, …). */
  fsType: string;
  /** The mount source (`fsname` for FUSE). */
  source: string;
  /** Device number as `major:minor` (a FUSE connection is named by the minor). */
  device: string;
}

function unescape(field: string): string {
  return field.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}

/** Parses the text of a mountinfo file. */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const fields = line.split(" ");
    const separator = fields.indexOf("-", 6);
    const device = fields[2];
    const mountPoint = fields[4];
    const fsType = fields[separator + 1];
    const source = fields[separator + 2];
    if (
      separator < 0 || device === undefined || mountPoint === undefined || fsType === undefined ||
      source === undefined
    ) {
      throw new Error(`unexpected mountinfo line: ${line}`);
    }
    entries.push({ mountPoint: unescape(mountPoint), fsType, source: unescape(source), device });
  }
  return entries;
}

/** The mounts of this process's mount namespace, in mount order. */
export async function readMounts(): Promise<MountEntry[]> {
  return parseMountInfo(await Deno.readTextFile("/proc/self/mountinfo"));
}

/** The topmost mount at exactly `mountPoint` (a canonical path), if any. */
export async function findMount(mountPoint: string): Promise<MountEntry | undefined> {
  return (await readMounts()).findLast((entry) => entry.mountPoint === mountPoint);
}

/** True for FUSE filesystem types (`fuse`, `fuse.NAME`, `fuseblk`). */
export function isFuseType(fsType: string): boolean {
  return fsType === "fuse" || fsType === "fuseblk" || fsType.startsWith("fuse.");
}

/**
 * The absolute, symlink-free form of `path` as the mount table spells it.
 * Only the parent is resolved, so this works on a stale mount point (whose
 * own stat fails) and never asks the filesystem mounted there.
 */
export async function canonicalMountPoint(path: string): Promise<string> {
  const absolute = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  const trimmed = absolute.replace(/\/+$/, "");
  const slash = trimmed.lastIndexOf("/");
  const name = trimmed.slice(slash + 1);
  const parent = await Deno.realPath(slash <= 0 ? "/" : trimmed.slice(0, slash));
  if (name === "" || name === "." || name === "..") return await Deno.realPath(trimmed || "/");
  return parent === "/" ? `/${name}` : `${parent}/${name}`;
}
