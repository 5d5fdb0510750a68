/** Tests of the bounded FIFO. */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { RingBuffer } from "./ring_buffer.ts";

Deno.test("RingBuffer keeps FIFO order across wrap-around and refuses when full", () => {
  const queue = new RingBuffer<number>(3);
  for (let round = 0; round < 10; round++) {
    assertEquals(queue.push(round), "ok");
    assertEquals(queue.push(round + 100), "ok");
    assertEquals(queue.shift(), round);
    assertEquals(queue.shift(), round + 100);
  }
  queue.push(1);
  queue.push(2);
  queue.push(3);
  assertEquals(queue.push(4), "full");
  assertEquals(queue.peek(), 1);
  assertEquals(queue.removeWhere((item) => item === 2), 1);
  assertEquals(queue.drain(), [1, 3]);
  assertEquals(queue.length, 0);
  assertEquals(queue.shift(), undefined);
});
