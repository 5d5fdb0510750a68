/**
 * Tests of the command tree without a server: every command's help ends with
 * examples, usage errors exit 2 with one error line, a server that is not
 * there exits 3, and the top level documents the exit codes.
 */

import assert from "node:assert/strict";
import type { Command } from "commander";
import { fakeEnvironment } from "./_test_terminal.ts";
import { buildProgram, runCli } from "./program.ts";

function commandsOf(command: Command, path: string[] = []): string[][] {
  return command.commands.filter((child) => child.name() !== "help").flatMap((child) => {
    const here = [...path, child.name()];
    return child.commands.length === 0 ? [here] : commandsOf(child, here);
  });
}

Deno.test("runCli() shows examples in the help of every command", async () => {
  const leaves = commandsOf(buildProgram(fakeEnvironment()));
  assert.deepEqual(leaves.map((path) => path.join(" ")).sort(), [
    "hypervisor add",
    "hypervisor remove",
    "image add",
    "image handover",
    "image info",
    "image list",
    "image move",
    "image remove",
    "image stats",
    "image sync",
    "location add",
    "location remove",
    "node add",
    "node errors",
    "node list",
    "node remove",
    "serve",
    "status",
  ]);
  for (const path of [[], ...leaves]) {
    const environment = fakeEnvironment();
    assert.equal(await runCli([...path, "--help"], environment), 0, path.join(" "));
    assert.match(environment.terminal.stdout, /\nExamples:\n {2}\$ ukai /, path.join(" "));
  }
});

Deno.test("runCli() documents exit codes and the control address at the top level", async () => {
  const environment = fakeEnvironment();
  assert.equal(await runCli(["--help"], environment), 0);
  assert.match(
    environment.terminal.stdout,
    /Exit codes: 0 ok, 1 the operation failed or was refused, 2 usage/,
  );
  assert.match(environment.terminal.stdout, /UKAI_CONTROL/);
  const version = fakeEnvironment();
  assert.equal(await runCli(["--version"], version), 0);
  assert.match(version.terminal.stdout, /^\d+\.\d+\.\d+\n$/);
});

Deno.test("runCli() exits 2 with one error line for usage errors, before asking any server", async () => {
  const cases: [string[], RegExp][] = [
    [[], /Usage: ukai/],
    [["image"], /Usage: ukai image/],
    [["bogus"], /^error: unknown command 'bogus' \(see: ukai --help\)\n$/],
    [
      ["image", "info"],
      /^error: missing required argument 'name' \(see: ukai image info --help\)\n$/,
    ],
    [["image", "add", "vm1"], /^error: required option '--size <size>' not specified \(see: /],
    [
      ["image", "list", "--bogus"],
      /^error: unknown option '--bogus' \(see: ukai image list --help\)\n$/,
    ],
    [["image", "add", "vm1", "--size", "8Q"], /^error: Cannot parse --size "8Q"/],
    [["image", "sync", "vm1", "--rate", "fast"], /^error: Cannot parse --rate "fast"/],
    [["image", "sync", "vm1", "--timeout", "soon"], /^error: Cannot parse --timeout "soon"/],
    [
      ["status", "--control", "http://127.0.0.1:7851"],
      /^error: The control API at http:\/\/127\.0\.0\.1:7851 needs a bearer token/,
    ],
  ];
  for (const [args, stderr] of cases) {
    const environment = fakeEnvironment({ UKAI_CONTROL: "/nonexistent/control.sock" });
    assert.equal(await runCli(args, environment), 2, args.join(" "));
    const output = environment.terminal.stderr + environment.terminal.stdout;
    assert.match(output, stderr, args.join(" "));
    if (args.length > 1) {
      assert.equal(environment.terminal.stderr.split("\n")[0]?.startsWith("error: "), true);
    }
  }
});

Deno.test("runCli() exits 3 with one line saying why when no server answers", async () => {
  const folder = await Deno.makeTempDir();
  try {
    const missing = fakeEnvironment({ UKAI_CONTROL: `${folder}/control.sock` });
    assert.equal(await runCli(["image", "list"], missing), 3);
    assert.equal(
      missing.terminal.stderr,
      `error: Cannot reach the ukai server: no control socket at ${folder}/control.sock; is \`ukai serve\` running? (--control or UKAI_CONTROL picks another)\n`,
    );
    const listener = Deno.listen({ transport: "unix", path: `${folder}/dead.sock` });
    listener.close();
    await Deno.writeTextFile(`${folder}/dead.sock`, "");
    const dead = fakeEnvironment();
    assert.equal(await runCli(["status", "--control", `${folder}/dead.sock`], dead), 3);
    assert.match(dead.terminal.stderr, /^error: Cannot reach the ukai server: nothing answers at /);
    assert.equal(dead.terminal.stderr.split("\n").length, 2, "one line");
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("docs/cli.md documents every command", async () => {
  const doc = await Deno.readTextFile(new URL("../docs/cli.md", import.meta.url));
  for (const path of commandsOf(buildProgram(fakeEnvironment()))) {
    assert.ok(doc.includes(`\`ukai ${path.join(" ")}`), path.join(" "));
  }
});

Deno.test("runCli() puts commander's suggestions on the error line", async () => {
  const environment = fakeEnvironment();
  assert.equal(await runCli(["image", "sync", "vm1", "--wiat"], environment), 2);
  assert.equal(
    environment.terminal.stderr,
    "error: unknown option '--wiat' (Did you mean --wait?) (see: ukai image sync --help)\n",
  );
});
