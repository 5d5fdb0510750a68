/**
 * One real `ukai serve` process with a FUSE mount: an image is used as a raw
 * disk through ordinary file I/O and `dd`; its data survives a clean restart
 * and a kill -9 (whose stale mount the next start clears); qemu-img reads
 * it; namespace changes are refused.
 */

import assert from "node:assert/strict";
import { Rng } from "../../base/rng.ts";
import { ProcessCluster } from "../harness/processes.ts";

const MiB = 1024 * 1024;
const BLOCK = 256 * 1024;
const SIZE = 8 * MiB;

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function readImage(path: string): Promise<Uint8Array<ArrayBuffer>> {
  return await Deno.readFile(path) as Uint8Array<ArrayBuffer>;
}

async function run(command: string, args: string[]) {
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
    .output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("an image on one node works as a raw disk and keeps its data across restart and kill -9", async () => {
  const cluster = await ProcessCluster.create();
  try {
    const node = await cluster.start("n1");
    await cluster.call("n1", "POST", "/v1/images", { name: "disk", size: SIZE, blockSize: BLOCK });
    const path = `${node.mount}/disk`;
    const model = new Uint8Array(SIZE);
    const rng = new Rng(2024);
    const file = await Deno.open(path, { read: true, write: true });
    for (let i = 0; i < 60; i++) {
      const length = rng.between(1, 3 * BLOCK);
      const offset = rng.int(SIZE - length);
      const data = rng.fill(new Uint8Array(length));
      await file.seek(offset, Deno.SeekMode.Start);
      let written = 0;
      while (written < length) written += await file.write(data.subarray(written));
      model.set(data, offset);
    }
    await file.syncData();
    file.close();
    const ddData = new Rng(7).fill(new Uint8Array(3 * BLOCK));
    await Deno.writeFile(`${cluster.root}/dd.in`, ddData);
    const dd = await run("dd", [
      `if=${cluster.root}/dd.in`,
      `of=${path}`,
      `bs=${BLOCK}`,
      "seek=5",
      "conv=notrunc,fsync",
      "status=none",
    ]);
    assert.equal(dd.code, 0, dd.stderr);
    model.set(ddData, 5 * BLOCK);
    const expected = await sha256(model);
    assert.equal(await sha256(await readImage(path)), expected, "read back through the mount");

    assert.equal(await cluster.stop("n1"), 0, "a clean stop exits 0");
    assert.ok(!(await Deno.readTextFile("/proc/mounts")).includes(node.mount), "unmounted on stop");
    await cluster.start("n1");
    assert.equal(await sha256(await readImage(path)), expected, "after a clean restart");

    await cluster.kill("n1");
    await assert.rejects(
      Deno.readDir(node.mount)[Symbol.asyncIterator]().next(),
      "the mount is stale",
    );
    await cluster.start("n1");
    await cluster.waitForLog("n1", /cleared a stale mount/);
    assert.equal(await sha256(await readImage(path)), expected, "after kill -9 and recovery");

    const info = await run("qemu-img", ["info", "--output=json", path]);
    assert.equal(info.code, 0, info.stderr);
    const parsed = JSON.parse(info.stdout);
    assert.equal(parsed.format, "raw");
    assert.equal(parsed["virtual-size"], SIZE);
    assert.ok(parsed["actual-size"] > 0, "disk size comes from st_blocks");
    const converted = `${cluster.root}/converted.raw`;
    const convert = await run("qemu-img", ["convert", "-O", "raw", path, converted]);
    assert.equal(convert.code, 0, convert.stderr);
    assert.equal(
      await sha256(await readImage(converted)),
      expected,
      "qemu-img convert copies the disk",
    );
  } finally {
    await cluster.close();
  }
});

Deno.test("the mount refuses namespace changes and truncating opens, and reports the image's size", async () => {
  const cluster = await ProcessCluster.create();
  try {
    const node = await cluster.start("n1");
    await cluster.call("n1", "POST", "/v1/images", {
      name: "vm",
      size: 4 * MiB,
      blockSize: 1 * MiB,
    });
    const entries = [];
    for await (const entry of Deno.readDir(node.mount)) entries.push(entry.name);
    assert.deepEqual(entries, ["vm"]);
    assert.equal((await Deno.stat(`${node.mount}/vm`)).size, 4 * MiB);
    await assert.rejects(
      Deno.writeTextFile(`${node.mount}/new`, "x"),
      Deno.errors.PermissionDenied,
    );
    await assert.rejects(Deno.mkdir(`${node.mount}/dir`), Deno.errors.PermissionDenied);
    await assert.rejects(Deno.remove(`${node.mount}/vm`), Deno.errors.PermissionDenied);
    await assert.rejects(
      Deno.rename(`${node.mount}/vm`, `${node.mount}/vm2`),
      Deno.errors.PermissionDenied,
    );
    await assert.rejects(
      Deno.open(`${node.mount}/vm`, { write: true, truncate: true }),
      Deno.errors.PermissionDenied,
    );
    const statfs = await run("stat", ["-f", "-c", "%b %a", node.mount]);
    const [blocks, available] = statfs.stdout.trim().split(" ").map(Number);
    assert.ok((blocks ?? 0) > 0 && (available ?? 0) > 0, `statfs: ${statfs.stdout}`);
    await Deno.truncate(`${node.mount}/vm`, 2 * MiB);
    assert.equal(
      (await Deno.stat(`${node.mount}/vm`)).size,
      2 * MiB,
      "truncate within the capacity",
    );
    const grow = await run("truncate", ["-s", String(8 * MiB), `${node.mount}/vm`]);
    assert.notEqual(grow.code, 0, "growing past the capacity is refused");
  } finally {
    await cluster.close();
  }
});
