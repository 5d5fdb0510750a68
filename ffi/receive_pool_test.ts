/**
 * The receive buffer pool: take and give, waiting for a free buffer, and
 * zero-copy views of payloads inside a buffer.
 *
 * @module
 */

import { AssertionError } from "../base/assert.ts";
import { ReceivePool } from "./receive_pool.ts";
import { expectEqual } from "./testdata/expect.ts";

Deno.test("buffers are taken, given back, and waited for when none is free", async () => {
  const pool = new ReceivePool(2, 4096);
  const first = pool.take();
  const second = pool.take();
  expectEqual([first !== undefined, second !== undefined, pool.take()], [true, true, undefined]);
  expectEqual([pool.available, pool.inUse], [0, 2]);
  let woken = false;
  const waiting = pool.whenAvailable().then(() => woken = true);
  await Promise.resolve();
  expectEqual(woken, false, "woken before a buffer was free");
  pool.give(first!);
  await waiting;
  expectEqual([woken, pool.available], [true, 1]);
  let threw = false;
  try {
    pool.give(first!);
  } catch (error) {
    threw = error instanceof AssertionError;
  }
  expectEqual(threw, true, "giving a buffer twice asserts");
});

Deno.test("a payload view shares the buffer's memory and must lie inside it", () => {
  const pool = new ReceivePool(1, 4096);
  const buffer = pool.take()!;
  const payload = Deno.UnsafePointer.offset(buffer.pointer, 80)!;
  const view = ReceivePool.view(buffer, payload, 100);
  buffer.bytes[80] = 42;
  expectEqual([view.length, view[0], view.buffer === buffer.bytes.buffer], [100, 42, true]);
  let threw = false;
  try {
    ReceivePool.view(buffer, payload, 4096);
  } catch (error) {
    threw = error instanceof AssertionError;
  }
  expectEqual(threw, true, "a view past the end asserts");
});
