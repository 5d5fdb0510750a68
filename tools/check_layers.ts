/**
 * Checks the dependency direction between ukai's folders: every relative import
 * of every .ts file is allowed by LAYERS, and production code never imports
 * tests, the simulator or benchmarks. Run by `deno task check`.
 *
 * @module
 */

/** For each folder, the folders its files may import (itself always allowed). */
export const LAYERS: Record<string, readonly string[]> = {
  "base": [],
  ".": ["base"], // constants.ts
  "raft": ["base"],
  "ffi": ["base"],
  "store": ["base", "ffi", "."],
  "net": ["base", "."],
  "meta": ["base", "."],
  "cluster": ["base", ".", "raft", "store", "net", "meta"],
  "engine": ["base", ".", "ffi", "store", "net", "meta"],
  "fuse": ["base", ".", "ffi", "meta", "engine"],
  "control": ["base", ".", "meta", "engine", "cluster"],
  "daemon": [
    "base",
    ".",
    "ffi",
    "raft",
    "store",
    "net",
    "meta",
    "cluster",
    "engine",
    "fuse",
    "control",
  ],
  "cli": ["base", ".", "meta", "control", "daemon"],
  "sim": ["base", ".", "raft", "store", "meta"],
};

/** Folders that may import anything (they are not shipped as product code). */
const UNRESTRICTED = new Set(["tests", "bench", "tools", "demo"]);

const root = new URL("../", import.meta.url).pathname;

function folderOf(relativePath: string): string {
  const slash = relativePath.indexOf("/");
  return slash === -1 ? "." : relativePath.slice(0, slash);
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(root + dir)) {
    if (entry.name.startsWith(".")) continue;
    const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

function resolve(from: string, specifier: string): string {
  const url = new URL(specifier, `file://${root}${from}`);
  return url.pathname.slice(root.length);
}

const problems: string[] = [];
for await (const file of walk("")) {
  const source = await Deno.readTextFile(root + file);
  const from = folderOf(file);
  const isTest = file.endsWith("_test.ts");
  const importPattern =
    /(?:import|export)[^"']*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']/g;
  for (const match of source.matchAll(importPattern)) {
    const specifier = match[1] ?? match[2] ?? "";
    if (!specifier.startsWith(".")) continue;
    const target = folderOf(resolve(file, specifier));
    if (UNRESTRICTED.has(from) || target === from) continue;
    if (["tests", "bench", "tools", "sim", "demo"].includes(target) && !isTest && from !== "sim") {
      problems.push(`${file}: production code imports ${specifier} (${target}/)`);
      continue;
    }
    if (isTest) continue;
    if (file === "main.ts") {
      if (target !== "cli") problems.push(`main.ts: imports ${specifier}; it may import cli/ only`);
      continue;
    }
    if (file === "mod.ts") continue;
    const allowed = LAYERS[from];
    if (allowed === undefined) {
      problems.push(`${file}: folder ${from}/ has no entry in tools/check_layers.ts`);
    } else if (!allowed.includes(target)) {
      problems.push(`${file}: ${from}/ may not import ${target}/ (${specifier})`);
    }
  }
}

if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  Deno.exit(1);
}
console.log("layers ok");
