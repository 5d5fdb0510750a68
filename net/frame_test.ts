/** Tests of the frame header: encoding, parsing and every refusal reason. */

import {
  deepStrictEqual as assertEquals,
  notStrictEqual as assertNotEquals,
} from "node:assert/strict";
import { crc32 } from "../base/checksum.ts";
import {
  encodeFrame,
  encodeFrameHeader,
  FRAME_HEADER_SIZE,
  frameBodyInvalid,
  frameInvalid,
  parseFrameHeader,
} from "./frame.ts";

const body = new TextEncoder().encode("some body bytes");

/** Re-seals a header whose bytes were changed on purpose, so only the field rule can fail. */
function reseal(header: Uint8Array): Uint8Array {
  new DataView(header.buffer).setUint32(28, crc32(header.subarray(0, 28)));
  return header;
}

function validHeader(): Uint8Array {
  return encodeFrameHeader({ kind: "request", type: 200, requestId: 7, status: 0 }, [body]);
}

Deno.test("encodeFrameHeader() round-trips through parseFrameHeader()", () => {
  for (const kind of ["request", "response", "one-way"] as const) {
    const requestId = kind === "one-way" ? 0 : 0xffff_ffff;
    const status = kind === "response" ? 14 : 0;
    const header = encodeFrameHeader({ kind, type: 65535, requestId, status }, [body, body]);
    assertEquals(header.length, FRAME_HEADER_SIZE);
    assertEquals(frameInvalid(header), null);
    const parsed = parseFrameHeader(header);
    assertEquals(parsed, {
      kind,
      type: 65535,
      requestId,
      status,
      bodySize: body.length * 2,
      bodyChecksum: crc32(body, crc32(body)),
    });
    const whole = new Uint8Array(body.length * 2);
    whole.set(body, 0);
    whole.set(body, body.length);
    assertEquals(frameBodyInvalid(parsed, whole), null);
  }
});

Deno.test("frameInvalid() gives a reason for every broken rule", async (t) => {
  const cases: { name: string; change: (header: Uint8Array) => void; reason: RegExp }[] = [
    { name: "bad magic", change: (h) => h[0] = 0x00, reason: /magic/ },
    { name: "wrong version", change: (h) => h[2] = 9, reason: /version 9/ },
    { name: "unknown kind", change: (h) => h[3] = 4, reason: /kind 4/ },
    { name: "type zero", change: (h) => (h[4] = 0, h[5] = 0), reason: /type 0/ },
    { name: "reserved byte set", change: (h) => h[25] = 1, reason: /reserved/ },
    { name: "request id zero", change: (h) => h.fill(0, 8, 12), reason: /request id 0/ },
    { name: "status on a request", change: (h) => h[7] = 3, reason: /status 3/ },
    {
      name: "request id on a one-way",
      change: (h) => h[3] = 3,
      reason: /one-way frame carries request id 7/,
    },
    {
      name: "body too large",
      change: (h) => new DataView(h.buffer).setUint32(12, 2048),
      reason: /exceeds 1024/,
    },
    {
      name: "empty body with a checksum",
      change: (h) => new DataView(h.buffer).setUint32(12, 0),
      reason: /empty body/,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const header = validHeader();
      c.change(header);
      const reason = frameInvalid(reseal(header), { bodySizeMax: 1024 });
      assertNotEquals(reason, null);
      assertEquals(c.reason.test(reason ?? ""), true, `reason was ${reason}`);
    });
  }
  await t.step("header checksum mismatch", () => {
    const header = validHeader();
    header[10] = (header[10] ?? 0) ^ 0x01;
    assertEquals(frameInvalid(header), "header checksum mismatch");
  });
  await t.step("wrong length", () => {
    assertEquals(frameInvalid(new Uint8Array(31)), "header is 31 bytes, expected 32");
  });
});

Deno.test("frameBodyInvalid() detects a changed or short body", () => {
  const header = parseFrameHeader(validHeader());
  const changed = body.slice();
  changed[3] = (changed[3] ?? 0) ^ 0x80;
  assertEquals(frameBodyInvalid(header, changed), "body checksum mismatch");
  assertEquals(frameBodyInvalid(header, body.subarray(1)) !== null, true);
});

Deno.test("encodeFrame() puts the header before the parts", () => {
  const frame = encodeFrame({ kind: "one-way", type: 100, requestId: 0, status: 0 }, [body]);
  assertEquals(frame.length, FRAME_HEADER_SIZE + body.length);
  assertEquals(frame.subarray(FRAME_HEADER_SIZE), body);
});
