/**
 * Tests of the libc bindings the store relies on beyond plain read and write,
 * and of the malloc settings for large buffers.
 */

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

/**
 * Bytes glibc holds in mmapped chunks after allocating an 8 MiB buffer, in a
 * fresh process (so no earlier frees raised glibc's own threshold), with or
 * without {@link keepLargeAllocationsOnHeap} first.
 */
async function mappedBytesForEightMiB(tuned: boolean): Promise<number> {
  const script = `
    import { keepLargeAllocationsOnHeap } from ${JSON.stringify(import.meta.resolve("./libc.ts"))};
    const glibc = Deno.dlopen("libc.so.6", {
      mallinfo2: { parameters: [], result: { struct: Array(10).fill("usize") } },
    });
    const mapped = () => new DataView(glibc.symbols.mallinfo2().buffer).getBigUint64(32, true);
    if (${tuned}) keepLargeAllocationsOnHeap(32 << 20, 128 << 20);
    const before = mapped();
    const buffer = new Uint8Array(8 << 20);
    buffer[0] = 1;
    console.log(String(mapped() - before));
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return Number(new TextDecoder().decode(output.stdout).trim());
}

Deno.test("keepLargeAllocationsOnHeap() keeps a large buffer off mmap, which glibc maps otherwise", async () => {
  assert.ok(await mappedBytesForEightMiB(false) >= 8 << 20, "mapped by default");
  assert.equal(await mappedBytesForEightMiB(true), 0, "on the heap");
});
