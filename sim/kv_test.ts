import { assert } from "../base/assert.ts";
import { decodeCommand, encodeCommand, type KvCommand, KvStateMachine } from "./kv.ts";

Deno.test("KvStateMachine: compare-and-set swaps only on the expected value", () => {
  const kv = new KvStateMachine();
  const cas = (request: number, expected: string | null, value: string): KvCommand => ({
    op: "cas",
    client: 1,
    request,
    key: "k",
    expected,
    value,
  });
  const first = kv.apply(cas(1, null, "a"));
  assert(first.kind === "applied" && first.result.op === "cas" && first.result.swapped, "swap");
  const second = kv.apply(cas(2, null, "b"));
  assert(second.kind === "applied" && second.result.op === "cas" && !second.result.swapped, "no");
  assert(kv.get("k") === "a", "the failed swap changed nothing");
});

Deno.test("KvStateMachine: a retry is answered, not applied again; an older one is ignored", () => {
  const kv = new KvStateMachine();
  kv.apply({ op: "put", client: 7, request: 1, key: "k", value: "one" });
  kv.apply({ op: "put", client: 8, request: 1, key: "k", value: "other" });
  const retry = kv.apply({ op: "put", client: 7, request: 1, key: "k", value: "one" });
  assert(retry.kind === "duplicate" && kv.get("k") === "other", "a retry does not write again");
  kv.apply({ op: "put", client: 7, request: 2, key: "k", value: "two" });
  const late = kv.apply({ op: "put", client: 7, request: 1, key: "k", value: "one" });
  assert(late.kind === "stale" && kv.get("k") === "two", "a late older request is ignored");
});

Deno.test("KvStateMachine: a snapshot restores the same state and fingerprint", () => {
  const kv = new KvStateMachine();
  kv.apply({ op: "put", client: 2, request: 1, key: "b", value: "x" });
  kv.apply({ op: "put", client: 1, request: 4, key: "a", value: "y" });
  const restored = KvStateMachine.restore(kv.snapshot());
  assert(restored.hash() === kv.hash(), "same fingerprint");
  assert(restored.get("a") === "y" && restored.get("b") === "x", "same values");
  const retry = restored.apply({ op: "put", client: 1, request: 4, key: "a", value: "y" });
  assert(retry.kind === "duplicate", "sessions survive the snapshot");
  assert(KvStateMachine.restore(new Uint8Array()).hash() === new KvStateMachine().hash(), "empty");
});

Deno.test("KV commands round-trip through entry data", () => {
  const command: KvCommand = {
    op: "cas",
    client: 3,
    request: 9,
    key: "k",
    expected: null,
    value: "v",
  };
  assert(JSON.stringify(decodeCommand(encodeCommand(command))) === JSON.stringify(command), "same");
});
