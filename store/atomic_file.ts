/**
 * Whole-file replacement that survives a crash at any point: the new content
 * goes to a temporary file in the same folder, is made durable, renamed over
 * the old name, and the folder is fsynced. A reader sees the old file or the
 * new one, never a mix. Used for snapshots and small state files.
 *
 * @module
 */

import { folderOf, fsyncDirectory, removeTemporary, storeError } from "./_fs.ts";

let temporaryCounter = 0;

/**
 * Replaces the file at `path` with `bytes`, atomically and durably: when the
 * promise resolves the new content survives a crash; when it rejects (or the
 * process dies first) the old file, if any, is unchanged.
 *
 * @param path the file to write; its folder must exist
 * @param bytes the complete new content
 * @throws {UkaiError} NO_SPACE when the disk is full, IO for any other failure
 * @example
 * ```ts
 * import { writeFileAtomic } from "./atomic_file.ts";
 * const folder = await Deno.makeTempDir();
 * await writeFileAtomic(`${folder}/state.json`, new TextEncoder().encode("{}"));
 * await Deno.remove(folder, { recursive: true });
 * ```
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const folder = folderOf(path);
  const name = path.slice(path.lastIndexOf("/") + 1);
  temporaryCounter += 1;
  const temporary = `${folder}/.${name}.${Deno.pid}.${temporaryCounter}.tmp`;
  try {
    const file = await Deno.open(temporary, { write: true, createNew: true, mode: 0o600 });
    try {
      let written = 0;
      while (written < bytes.length) {
        written += await file.write(bytes.subarray(written));
      }
      // fdatasync covers the data and the file size, all a reader needs.
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(temporary, path);
  } catch (error) {
    removeTemporary(temporary);
    throw storeError(error, `Cannot write ${path}`);
  }
  await fsyncDirectory(folder);
}
