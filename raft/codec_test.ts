/**
 * Tests of the binary codec: round trips of random valid values, and a seeded
 * fuzz proving that decoding garbage (every truncation, random bytes, bit
 * flips) only ever throws RaftCodecError, and that whatever decodes
 * re-encodes to the same bytes (the encoding is canonical).
 */

import assert from "node:assert/strict";
import { Rng } from "../base/rng.ts";
import {
  decodeConfChange,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  encodeConfChange,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
  RaftCodecError,
} from "./codec.ts";
import {
  type ConfChange,
  type Entry,
  type HardState,
  type Message,
  MessageType,
  newMessage,
  type Snapshot,
} from "./types.ts";

const MESSAGE_TYPES = Object.values(MessageType);

function randomId(rng: Rng): string {
  return rng.pick(["1", "n2", "node-three", "\u00e9t\u00e9", "x".repeat(rng.between(1, 40))]);
}

function randomBytes(rng: Rng, max: number): Uint8Array {
  return rng.fill(new Uint8Array(rng.int(max + 1)));
}

function randomNumber(rng: Rng): number {
  return rng.pick([
    0,
    1,
    rng.int(1000),
    rng.uint32(),
    Number.MAX_SAFE_INTEGER,
    2 ** 40 + rng.int(1000),
  ]);
}

function randomSnapshot(rng: Rng, maxTerm: number): Snapshot {
  const ids = [...new Set(Array.from({ length: rng.int(5) }, () => randomId(rng)))];
  const split = rng.int(ids.length + 1);
  return {
    metadata: {
      index: rng.between(1, 10_000),
      term: rng.between(0, maxTerm),
      confState: { voters: ids.slice(0, split), learners: ids.slice(split) },
    },
    data: randomBytes(rng, 64),
  };
}

/** A random message that passes `messageInvalid`. */
function randomMessage(rng: Rng): Message {
  const type = rng.pick(MESSAGE_TYPES);
  const term = rng.between(1, 1000);
  const m = newMessage({
    type,
    from: randomId(rng),
    to: randomId(rng),
    term,
    logTerm: rng.int(term + 1),
    index: rng.int(100_000),
    commit: randomNumber(rng),
    reject: rng.chance(0.5),
    rejectHint: randomNumber(rng),
  });
  if (type === MessageType.App) {
    if (m.index === 0) m.logTerm = 0;
    let entryTerm = Math.max(1, m.logTerm);
    for (let i = 0; i < rng.int(5); i++) {
      entryTerm = rng.between(entryTerm, term);
      m.entries.push({
        term: entryTerm,
        index: m.index + 1 + i,
        type: "normal",
        data: randomBytes(rng, 32),
      });
    }
  } else if (type === MessageType.Prop) {
    for (let i = 0; i < rng.between(1, 3); i++) {
      m.entries.push({
        term: 0,
        index: 0,
        type: rng.pick(["normal", "confChange"]),
        data: randomBytes(rng, 32),
      });
    }
  }
  if (type === MessageType.Snap || (type !== MessageType.App && rng.chance(0.1))) {
    m.snapshot = randomSnapshot(rng, term);
  }
  if (rng.chance(0.5)) m.context = randomBytes(rng, 16);
  return m;
}

function randomEntry(rng: Rng): Entry {
  return {
    term: randomNumber(rng),
    index: randomNumber(rng),
    type: rng.pick(["normal", "confChange"]),
    data: randomBytes(rng, 64),
  };
}

function randomHardState(rng: Rng): HardState {
  return {
    term: randomNumber(rng),
    vote: rng.chance(0.3) ? "" : randomId(rng),
    commit: randomNumber(rng),
  };
}

function randomConfChange(rng: Rng): ConfChange {
  return {
    type: rng.pick(["addNode", "addLearner", "removeNode"]),
    nodeId: randomId(rng),
    context: randomBytes(rng, 8),
  };
}

interface Kind {
  name: string;
  make: (rng: Rng) => Uint8Array;
  decode: (bytes: Uint8Array) => unknown;
  encode: (value: never) => Uint8Array;
}

const KINDS: Kind[] = [
  {
    name: "Message",
    make: (rng) => encodeMessage(randomMessage(rng)),
    decode: decodeMessage,
    encode: encodeMessage,
  },
  {
    name: "Entry",
    make: (rng) => encodeEntry(randomEntry(rng)),
    decode: decodeEntry,
    encode: encodeEntry,
  },
  {
    name: "HardState",
    make: (rng) => encodeHardState(randomHardState(rng)),
    decode: decodeHardState,
    encode: encodeHardState,
  },
  {
    name: "ConfChange",
    make: (rng) => encodeConfChange(randomConfChange(rng)),
    decode: decodeConfChange,
    encode: encodeConfChange,
  },
  {
    name: "Snapshot",
    make: (rng) => encodeSnapshot(randomSnapshot(rng, 100)),
    decode: decodeSnapshot,
    encode: encodeSnapshot,
  },
];

/** Decodes `bytes`: either a RaftCodecError, or a value that re-encodes to exactly `bytes`. */
function decodeOrCodecError(kind: Kind, bytes: Uint8Array, what: string): "ok" | "error" {
  let value: unknown;
  try {
    value = kind.decode(bytes);
  } catch (error) {
    if (error instanceof RaftCodecError) return "error";
    throw new Error(`${kind.name} ${what}: threw ${error} instead of RaftCodecError`);
  }
  assert.deepEqual(kind.encode(value as never), bytes, `${kind.name} ${what}: not canonical`);
  return "ok";
}

Deno.test("random valid messages and records survive an encode/decode round trip", () => {
  const rng = new Rng(1);
  for (let i = 0; i < 2000; i++) {
    const message = randomMessage(rng);
    assert.deepEqual(decodeMessage(encodeMessage(message)), message);
  }
  for (let i = 0; i < 500; i++) {
    const entry = randomEntry(rng);
    assert.deepEqual(decodeEntry(encodeEntry(entry)), entry);
    const hardState = randomHardState(rng);
    assert.deepEqual(decodeHardState(encodeHardState(hardState)), hardState);
    const change = randomConfChange(rng);
    assert.deepEqual(decodeConfChange(encodeConfChange(change)), change);
    const snapshot = randomSnapshot(rng, 50);
    assert.deepEqual(decodeSnapshot(encodeSnapshot(snapshot)), snapshot);
  }
});

Deno.test("every truncation of a valid encoding is refused with RaftCodecError", () => {
  const rng = new Rng(2);
  for (const kind of KINDS) {
    for (let sample = 0; sample < 100; sample++) {
      const bytes = kind.make(rng);
      for (let length = 0; length < bytes.length; length++) {
        const outcome = decodeOrCodecError(
          kind,
          bytes.subarray(0, length),
          `prefix ${length}/${bytes.length}`,
        );
        assert.equal(outcome, "error", `${kind.name}: a ${length}-byte prefix decoded`);
      }
    }
  }
});

Deno.test("random byte strings never make a decoder throw anything but RaftCodecError", () => {
  const rng = new Rng(3);
  for (const kind of KINDS) {
    for (let i = 0; i < 4000; i++) {
      const bytes = randomBytes(rng, 64);
      if (bytes.length > 0 && rng.chance(0.8)) bytes[0] = 1; // the right version, to get further in
      decodeOrCodecError(kind, bytes, `random ${i}`);
    }
  }
});

Deno.test("bit flips of valid encodings decode canonically or fail with RaftCodecError", () => {
  const rng = new Rng(4);
  for (const kind of KINDS) {
    for (let i = 0; i < 3000; i++) {
      const bytes = kind.make(rng).slice();
      const flips = rng.between(1, 3);
      for (let f = 0; f < flips; f++) {
        const at = rng.int(bytes.length);
        bytes[at] = bytes[at]! ^ (1 << rng.int(8));
      }
      decodeOrCodecError(kind, bytes, `flip ${i}`);
    }
  }
});

Deno.test("decoding refuses oversized counts, overlong varints and unsafe integers without allocating", () => {
  const cases: [string, number[], RegExp][] = [
    ["unknown version", [2], /version/],
    [
      "huge entry count",
      [1, 2, 0, 1, 0x61, 1, 0x62, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f],
      /count/,
    ],
    [
      "nine-byte varint",
      [1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
      /longer than 8 bytes/,
    ],
    ["2^53 varint", [1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10], /exceeds 2\^53/],
    ["non-canonical varint", [1, 0x81, 0x00], /non-canonical/],
  ];
  for (const [name, bytes, message] of cases) {
    const decode = name === "huge entry count" || name === "unknown version"
      ? decodeMessage
      : decodeHardState;
    assert.throws(() => decode(new Uint8Array(bytes)), (error: unknown) => {
      return error instanceof RaftCodecError && message.test(error.message);
    }, name);
  }
});

Deno.test("decodeMessage() refuses structurally valid but inconsistent messages", () => {
  const bad: Message[] = [
    newMessage({
      type: MessageType.App,
      from: "a",
      to: "b",
      term: 2,
      index: 3,
      entries: [{ term: 2, index: 5, type: "normal", data: new Uint8Array() }],
    }),
    newMessage({
      type: MessageType.App,
      from: "a",
      to: "b",
      term: 2,
      index: 3,
      logTerm: 2,
      entries: [{ term: 1, index: 4, type: "normal", data: new Uint8Array() }],
    }),
    newMessage({ type: MessageType.Snap, from: "a", to: "b", term: 2 }),
    newMessage({ type: MessageType.Heartbeat, from: "", to: "b", term: 2 }),
    newMessage({ type: MessageType.Prop, from: "a", to: "b" }),
  ];
  for (const message of bad) {
    assert.throws(() => decodeMessage(encodeMessage(message)), RaftCodecError, message.type);
  }
});
