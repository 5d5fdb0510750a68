/** Tests of how handler errors cross the wire. */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { ERROR_TABLE, UkaiError } from "../base/errors.ts";
import { decodeRemoteError, encodeRemoteError } from "./remote_error.ts";
import { ERROR_BODY_BYTES_MAX, ERROR_MESSAGE_BYTES_MAX } from "./limits.ts";

Deno.test("encodeRemoteError() keeps every code, message and JSON details", () => {
  for (const code of Object.keys(ERROR_TABLE) as (keyof typeof ERROR_TABLE)[]) {
    const sent = encodeRemoteError(
      new UkaiError(code, `failed with ${code}`, { details: { n: 1 } }),
      "x",
    );
    assertEquals(sent.status, ERROR_TABLE[code].wire);
    const back = decodeRemoteError(sent.status, sent.body);
    assertEquals([back.code, back.message, back.details], [code, `failed with ${code}`, { n: 1 }]);
  }
});

Deno.test("encodeRemoteError() turns other errors into IO and bounds the body", () => {
  const plain = encodeRemoteError(new RangeError("bad"), "Handler for type 200 failed");
  assertEquals(decodeRemoteError(plain.status, plain.body).code, "IO");
  const long = encodeRemoteError(
    new UkaiError("IO", "é".repeat(10_000), { details: { big: 1n } }),
    "",
  );
  assert(long.body.length <= ERROR_BODY_BYTES_MAX);
  const back = decodeRemoteError(long.status, long.body);
  assert(new TextEncoder().encode(back.message).length <= ERROR_MESSAGE_BYTES_MAX);
  assertEquals(back.details, undefined);
});

Deno.test("decodeRemoteError() copes with unknown numbers and unreadable bodies", () => {
  const unknown = decodeRemoteError(999, new TextEncoder().encode('{"message":"new"}'));
  assertEquals(unknown.code, "IO");
  assert(/999/.test(unknown.message));
  const garbage = decodeRemoteError(ERROR_TABLE.TIMEOUT.wire, Uint8Array.of(0xff, 0x00));
  assertEquals(garbage.code, "TIMEOUT");
});
