/**
 * Tests of the replay cache behind `Idempotency-Key`: one run per key, the
 * same answer for retries (also while the first runs), refusals for a key
 * reused on another request, no memory of 5xx answers, and a bound.
 */

import assert from "node:assert/strict";
import { UkaiError } from "../base/errors.ts";
import type { HttpReply } from "./http_server.ts";
import { IdempotencyCache } from "./idempotency.ts";

function answer(status: number, text: string): HttpReply {
  return { status, contentType: "application/json", text };
}

Deno.test("IdempotencyCache runs a request once per key and replays its answer", async () => {
  const cache = new IdempotencyCache();
  let runs = 0;
  let release = () => {};
  const produce = async () => {
    runs++;
    await new Promise<void>((resolve) => (release = resolve));
    return answer(201, `{"run":${runs}}`);
  };
  const first = cache.run("k", "POST /v1/images {}", produce);
  const retry = cache.run("k", "POST /v1/images {}", produce);
  release();
  assert.deepEqual(await first, answer(201, '{"run":1}'));
  assert.deepEqual(await retry, answer(201, '{"run":1}'), "a retry while running waits for it");
  assert.deepEqual(await cache.run("k", "POST /v1/images {}", produce), answer(201, '{"run":1}'));
  assert.equal(runs, 1);
});

Deno.test("IdempotencyCache refuses a key reused for a different request", async () => {
  const cache = new IdempotencyCache();
  await cache.run("k", 'POST /v1/images {"name":"a"}', () => Promise.resolve(answer(201, "a")));
  await assert.rejects(
    cache.run("k", 'POST /v1/images {"name":"b"}', () => Promise.resolve(answer(201, "b"))),
    (error) => error instanceof UkaiError && error.code === "CONFLICT",
  );
});

Deno.test("IdempotencyCache forgets 5xx answers so a retry runs again, and keeps 4xx ones", async () => {
  const cache = new IdempotencyCache();
  let runs = 0;
  const unavailable = () => Promise.resolve(answer(503, `${++runs}`));
  await cache.run("k", "f", unavailable);
  assert.equal((await cache.run("k", "f", unavailable)).text, "2");
  const refused = () => Promise.resolve(answer(409, `${++runs}`));
  await cache.run("j", "f", refused);
  assert.equal((await cache.run("j", "f", refused)).text, "3");
});

Deno.test("IdempotencyCache keeps at most its capacity, forgetting the oldest key", async () => {
  const cache = new IdempotencyCache(2);
  for (const key of ["a", "b", "c"]) {
    await cache.run(key, "f", () => Promise.resolve(answer(200, key)));
  }
  assert.equal(cache.size, 2);
  assert.equal(
    (await cache.run("a", "f", () => Promise.resolve(answer(200, "again")))).text,
    "again",
  );
  assert.equal((await cache.run("c", "f", () => Promise.resolve(answer(200, "again")))).text, "c");
});
