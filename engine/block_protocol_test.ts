/** Tests of the block protocol codec: round trips and refusal of malformed bodies. */

import assert from "node:assert/strict";
import { Rng } from "../base/rng.ts";
import {
  BLOCK_HEADER_SIZE,
  decodeBlockHeader,
  decodeExport,
  decodeJson,
  encodeBlockHeader,
  encodeExport,
} from "./block_protocol.ts";
import { concatBytes } from "../base/bytes.ts";

Deno.test("encodeBlockHeader() and decodeBlockHeader() round-trip and keep the payload", () => {
  const header = { uid: 7, epoch: 3, block: 99, offset: 512, length: 4096, flags: 1 };
  const head = encodeBlockHeader(header);
  const body = new Uint8Array(BLOCK_HEADER_SIZE + 3);
  body.set(head);
  body.set([1, 2, 3], BLOCK_HEADER_SIZE);
  const decoded = decodeBlockHeader(body);
  assert.deepEqual(decoded.header, header);
  assert.deepEqual([...decoded.rest], [1, 2, 3]);
});

Deno.test("decodeBlockHeader() refuses short bodies, uid 0, huge ranges and reserved bits", () => {
  const good = encodeBlockHeader({ uid: 1, epoch: 0, block: 0, offset: 0, length: 1, flags: 0 });
  assert.throws(() => decodeBlockHeader(good.subarray(0, 27)), { code: "PROTOCOL" });
  const uidZero = good.slice();
  uidZero.fill(0, 0, 4);
  assert.throws(() => decodeBlockHeader(uidZero), { code: "PROTOCOL" });
  const reserved = good.slice();
  reserved[25] = 1;
  assert.throws(() => decodeBlockHeader(reserved), { code: "PROTOCOL" });
  const huge = good.slice();
  new DataView(huge.buffer).setUint32(16, 0xffff_ffff, true);
  assert.throws(() => decodeBlockHeader(huge), { code: "PROTOCOL" });
  assert.throws(
    () => encodeBlockHeader({ uid: 1, epoch: -1, block: 0, offset: 0, length: 0, flags: 0 }),
    { code: "INVALID_ARGUMENT" },
  );
});

Deno.test("encodeExport() and decodeExport() round-trip sparse extents", () => {
  const extents = [{ byteOffset: 0, byteLength: 4 }, { byteOffset: 4096, byteLength: 2 }];
  const data = new Uint8Array([1, 2, 3, 4, 5, 6]);
  const decoded = decodeExport(concatBytes(encodeExport(extents, data)), 8192);
  assert.deepEqual(decoded.extents, extents);
  assert.deepEqual([...decoded.data], [1, 2, 3, 4, 5, 6]);
});

Deno.test("decodeExport() refuses overlapping, outside or mis-sized extents, and never throws otherwise", () => {
  const bad = [
    [{ byteOffset: 0, byteLength: 4 }, { byteOffset: 2, byteLength: 4 }],
    [{ byteOffset: 8190, byteLength: 4 }],
    [{ byteOffset: 0, byteLength: 0 }],
  ];
  for (const extents of bad) {
    const size = extents.reduce((sum, e) => sum + e.byteLength, 0);
    assert.throws(
      () => decodeExport(concatBytes(encodeExport(extents, new Uint8Array(size))), 8192),
      {
        code: "PROTOCOL",
      },
    );
  }
  assert.throws(
    () =>
      decodeExport(
        concatBytes(encodeExport([{ byteOffset: 0, byteLength: 4 }], new Uint8Array(3))),
        8192,
      ),
    { code: "PROTOCOL" },
  );
  const rng = new Rng(5);
  for (let i = 0; i < 2000; i++) {
    const noise = new Uint8Array(rng.int(64));
    rng.fill(noise);
    try {
      decodeExport(noise, 8192);
    } catch (error) {
      assert.equal((error as { code?: string }).code, "PROTOCOL");
    }
  }
});

Deno.test("decodeJson() refuses bodies that are not JSON objects", () => {
  for (const text of ["", "[]", "3", "{", "\u0000"]) {
    assert.throws(() => decodeJson(new TextEncoder().encode(text)), { code: "PROTOCOL" });
  }
  assert.deepEqual(decodeJson(new TextEncoder().encode('{"a":1}')), { a: 1 });
});
