/**
 * Target "plain": a plain local file in the suite's temporary folder, read
 * and written by fio with O_DIRECT — the storage under every other target,
 * without FUSE or a network in between.
 *
 * @module
 */

import { fill } from "../fio.ts";
import type { StartedGroup, TargetContext, TargetGroup } from "./target.ts";

/** The plain-file target. */
export const plainGroup: TargetGroup = {
  ids: ["plain"],
  packages: [],
  peer: false,
  async start(context: TargetContext): Promise<StartedGroup> {
    const file = `${context.work}/plain.img`;
    const speed = await fill(context.cleanup, file, context.sizeBytes);
    return {
      targets: [{ id: "plain", title: "plain local file", file, fillMiBPerSecond: speed }],
      details: { file },
      stop: async () => {
        await Deno.remove(file).catch(() => undefined);
      },
    };
  },
};
