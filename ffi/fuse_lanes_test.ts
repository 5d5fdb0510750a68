/**
 * FUSE lanes: with worker threads reading from clones of the session's fd,
 * every operation still works (forwarded to the JS thread, replies out of
 * order, WRITE payloads held in lane buffers while the handler waits, seen
 * through views of those buffers); the
 * fast path serves what it accepts on the lane and what it declines reaches
 * the handler; a lane that cannot start leaves the mount served by the JS
 * thread alone; unmounting ends the lanes.
 *
 * @module
 */

import { assert } from "../base/assert.ts";
import { Rng } from "../base/rng.ts";
import { MemoryFs } from "./testdata/memory_fs.ts";
import { fio, run, withMount } from "./testdata/mount_fixture.ts";
import { expectBytes, expectEqual } from "./testdata/expect.ts";
import type { FixtureConfig } from "./testdata/lane_fast_path_fixture.ts";
import { LANE_BUFFERS } from "./fuse_lanes.ts";

const MiB = 1 << 20;

Deno.test("with two lanes, forwarded requests complete out of order and the data verifies", async () => {
  const rng = new Rng(5);
  const fs = new MemoryFs({
    files: { disk: new Uint8Array(4 * MiB) },
    replyDelayMs: () => rng.between(1, 10),
  });
  let forwarded = 0;
  await withMount(fs, async ({ mountPoint, session }) => {
    expectEqual(session.lanes, 2, "lanes running");
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
    const listing = await run("ls", "-l", mountPoint);
    assert(listing.includes("disk"), `ls through lanes: ${listing}`);
    forwarded = session.forwardedByLanes;
  }, { lanes: { count: 2 } });
  assert(forwarded > 0, "the lanes received requests");
  const answeredEarly = fs.replyOrder.filter((sequence, index) => sequence > index).length;
  assert(answeredEarly > 0, "replies came back in arrival order");
});

Deno.test("a WRITE forwarded by a lane keeps its payload intact until its reply", async () => {
  const regionBytes = MiB;
  const patternOf = (offset: number) => 0x21 * (Math.floor(offset / regionBytes) + 1);
  let verified = 0;
  const payloadBuffers = new Set<ArrayBufferLike>();
  const fs: MemoryFs = new MemoryFs({
    files: { disk: new Uint8Array(4 * regionBytes) },
    writeGate: async (data, offset) => {
      payloadBuffers.add(data.buffer);
      const snapshot = data.slice();
      await new Promise((resolve) => setTimeout(resolve, 10));
      expectBytes(data, snapshot, `payload at ${offset} while held`);
      expectBytes(data, new Uint8Array(data.length).fill(patternOf(offset)), `payload ${offset}`);
      verified++;
    },
  });
  await withMount(fs, async ({ mountPoint }) => {
    const jobs = [0, 1, 2, 3].flatMap((region) => [
      `--name=region${region}`,
      `--offset=${region * regionBytes}`,
      `--size=${regionBytes}`,
      `--buffer_pattern=0x${patternOf(region * regionBytes).toString(16)}`,
    ]);
    await fio(`${mountPoint}/disk`, "--rw=write", "--bs=128k", "--iodepth=16", ...jobs);
  }, { lanes: { count: 1 } });
  expectEqual(verified, (4 * regionBytes) / (128 * 1024), "writes verified");
  // Each payload is a view of one of the lane's buffers, not memory mapped anew per request.
  assert(
    payloadBuffers.size <= LANE_BUFFERS,
    `${payloadBuffers.size} distinct payload buffers for ${LANE_BUFFERS} lane buffers`,
  );
  for (let region = 0; region < 4; region++) {
    const stored = fs.contents("disk").subarray(region * regionBytes, (region + 1) * regionBytes);
    expectBytes(stored, new Uint8Array(regionBytes).fill(patternOf(region * regionBytes)), "data");
  }
});

Deno.test("the fast path serves what it accepts on the lane; what it declines reaches the handler", async () => {
  const contents = new Uint8Array(2 * MiB);
  new Rng(9).fill(contents);
  const fs = new MemoryFs({ files: { disk: contents.slice() } });
  const counts = new SharedArrayBuffer(12);
  const config: FixtureConfig = { counts, servedFrom: MiB };
  const copy = await Deno.makeTempFile({ prefix: "ukai-lanes-" });
  try {
    await withMount(fs, async ({ mountPoint }) => {
      const disk = `${mountPoint}/disk`;
      await run(
        "dd",
        `if=/dev/zero`,
        `of=${disk}`,
        "bs=64k",
        "count=2",
        "oflag=direct",
        "conv=notrunc",
        "status=none",
      );
      await run(
        "dd",
        `if=${disk}`,
        `of=${copy}`,
        "bs=1M",
        "count=2",
        "iflag=direct",
        "status=none",
      );
    }, {
      lanes: {
        count: 1,
        fastPath: {
          module: new URL("./testdata/lane_fast_path_fixture.ts", import.meta.url).href,
          config,
        },
      },
    });
    const [served, declinedReads, declinedWrites] = new Int32Array(counts);
    assert(
      served! >= 1 && declinedReads! >= 1,
      `reads: ${served} served, ${declinedReads} declined`,
    );
    expectEqual(declinedWrites, 2, "writes offered to the fast path");
    const read = await Deno.readFile(copy);
    const expectedHead = contents.slice(0, MiB);
    expectedHead.fill(0, 0, 128 * 1024);
    expectBytes(read.subarray(0, MiB), expectedHead, "the first MiB, served by the handler");
    expectBytes(read.subarray(MiB), new Uint8Array(MiB).fill(0x5a), "the second, by the lane");
    expectBytes(fs.contents("disk").subarray(0, 128 * 1024), new Uint8Array(128 * 1024), "writes");
  } finally {
    await Deno.remove(copy);
  }
});

Deno.test("a lane that cannot start leaves the mount served by the JS thread alone", async () => {
  const fs = new MemoryFs({ files: { disk: new Uint8Array(64 * 1024).fill(7) } });
  await withMount(fs, async ({ mountPoint, session, logLines }) => {
    expectEqual(session.lanes, 0, "lanes running");
    assert(logLines.some((line) => line.includes("FUSE lanes did not start")), logLines.join("\n"));
    const bytes = await Deno.readFile(`${mountPoint}/disk`);
    expectBytes(bytes, new Uint8Array(64 * 1024).fill(7), "read");
  }, {
    lanes: {
      count: 1,
      fastPath: { module: "file:///nonexistent/fast_path.ts", config: null },
    },
  });
});
