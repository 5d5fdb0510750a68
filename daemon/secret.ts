/**
 * The cluster secret: read from `--secret-file` (never from the command
 * line), or from `DATA/cluster.secret`. A node that starts a new cluster
 * without one generates it there (mode 0600) and says where, so the
 * operator can copy it to the nodes that will join.
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";
import type { Logger } from "../base/log.ts";

/** Shortest secret accepted, in characters (hex of 16 random bytes). */
export const SECRET_LENGTH_MIN = 32;

/** Reads and checks a secret file. */
export async function readSecret(path: string, logger: Logger): Promise<string> {
  let text: string;
  try {
    text = (await Deno.readTextFile(path)).trim();
  } catch (error) {
    throw new UkaiError(
      "CONFIG",
      `Cannot read the cluster secret ${path}: ${(error as Error).message}`,
    );
  }
  if (text.length < SECRET_LENGTH_MIN) {
    throw new UkaiError(
      "CONFIG",
      `The cluster secret in ${path} is too short: at least ${SECRET_LENGTH_MIN} characters`,
    );
  }
  const mode = (await Deno.stat(path)).mode ?? 0;
  if ((mode & 0o077) !== 0) {
    logger.warn("the cluster secret file is readable by others; chmod 600 it", { path });
  }
  return text;
}

/**
 * The secret to use: the configured file, or `DATA/cluster.secret`, which is
 * generated when `mayCreate` (this node starts a new cluster).
 */
export async function loadSecret(options: {
  secretFile: string | undefined;
  dataFolder: string;
  mayCreate: boolean;
  logger: Logger;
}): Promise<string> {
  if (options.secretFile !== undefined) return await readSecret(options.secretFile, options.logger);
  const path = `${options.dataFolder}/cluster.secret`;
  try {
    await Deno.stat(path);
    return await readSecret(path, options.logger);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (!options.mayCreate) {
    throw new UkaiError(
      "CONFIG",
      `No cluster secret: a node joining a cluster needs --secret-file with the secret of the first node (its ${options.dataFolder}/cluster.secret)`,
    );
  }
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const secret = [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  await Deno.writeTextFile(path, secret + "\n", { mode: 0o600, createNew: true });
  options.logger.info("generated the cluster secret; copy it to every node that joins", { path });
  return secret;
}
