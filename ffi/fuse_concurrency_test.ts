/**
 * FuseSession under concurrent load from fio (libaio, O_DIRECT): replies
 * after random delays complete out of order with many requests in flight and
 * the data verifies; 1 MiB reads and writes arrive as single requests; a
 * read answered in pieces arrives whole; WRITE
 * payloads held in receive buffers stay intact while later requests are
 * received, and the buffer pool limits how many are held.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { Rng } from "../base/rng.ts";
import { MemoryFs } from "./testdata/memory_fs.ts";
import { fio, run, withMount } from "./testdata/mount_fixture.ts";
import { expectBytes, expectEqual } from "./testdata/expect.ts";

const MiB = 1 << 20;

Deno.test("replies after random delays complete out of order with many requests in flight", async () => {
  const rng = new Rng(42);
  const fs = new MemoryFs({
    files: { disk: new Uint8Array(4 * MiB) },
    replyDelayMs: () => rng.between(1, 15),
  });
  await withMount(fs, async ({ mountPoint }) => {
    await fio(
      `${mountPoint}/disk`,
      "--name=verify",
      "--rw=randwrite",
      "--bs=4k",
      "--size=4M",
      "--iodepth=32",
      "--verify=crc32c",
      "--do_verify=1",
      "--verify_state_save=0",
    );
  });
  assert(fs.maxInFlight >= 16, `at most ${fs.maxInFlight} requests were in flight`);
  const answeredEarly = fs.replyOrder.filter((sequence, index) => sequence > index).length;
  assert(answeredEarly > 0, "replies came back in arrival order");
  expectEqual(fs.replyOrder.length, fs.arrivals, "every request answered");
});

Deno.test("1 MiB O_DIRECT reads and writes arrive as single 1 MiB requests", async () => {
  const fs = new MemoryFs({ files: { disk: new Uint8Array(8 * MiB) } });
  await withMount(fs, async ({ mountPoint }) => {
    const disk = `${mountPoint}/disk`;
    await fio(disk, "--name=write", "--rw=write", "--bs=1M", "--size=8M", "--iodepth=4");
    await fio(disk, "--name=read", "--rw=read", "--bs=1M", "--size=8M", "--iodepth=4");
  });
  expectEqual(fs.writeSizes, new Array(8).fill(MiB), "write request sizes");
  expectEqual(fs.readSizes, new Array(8).fill(MiB), "read request sizes");
});

Deno.test("a read answered in pieces (dataPieces) arrives whole and in order", async () => {
  const contents = new Uint8Array(3 * MiB);
  new Rng(7).fill(contents);
  const fs = new MemoryFs({ files: { disk: contents.slice() }, readPieceBytes: 3000 });
  const copy = await Deno.makeTempFile({ prefix: "ukai-pieces-" });
  try {
    await withMount(fs, async ({ mountPoint }) => {
      await run(
        "dd",
        `if=${mountPoint}/disk`,
        `of=${copy}`,
        "bs=1M",
        "iflag=direct",
        "status=none",
      );
    });
    // Three reads of 1 MiB, each answered in 351 pieces, then the one that finds the end.
    expectEqual(fs.readSizes.slice(0, 3), new Array(3).fill(MiB), "1 MiB reads");
    expectBytes(await Deno.readFile(copy), contents, "what dd read");
  } finally {
    await Deno.remove(copy);
  }
});

Deno.test("held WRITE payloads stay intact while later requests arrive; the pool bounds them", async () => {
  const receiveBuffers = 8;
  const regionBytes = 2 * MiB;
  const patternOf = (offset: number) => 0x11 * (Math.floor(offset / regionBytes) + 1);
  let held = 0;
  let maxHeld = 0;
  let maxLaterArrivals = 0;
  let verified = 0;
  const fs: MemoryFs = new MemoryFs({
    files: { disk: new Uint8Array(4 * regionBytes) },
    writeGate: async (data, offset) => {
      const snapshot = data.slice();
      const arrival = fs.arrivals;
      held++;
      maxHeld = Math.max(maxHeld, held);
      await new Promise((resolve) => setTimeout(resolve, 20));
      maxLaterArrivals = Math.max(maxLaterArrivals, fs.arrivals - arrival);
      expectBytes(data, snapshot, `payload at ${offset} while held`);
      expectBytes(
        data,
        new Uint8Array(data.length).fill(patternOf(offset)),
        `payload at ${offset}`,
      );
      verified++;
      held--;
    },
  });
  await withMount(fs, async ({ mountPoint }) => {
    const jobs = [0, 1, 2, 3].flatMap((region) => [
      `--name=region${region}`,
      `--offset=${region * regionBytes}`,
      `--size=${regionBytes}`,
      `--buffer_pattern=0x${patternOf(region * regionBytes).toString(16)}`,
    ]);
    await fio(`${mountPoint}/disk`, "--rw=write", "--bs=128k", "--iodepth=8", ...jobs);
  }, { receiveBuffers });
  const writes = (4 * regionBytes) / (128 * 1024);
  expectEqual(verified, writes, "writes verified");
  expectEqual(maxHeld, receiveBuffers, "most payloads held at once");
  assert(
    maxLaterArrivals >= receiveBuffers - 1,
    `only ${maxLaterArrivals} requests arrived while held`,
  );
  for (let region = 0; region < 4; region++) {
    const stored = fs.contents("disk").subarray(region * regionBytes, (region + 1) * regionBytes);
    expectBytes(
      stored,
      new Uint8Array(regionBytes).fill(patternOf(region * regionBytes)),
      `region ${region}`,
    );
  }
});
