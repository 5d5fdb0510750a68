/**
 * The demo as the README runs it: `deno task demo --quick` completes, and
 * afterwards nothing it started is mounted or running and its folder is
 * gone; Ctrl-C typed on its terminal in the middle of the move ends it with
 * exit 130 and the same clean slate.
 */

import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url).pathname;

/** Whether anything of the demo in `folder` is still mounted or running. */
async function leftovers(folder: string): Promise<string[]> {
  const found: string[] = [];
  for (const line of (await Deno.readTextFile("/proc/mounts")).split("\n")) {
    if (line.includes(folder)) found.push(`mount: ${line}`);
  }
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    const command = await Deno.readTextFile(`/proc/${entry.name}/cmdline`).catch(() => "");
    if (command.includes(folder)) {
      found.push(`process ${entry.name}: ${command.replaceAll("\0", " ")}`);
    }
  }
  if ((await Deno.stat(folder).catch(() => null)) !== null) found.push(`folder ${folder}`);
  return found;
}

function folderOf(output: string): string {
  const folder = /working in (\/\S+)/.exec(output)?.[1];
  if (folder === undefined) assert.fail(`no working folder in: ${output}`);
  return folder;
}

Deno.test("deno task demo --quick runs to completion and leaves nothing mounted or running", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "demo", "--quick"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stdout + stderr);
  assert.match(stdout, /\$ ukai status\ncluster {4}healthy/);
  assert.match(
    stdout,
    /demo is in sync\n {2}the VM wrote [1-9]\d* sectors during the move/,
  );
  assert.match(
    stdout,
    /\nLOCATION {2}BLOCKS {2}STATE\nn1 {8}0-15 {4}in sync\nn3 {8}0-15 {4}in sync\n/,
  );
  assert.match(stdout, /verified: all 4096 sectors read through n3 hold their last write/);
  assert.deepEqual(await leftovers(folderOf(stdout)), []);
});

Deno.test("Ctrl-C on the terminal in the middle of the demo ends it with exit 130 and cleans up everything", async () => {
  // A real terminal (util-linux `script`): ^C typed into it reaches the demo and the command it runs.
  const child = new Deno.Command("script", {
    args: ["-qec", `${Deno.execPath()} run --allow-all ${root}demo/run.ts --quick`, "/dev/null"],
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const keyboard = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  while (!stdout.includes("$ ukai image move")) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  await keyboard.write(new Uint8Array([0x03]));
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  const status = await child.status;
  await keyboard.close().catch(() => undefined);
  await child.stderr.cancel();
  assert.equal(status.code, 130, stdout);
  assert.match(stdout, /Ctrl-C: stopping the nodes and cleaning up/);
  assert.match(stdout, /cleaned up: the nodes are stopped, nothing is mounted/);
  assert.deepEqual(await leftovers(folderOf(stdout)), []);
});
