/**
 * One daemon per data folder: an exclusive, non-blocking lock on
 * `DATA/ukai.lock`, held for the life of the process (the kernel drops it
 * when the process dies, even by kill -9).
 *
 * @module
 */

import { UkaiError } from "../base/errors.ts";

/** A held lock. */
export interface DataLock {
  release(): void;
}

/**
 * Locks `data`.
 *
 * @throws {UkaiError} CONFIG when another process holds it
 */
export async function acquireDataLock(data: string): Promise<DataLock> {
  const path = `${data}/ukai.lock`;
  const file = await Deno.open(path, { read: true, write: true, create: true });
  try {
    await Promise.race([
      file.lock(true),
      new Promise((_, reject) => setTimeout(() => reject(new Error("busy")), 200)),
    ]);
  } catch {
    file.close();
    throw new UkaiError("CONFIG", `Another ukai process is using the data folder ${data}`);
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  return {
    release() {
      file.close();
    },
  };
}
