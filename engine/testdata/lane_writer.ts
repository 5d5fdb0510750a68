/**
 * Test worker for engine/lane_permits_test.ts: plays a FUSE lane that keeps
 * writing `length` bytes ending in an increasing counter into block 0 of
 * image 7 through its permit (the counter lands last, after many pieces), and
 * reports the last counter written before the first write it was refused.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { LanePermitReader } from "../lane_permits.ts";

self.onmessage = (event: MessageEvent<{ permits: SharedArrayBuffer; length: number }>) => {
  const reader = new LanePermitReader(event.data.permits);
  const data = new Uint8Array(event.data.length);
  const view = new DataView(data.buffer, data.length - 8);
  let written = 0;
  self.postMessage({ type: "started" });
  for (let counter = 1;; counter++) {
    view.setFloat64(0, counter, true);
    if (!reader.write(7, 0, data)) break;
    written = counter;
  }
  self.postMessage({ type: "refused", written });
};
