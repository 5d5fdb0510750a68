/** Tests of the command gateway: parsing, validation messages and the byte encoding. */

import assert from "node:assert/strict";
import { type Command, decodeCommand, encodeCommand, parseCommand } from "./mod.ts";

Deno.test("parseCommand() accepts a valid command and keeps its request id", () => {
  const command = parseCommand({
    type: "location.add",
    name: "vm1",
    node: "n2",
    range: [3, 9],
    requestId: "abc",
  });
  assert.deepEqual(command, {
    type: "location.add",
    name: "vm1",
    node: "n2",
    range: { start: 3, end: 9 },
    requestId: "abc",
  });
});

Deno.test("parseCommand() refuses bad input with a message naming the problem", () => {
  const cases: [unknown, RegExp][] = [
    [null, /JSON object/],
    [[], /JSON object/],
    [{ type: "image.explode" }, /Unknown command type "image.explode"/],
    [{ type: "image.open", name: "../etc", node: "n1" }, /Image name "..\/etc" is not allowed/],
    [{ type: "image.open", name: "a/b", node: "n1" }, /not allowed/],
    [{ type: "image.open", name: ".hidden", node: "n1" }, /not allowed/],
    [{ type: "image.open", name: "x".repeat(200), node: "n1" }, /too long/],
    [{ type: "image.open", name: "vm1", node: "" }, /Node id/],
    [{ type: "location.add", name: "vm1", node: "n1", range: [5, 5] }, /start < end/],
    [{ type: "location.add", name: "vm1", node: "n1", range: [-1, 5] }, /Block range/],
    [{ type: "owner.take", name: "vm1", node: "n1", kind: "x", expectedEpoch: 0 }, /kind/],
    [{ type: "owner.take", name: "vm1", node: "n1", kind: "io", expectedEpoch: 1.5 }, /integer/],
    [{ type: "node.add", id: "n1", address: "nohost", zone: "z", role: "voter" }, /HOST:PORT/],
    [{ type: "node.add", id: "n1", address: "h:70000", zone: "z", role: "voter" }, /HOST:PORT/],
    [{ type: "node.add", id: "n1", address: "h:7", zone: "z", role: "king" }, /Role/],
    [{ type: "image.remove", name: "vm1", force: "yes" }, /true or false/],
    [{ type: "image.open", name: "vm1", node: "n1", requestId: 5 }, /requestId/],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => parseCommand(input), (error: unknown) => {
      assert.equal((error as { code?: string }).code, "INVALID_ARGUMENT");
      assert.match((error as Error).message, message);
      return true;
    }, JSON.stringify(input));
  }
});

Deno.test("encodeCommand() and decodeCommand() round-trip commands with ranges and marks", () => {
  const commands: Command[] = [
    { type: "location.remove", name: "vm1", node: "n1", range: { start: 0, end: 4 } },
    {
      type: "blocks.mark",
      name: "vm1",
      epoch: 3,
      marks: [{
        node: "n2",
        ranges: [{ start: 1, end: 2 }, { start: 5, end: 9 }],
        status: "inSync",
      }],
      retireActivity: [1, 5],
      requestId: "q",
    },
    { type: "node.update", id: "n1", zone: "dc9" },
  ];
  for (const command of commands) assert.deepEqual(decodeCommand(encodeCommand(command)), command);
});

Deno.test("decodeCommand() refuses bytes that are not JSON", () => {
  assert.throws(() => decodeCommand(new Uint8Array([0xff, 0x00])), { code: "INVALID_ARGUMENT" });
});
