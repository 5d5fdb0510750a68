/**
 * FuseSession through a real mount of the in-memory test filesystem:
 * ordinary file I/O and dd (lookup, getattr, readdir, read, write, setattr
 * size, fallocate punch, statfs), EPERM for namespace changes, EIO for a
 * throwing handler, caller credentials, open flags and the negotiated
 * connection.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { Capability } from "./fuse_layout.ts";
import { OpenFlags } from "./libc.ts";
import { MemoryFs } from "./testdata/memory_fs.ts";
import { run, withMount } from "./testdata/mount_fixture.ts";
import { errorCode, expectBytes, expectEqual } from "./testdata/expect.ts";

const MiB = 1 << 20;

function pattern(length: number, seed: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index++) bytes[index] = (index * 31 + seed) & 0xff;
  return bytes;
}

for (const lanes of [0, 2]) {
  const suffix = lanes === 0 ? "" : ` (${lanes} lanes)`;
  const withMounted = (
    operations: Parameters<typeof withMount>[0],
    body: Parameters<typeof withMount>[1],
  ) => withMount(operations, body, { lanes: { count: lanes } });

  Deno.test(`files are listed, read, written, truncated, punched and counted through the mount${suffix}`, async () => {
    const fs = new MemoryFs({
      files: { small: new TextEncoder().encode("hello\n"), disk: pattern(4 * MiB, 1) },
    });
    await withMounted(fs, async ({ mountPoint }) => {
      const disk = `${mountPoint}/disk`;
      const names: string[] = [];
      for await (const entry of Deno.readDir(mountPoint)) names.push(entry.name);
      expectEqual(names.sort(), ["disk", "small"], "directory listing");
      expectEqual((await Deno.stat(disk)).size, 4 * MiB, "size");
      expectEqual(await Deno.readTextFile(`${mountPoint}/small`), "hello\n", "small file");

      const scratch = await Deno.makeTempDir({ prefix: "ukai-dd-" });
      try {
        await Deno.writeFile(`${scratch}/small`, pattern(10_000, 7));
        await run(
          "dd",
          `if=${scratch}/small`,
          `of=${disk}`,
          "bs=10000",
          "seek=8192",
          "oflag=seek_bytes",
          "conv=notrunc",
        );
        expectBytes(
          fs.contents("disk").subarray(8192, 18_192),
          pattern(10_000, 7),
          "written range",
        );
        expectBytes(
          (await Deno.readFile(disk)).subarray(0, 8192),
          pattern(4 * MiB, 1).subarray(0, 8192),
        );

        await Deno.writeFile(`${scratch}/in`, pattern(2 * MiB, 3));
        await run(
          "dd",
          `if=${scratch}/in`,
          `of=${disk}`,
          "bs=1M",
          "oflag=direct",
          "conv=notrunc,fsync",
        );
        expectEqual(fs.fsyncs, 1, "fsync requests");
        await run("dd", `if=${disk}`, `of=${scratch}/out`, "bs=1M", "count=2", "iflag=direct");
        expectBytes(await Deno.readFile(`${scratch}/out`), pattern(2 * MiB, 3), "dd round trip");
      } finally {
        await Deno.remove(scratch, { recursive: true });
      }

      await Deno.truncate(disk, 3 * MiB);
      expectEqual((await Deno.stat(disk)).size, 3 * MiB, "size after truncate");
      const blocksBefore = (await Deno.stat(disk)).blocks ?? 0;
      await run(
        "fallocate",
        "--punch-hole",
        "--offset",
        String(MiB),
        "--length",
        String(MiB),
        disk,
      );
      expectBytes(fs.contents("disk").subarray(MiB, 2 * MiB), new Uint8Array(MiB), "punched range");
      expectEqual(
        (await Deno.stat(disk)).blocks,
        blocksBefore - MiB / 512,
        "st_blocks after punch",
      );
      expectEqual((await Deno.stat(disk)).size, 3 * MiB, "punching keeps the size");

      const [blockSize, blocks, free] = (await run("stat", "-f", "-c", "%S %b %f", mountPoint))
        .trim().split(" ").map(Number);
      expectEqual([blockSize, blocks], [4096, 1 << 20], "statfs geometry");
      const smallFilePages = 1;
      expectEqual(free, (1 << 20) - (blocksBefore - MiB / 512) / 8 - smallFilePages, "statfs free");
    });
  });

  Deno.test(`namespace changes fail with EPERM${suffix}`, async () => {
    const fs = new MemoryFs({ files: { disk: new Uint8Array(4096) } });
    await withMounted(fs, async ({ mountPoint }) => {
      expectEqual(
        await errorCode(Deno.writeFile(`${mountPoint}/new`, new Uint8Array(1))),
        "EPERM",
        "create",
      );
      expectEqual(await errorCode(Deno.mkdir(`${mountPoint}/dir`)), "EPERM", "mkdir");
      expectEqual(await errorCode(Deno.remove(`${mountPoint}/disk`)), "EPERM", "unlink");
      expectEqual(
        await errorCode(Deno.rename(`${mountPoint}/disk`, `${mountPoint}/other`)),
        "EPERM",
        "rename",
      );
      expectEqual(await errorCode(Deno.symlink("disk", `${mountPoint}/link`)), "EPERM", "symlink");
      expectEqual(
        await errorCode(Deno.link(`${mountPoint}/disk`, `${mountPoint}/hard`)),
        "EPERM",
        "link",
      );
    });
  });

  Deno.test(`the kernel's forgotten lookups reach the forget handler${suffix}`, async () => {
    const fs = new MemoryFs({ files: { small: new TextEncoder().encode("hi\n") } });
    await withMounted(fs, async ({ mountPoint }) => {
      await Deno.stat(`${mountPoint}/small`);
      // Drop the kernel's cached dentries and inodes (harmless: no page cache is dropped).
      for (let attempt = 0; attempt < 50 && !fs.forgotten.has(2); attempt++) {
        await Deno.writeTextFile("/proc/sys/vm/drop_caches", "2");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expectEqual(fs.forgotten.get(2), 1, "lookups forgotten for the file");
    });
  });

  Deno.test(`a handler that throws answers EIO and is logged${suffix}`, async () => {
    const fs = new MemoryFs({ files: { broken: new Uint8Array(4096) }, failingReads: ["broken"] });
    await withMounted(fs, async ({ mountPoint, logLines }) => {
      expectEqual(await errorCode(Deno.readFile(`${mountPoint}/broken`)), "EIO", "read error");
      assert(logLines.some((line) => line.includes("planted read failure")), "failure logged");
    });
  });

  Deno.test(`requests carry the caller's credentials and open flags${suffix}`, async () => {
    const fs = new MemoryFs({ files: { small: new TextEncoder().encode("hi\n") } });
    await withMounted(fs, async ({ mountPoint }) => {
      const cat = new Deno.Command("cat", { args: [`${mountPoint}/small`], stdout: "piped" })
        .spawn();
      const output = await cat.output();
      expectEqual(new TextDecoder().decode(output.stdout), "hi\n", "cat output");
      assert(fs.openPids.includes(cat.pid), `open saw pids ${fs.openPids}, cat was ${cat.pid}`);

      const flagsBefore = fs.openFlags.length;
      await run(
        "dd",
        "if=/dev/zero",
        `of=${mountPoint}/small`,
        "bs=4096",
        "count=1",
        "oflag=direct,dsync",
      );
      const flags = fs.openFlags[flagsBefore] ?? 0;
      assert((flags & OpenFlags.DIRECT) !== 0, `O_DIRECT missing from ${flags.toString(8)}`);
      assert((flags & OpenFlags.DSYNC) !== 0, `O_DSYNC missing from ${flags.toString(8)}`);
      assert((flags & OpenFlags.TRUNC) !== 0, `O_TRUNC missing from ${flags.toString(8)}`);
    });
  });
}

Deno.test("init negotiates 1 MiB transfers, raised max_background, async reads and no caching tricks", async () => {
  const fs = new MemoryFs({ files: {} });
  await withMount(fs, ({ session }) => {
    const connection = session.connection;
    expectEqual(connection.maxWrite, MiB, "max_write");
    expectEqual(connection.maxRead, MiB, "max_read");
    expectEqual(connection.maxBackground, 128, "max_background");
    expectEqual(connection.congestionThreshold, 96, "congestion_threshold");
    assert(connection.want & Capability.asyncRead, "async read on");
    assert(connection.want & Capability.asyncDio, "async direct I/O on");
    assert(!(connection.want & Capability.writebackCache), "writeback cache off");
    assert(!(connection.want & Capability.spliceRead), "splice off");
    return Promise.resolve();
  });
});
