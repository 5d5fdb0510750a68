/**
 * Checks every number in fuse_layout.ts against the C compiler: builds
 * testdata/fuse_layout_probe.c with gcc against <fuse3/fuse_lowlevel.h>, runs
 * it, and compares its "group.field value" lines with LAYOUTS and CONSTANTS in
 * both directions. Fails (never skips) when gcc or the libfuse3 headers are
 * missing, naming the apt command that installs them.
 *
 * @module
 */

import { CONSTANTS, LAYOUTS } from "./fuse_layout.ts";

const INSTALL_HINT = "install the compiler and headers with: apt-get install -y gcc libfuse3-dev";
const PROBE_SOURCE = new URL("./testdata/fuse_layout_probe.c", import.meta.url).pathname;

async function runProbe(): Promise<Map<string, number>> {
  const dir = await Deno.makeTempDir({ prefix: "ukai-layout-" });
  try {
    const binary = `${dir}/probe`;
    let build: Deno.CommandOutput;
    try {
      build = await new Deno.Command("gcc", {
        args: ["-Wall", "-Werror", "-o", binary, PROBE_SOURCE],
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) throw new Error(`gcc not found; ${INSTALL_HINT}`);
      throw error;
    }
    if (!build.success) {
      const message = new TextDecoder().decode(build.stderr);
      const hint = message.includes("fuse3/fuse_lowlevel.h")
        ? `libfuse3 headers missing; ${INSTALL_HINT}`
        : "the layout probe does not compile";
      throw new Error(`${hint}\n${message}`);
    }
    const run = await new Deno.Command(binary, { stdout: "piped" }).output();
    if (!run.success) throw new Error("the layout probe failed to run");
    const values = new Map<string, number>();
    for (const line of new TextDecoder().decode(run.stdout).trim().split("\n")) {
      const [name, value] = line.split(" ");
      if (name === undefined || value === undefined) throw new Error(`bad probe line: ${line}`);
      values.set(name, Number(value));
    }
    return values;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function declared(): Map<string, number> {
  const values = new Map<string, number>();
  const groups: Record<string, Record<string, number>> = { ...LAYOUTS, ...CONSTANTS };
  for (const [group, fields] of Object.entries(groups)) {
    for (const [field, value] of Object.entries(fields)) values.set(`${group}.${field}`, value);
  }
  return values;
}

Deno.test("every struct size, offset, slot and constant matches the C headers", async () => {
  const measured = await runProbe();
  const expected = declared();
  const problems: string[] = [];
  for (const [name, value] of expected) {
    const actual = measured.get(name);
    if (actual === undefined) problems.push(`${name}: not printed by the probe`);
    else if (actual !== value) {
      problems.push(`${name}: fuse_layout.ts says ${value}, C says ${actual}`);
    }
  }
  for (const name of measured.keys()) {
    if (!expected.has(name)) {
      problems.push(`${name}: printed by the probe, missing in fuse_layout.ts`);
    }
  }
  if (problems.length > 0) throw new Error(problems.join("\n"));
});
