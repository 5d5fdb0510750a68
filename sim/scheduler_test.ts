import { assert } from "../base/assert.ts";
import { Rng } from "../base/rng.ts";
import { Scheduler } from "./scheduler.ts";

Deno.test("Scheduler runs events by time, ties in scheduling order", () => {
  const scheduler = new Scheduler<number>();
  const rng = new Rng(5);
  const expected: { time: number; id: number }[] = [];
  for (let id = 0; id < 2_000; id++) {
    const time = rng.int(50);
    scheduler.after(time, id);
    expected.push({ time, id });
  }
  expected.sort((a, b) => a.time - b.time || a.id - b.id);
  for (const { time, id } of expected) {
    assert(scheduler.next() === id, `event ${id} out of order`);
    assert(scheduler.now === time, "the clock moves to the event's time");
  }
  assert(scheduler.next() === undefined && scheduler.size === 0, "empty at the end");
});

Deno.test("Scheduler schedules relative to the current virtual time", () => {
  const scheduler = new Scheduler<string>();
  scheduler.after(10, "a");
  scheduler.next();
  scheduler.after(0, "b");
  scheduler.after(5, "c");
  assert(scheduler.peekTime() === 10, "a zero delay runs at the current time");
  scheduler.next();
  assert(scheduler.next() === "c" && scheduler.now === 15, "c at 15");
});

Deno.test("Scheduler refuses negative and fractional delays", () => {
  const scheduler = new Scheduler<string>();
  let refused = 0;
  for (const delay of [-1, 0.5, Number.NaN]) {
    try {
      scheduler.after(delay, "x");
    } catch {
      refused++;
    }
  }
  assert(refused === 3, "every bad delay is refused");
});
