/** Tests of stopping child processes: a polite one, a stubborn one, one already gone. */

import assert from "node:assert/strict";
import { terminate } from "./child_process.ts";

function spawn(script: string): Deno.ChildProcess {
  return new Deno.Command("sh", { args: ["-c", script], stdout: "null", stderr: "null" }).spawn();
}

Deno.test("a child that honours SIGTERM stops on it", async () => {
  const child = spawn("exec sleep 30");
  await terminate(child, 30_000);
  assert.equal((await child.status).signal, "SIGTERM");
});

Deno.test("a child that ignores SIGTERM is killed after the grace period", async () => {
  const child = spawn("trap '' TERM; while :; do sleep 0.1; done");
  await new Promise((resolve) => setTimeout(resolve, 200));
  await terminate(child, 100);
  assert.equal((await child.status).signal, "SIGKILL");
});

Deno.test("a child that already exited is simply awaited", async () => {
  const child = spawn("exit 3");
  assert.equal((await child.status).code, 3);
  await terminate(child, 100);
  assert.equal((await child.status).code, 3);
});
