/**
 * Keeps docs/api.md in step with the code: every route, every error code
 * and every metric family is documented there.
 */

import assert from "node:assert/strict";
import { ERROR_TABLE } from "../base/errors.ts";
import type { ControlContext } from "./context.ts";
import { Metrics } from "./metrics.ts";
import { controlRouter } from "./server.ts";

const doc = await Deno.readTextFile(new URL("../docs/api.md", import.meta.url));

Deno.test("docs/api.md documents every route of the control API", () => {
  const routes = controlRouter({} as ControlContext, new Metrics(() => undefined)).routes();
  assert.ok(routes.length >= 19, routes.join(", "));
  for (const route of routes) {
    const [method, path] = route.split(" ") as [string, string];
    const written = path.replace(/:(\w+)/g, (_, name: string) => name.toUpperCase());
    assert.match(doc, new RegExp(`\`${method} ${written.replaceAll("/", "\\/")}\``), route);
  }
});

Deno.test("docs/api.md documents every error code", () => {
  for (const code of Object.keys(ERROR_TABLE)) assert.ok(doc.includes(`\`${code}\``), code);
});

Deno.test("docs/api.md documents every metric family", async () => {
  const { body } = await new Metrics(() => undefined).render();
  const families = [...body.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1] ?? "");
  assert.ok(families.length >= 20, families.join(", "));
  assert.ok(families.includes("ukai_image_operation_duration_seconds"), "the latency histogram");
  for (const name of families) assert.ok(doc.includes(`\`${name}\``), name);
});
