/** Tests of the libc bindings the store relies on beyond plain read and write. */

import assert from "node:assert/strict";
import { Errno, OsError } from "./errno.ts";
import {
  adviseWillNeed,
  closeFile,
  fdatasync,
  openFile,
  OpenFlags,
  pread,
  pwrite,
  startWriteback,
} from "./libc.ts";

Deno.test("startWriteback() starts writeback of a file's dirty pages and reports a bad descriptor", async () => {
  const folder = await Deno.makeTempDir({ prefix: "ukai-libc-" });
  try {
    const fd = openFile(`${folder}/f`, OpenFlags.RDWR | OpenFlags.CREAT);
    try {
      const bytes = new Uint8Array(1 << 20).fill(7);
      pwrite(fd, bytes, 4096);
      startWriteback(fd);
      await fdatasync(fd);
      const back = new Uint8Array(bytes.length);
      assert.equal(pread(fd, back, 4096), bytes.length);
      assert.deepEqual(back, bytes);
    } finally {
      closeFile(fd);
    }
    assert.throws(
      () => startWriteback(fd),
      (error) => error instanceof OsError && error.errno === Errno.EBADF,
    );
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("adviseWillNeed() accepts a file range and reports a bad descriptor", async () => {
  const folder = await Deno.makeTempDir({ prefix: "ukai-libc-" });
  try {
    const fd = openFile(`${folder}/f`, OpenFlags.RDWR | OpenFlags.CREAT);
    try {
      pwrite(fd, new Uint8Array(8192).fill(3), 0);
      adviseWillNeed(fd, 0, 8192);
    } finally {
      closeFile(fd);
    }
    assert.throws(
      () => adviseWillNeed(fd, 0, 8192),
      (error) => error instanceof OsError && error.errno === Errno.EBADF,
    );
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});
