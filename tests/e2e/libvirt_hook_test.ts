/**
 * The libvirt hook `hooks/qemu`, run with the arguments and domain XML that
 * libvirt passes, against real nodes and the real `ukai` command: a plain
 * start takes the image over, a live migration leaves the source the owner
 * until it lets go and then hands the image to the destination, and starts
 * on nodes that may not run the image are refused before the guest runs.
 * What the hook did is read back from the cluster, not from stubs.
 */

import assert from "node:assert/strict";
import type { ImageView } from "../../control/api_types.ts";
import { ProcessCluster, textOutput } from "../harness/processes.ts";

const root = new URL("../../", import.meta.url).pathname;
const MiB = 1024 * 1024;

/** A domain XML as libvirt hands it to the hook, with one ukai disk and a CD-ROM. */
function domainXml(mount: string, image: string): string {
  return `<domain type='kvm'>
  <name>guest1</name>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none' io='native'/>
      <source file='${mount}/${image}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/var/lib/libvirt/images/install.iso'/>
      <target dev='sda' bus='sata'/>
    </disk>
  </devices>
</domain>
`;
}

Deno.test("the qemu hook hands images over around a live migration and refuses hosts that may not run them", async (t) => {
  const cluster = await ProcessCluster.create();
  const bin = `${cluster.root}/bin`;
  const hook = async (
    node: string,
    args: string[],
    xml: string,
    env: Record<string, string> = {},
  ) => {
    const child = new Deno.Command("sh", {
      args: [`${root}hooks/qemu`, ...args],
      env: {
        PATH: `${bin}:${Deno.env.get("PATH")}`,
        UKAI_CONTROL: cluster.node(node).control,
        UKAI_MOUNT: cluster.node(node).mount,
        UKAI_HOOK_STATE: `${cluster.root}/${node}/hooks`,
        NO_COLOR: "1",
        ...env,
      },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(xml));
    await writer.close();
    return textOutput(await child.output());
  };
  const image = (name = "vm") => cluster.call<ImageView>("n1", "GET", `/v1/images/${name}?fresh=1`);
  const files: Deno.FsFile[] = [];
  cluster.defer(() => files.forEach((file) => file.close()));
  const writeAt = async (file: Deno.FsFile, offset: number, fill: number) => {
    await file.seek(offset, Deno.SeekMode.Start);
    const data = new Uint8Array(MiB).fill(fill);
    let written = 0;
    while (written < data.length) written += await file.write(data.subarray(written));
  };
  try {
    await Deno.mkdir(bin, { recursive: true });
    await Deno.writeTextFile(
      `${bin}/ukai`,
      `#!/bin/sh\nexec "${Deno.execPath()}" run --allow-all "${root}main.ts" "$@"\n`,
      { mode: 0o755 },
    );
    cluster.define("n1", "dc1");
    cluster.define("n2", "dc1");
    await cluster.start("n1");
    await cluster.start("n2", { join: cluster.address("n1") });
    await cluster.call("n1", "POST", "/v1/images", {
      name: "vm",
      size: 8 * MiB,
      blockSize: MiB,
      locations: ["n1", "n2"],
    });
    const source = domainXml(cluster.node("n1").mount, "vm");
    const destination = domainXml(cluster.node("n2").mount, "vm");

    await t.step(
      "a plain start on n1 passes prepare and takes the image over at started",
      async () => {
        for (const operation of [["prepare", "begin"], ["start", "begin"], ["started", "begin"]]) {
          const run = await hook("n1", ["guest1", ...operation, "-"], source);
          assert.equal(run.code, 0, run.stderr);
          assert.equal(run.stdout, "");
        }
        const view = await image();
        assert.deepEqual([view.owner, view.ownerKind], ["n1", "io"]);
        const file = await Deno.open(`${cluster.node("n1").mount}/vm`, { read: true, write: true });
        files.push(file);
        await writeAt(file, 0, 0xa1);
      },
    );

    await t.step(
      "an incoming migration on n2 leaves n1 the owner, and n1 keeps writing",
      async () => {
        const migrate = await hook("n2", ["guest1", "migrate", "begin", "-"], destination);
        assert.equal(migrate.code, 0, migrate.stderr);
        assert.equal(migrate.stdout, "", "no output: libvirt would take it as a new domain XML");
        for (const operation of [["prepare", "begin"], ["start", "begin"], ["started", "begin"]]) {
          const run = await hook("n2", ["guest1", ...operation, "-"], destination);
          assert.equal(run.code, 0, run.stderr);
        }
        const arriving = await Deno.open(`${cluster.node("n2").mount}/vm`, {
          read: true,
          write: true,
        });
        files.push(arriving);
        assert.equal((await image()).owner, "n1", "the source still owns the image");
        await writeAt(files[0] as Deno.FsFile, MiB, 0xb2);
        assert.deepEqual((await image()).opens, ["n1", "n2"]);
      },
    );

    await t.step("when the source lets go, its release hook hands the image to n2", async () => {
      (files.shift() as Deno.FsFile).close();
      assert.notEqual((await image()).owner, "n2", "n2 has not taken the image by itself");
      for (const operation of [["stopped", "end"], ["release", "end"]]) {
        const run = await hook("n1", ["guest1", ...operation, "-"], source);
        assert.equal(run.code, 0, run.stderr);
      }
      const view = await image();
      assert.deepEqual([view.owner, view.ownerKind], ["n2", "io"]);
      const file = files[0] as Deno.FsFile;
      await writeAt(file, 2 * MiB, 0xc3);
      await file.syncData();
      for (const [offset, fill] of [[0, 0xa1], [MiB, 0xb2], [2 * MiB, 0xc3]] as const) {
        const back = new Uint8Array(MiB);
        await file.seek(offset, Deno.SeekMode.Start);
        let read = 0;
        while (read < MiB) read += (await file.read(back.subarray(read))) ?? MiB;
        assert.ok(back.every((byte) => byte === fill), `the data at ${offset}`);
      }
    });

    await t.step(
      "QEMU opens the image as the disk definition says: raw, cache=none, aio=native, discard",
      async () => {
        const run = await new Deno.Command("qemu-io", {
          args: [
            ...["-f", "raw", "-t", "none", "-n", "-d", "unmap"],
            ...["-c", "write -P 0x5a 4M 1M", "-c", "read -P 0x5a 4M 1M"],
            ...["-c", "discard 4M 1M", "-c", "read -P 0 4M 1M"],
            `${cluster.node("n2").mount}/vm`,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const output = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
        assert.equal(run.code, 0, output);
        assert.doesNotMatch(output, /Pattern verification failed|error/i);
        assert.equal(output.match(/^read 1048576\/1048576 bytes at offset 4194304$/gm)?.length, 2);
      },
    );

    await t.step(
      "prepare and migrate refuse images a node may not run, or that do not exist",
      async () => {
        await cluster.call("n1", "POST", "/v1/images", {
          name: "only1",
          size: MiB,
          blockSize: MiB,
        });
        await cluster.call("n1", "POST", "/v1/images/only1/hypervisors", { node: "n1" });
        const other = domainXml(cluster.node("n2").mount, "only1");
        for (const operation of ["prepare", "migrate"]) {
          const run = await hook("n2", ["guest2", operation, "begin", "-"], other);
          assert.equal(run.code, 1, `${operation}: ${run.stderr}`);
          assert.equal(run.stdout, "");
          assert.match(
            run.stderr,
            /^ukai hook \(guest2 \w+\): node n2 may not run image only1 \(its hypervisors: n1\); allow it with: ukai hypervisor add only1 n2\n$/,
          );
        }
        const missing = await hook(
          "n2",
          ["guest3", "prepare", "begin", "-"],
          domainXml(cluster.node("n2").mount, "nope"),
        );
        assert.equal(missing.code, 1);
        assert.match(
          missing.stderr,
          /error: Image "nope" does not exist\nukai hook \(guest3 prepare\): cannot use image nope\n$/,
        );
        const down = await hook("n2", ["guest1", "prepare", "begin", "-"], destination, {
          UKAI_CONTROL: `${cluster.root}/none.sock`,
        });
        assert.equal(down.code, 1);
        assert.match(down.stderr, /Cannot reach the ukai server/);
        assert.equal(
          await Deno.stat(`${cluster.root}/n2/hooks/guest2.incoming`).catch(() => null),
          null,
          "a refused migration is not recorded",
        );
      },
    );

    await t.step("other operations and guests without ukai disks are left alone", async () => {
      const before = await image();
      const plain =
        "<domain><devices><disk><source file='/var/lib/x.qcow2'/></disk></devices></domain>";
      for (
        const args of [["guest1", "reconnect", "begin", "-"], ["guest1", "stopped", "end", "-"]]
      ) {
        const run = await hook("n1", args, source);
        assert.deepEqual([run.code, run.stdout, run.stderr], [0, "", ""]);
      }
      const other = await hook("n1", ["guest4", "started", "begin", "-"], plain);
      assert.deepEqual([other.code, other.stderr], [0, ""]);
      assert.equal((await image()).epoch, before.epoch, "nothing changed hands");
    });
  } finally {
    await cluster.close();
  }
});
