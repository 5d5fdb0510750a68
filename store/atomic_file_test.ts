/** Tests of atomic whole-file replacement. */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { writeFileAtomic } from "./atomic_file.ts";
import { expectRejection, temporaryFolder } from "./_testing.ts";

Deno.test("writeFileAtomic creates and replaces a file without leaving temporaries", async () => {
  await using folder = await temporaryFolder();
  const path = `${folder.path}/state.bin`;
  await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
  assertEquals(await Deno.readFile(path), new Uint8Array([1, 2, 3]));
  await writeFileAtomic(path, new Uint8Array(100_000).fill(9));
  assertEquals(await Deno.readFile(path), new Uint8Array(100_000).fill(9));
  await writeFileAtomic(path, new Uint8Array(0));
  assertEquals(await Deno.readFile(path), new Uint8Array(0));
  assertEquals([...Deno.readDirSync(folder.path)].map((entry) => entry.name), ["state.bin"]);
});

Deno.test("writeFileAtomic fails with IO when the folder is missing", async () => {
  await using folder = await temporaryFolder();
  await expectRejection(
    () => writeFileAtomic(`${folder.path}/missing/state.bin`, new Uint8Array(1)),
    "IO",
  );
});
