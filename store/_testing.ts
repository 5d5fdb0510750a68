/**
 * Helpers for the store's tests: temporary folders removed on dispose, a tiny
 * tmpfs for full-disk tests, and checks for `UkaiError` codes.
 *
 * @module
 */

import { type ErrorCode, UkaiError } from "../base/errors.ts";

/** A folder that exists until disposed (`await using`). */
export interface TemporaryFolder extends AsyncDisposable {
  readonly path: string;
}

/** A fresh temporary folder, removed with everything in it on dispose. */
export async function temporaryFolder(): Promise<TemporaryFolder> {
  const path = await Deno.makeTempDir({ prefix: "ukai-store-test-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

async function run(command: string, args: string[]): Promise<boolean> {
  try {
    const output = await new Deno.Command(command, { args, stdout: "null", stderr: "null" })
      .output();
    return output.success;
  } catch {
    return false;
  }
}

/**
 * A tmpfs of `bytes` bytes mounted on a temporary folder, unmounted and
 * removed on dispose. Needs root (`mount -t tmpfs`).
 */
export async function tinyTmpfs(bytes: number): Promise<TemporaryFolder> {
  const path = await Deno.makeTempDir({ prefix: "ukai-store-tmpfs-" });
  if (!await run("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", path])) {
    await Deno.remove(path);
    throw new Error(`cannot mount a tmpfs on ${path} (needs root)`);
  }
  return {
    path,
    [Symbol.asyncDispose]: async () => {
      if (!await run("umount", [path])) throw new Error(`cannot unmount ${path}`);
      await Deno.remove(path);
    },
  };
}

/** Whether this process may mount a tmpfs (full-disk tests are ignored otherwise). */
export const canMountTmpfs: boolean = await (async () => {
  try {
    await using _probe = await tinyTmpfs(64 * 1024);
    return true;
  } catch {
    return false;
  }
})();

function checkCode(error: unknown, code: ErrorCode): UkaiError {
  if (!(error instanceof UkaiError)) throw new Error(`expected UkaiError ${code}, got ${error}`);
  if (error.code !== code) {
    throw new Error(`expected UkaiError ${code}, got ${error.code}: ${error.message}`);
  }
  return error;
}

/** Runs `action` and returns the `UkaiError` with `code` it throws (fails otherwise). */
export function expectError(action: () => unknown, code: ErrorCode): UkaiError {
  try {
    action();
  } catch (error) {
    return checkCode(error, code);
  }
  throw new Error(`expected UkaiError ${code}, nothing was thrown`);
}

/** Awaits `action` and returns the `UkaiError` with `code` it rejects with (fails otherwise). */
export async function expectRejection(
  action: () => Promise<unknown>,
  code: ErrorCode,
): Promise<UkaiError> {
  try {
    await action();
  } catch (error) {
    return checkCode(error, code);
  }
  throw new Error(`expected UkaiError ${code}, nothing was thrown`);
}

/** A block-sized buffer whose bytes depend on `seed` and their position. */
export function pattern(byteLength: number, seed: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(byteLength);
  for (let index = 0; index < byteLength; index++) {
    bytes[index] = (index * 31 + seed * 97 + 1) & 0xff || 1;
  }
  return bytes;
}
