import { assert } from "../base/assert.ts";
import { Rng } from "../base/rng.ts";
import type { Operation, OperationInput, OperationOutput } from "./history.ts";
import { checkLinearizability, describeOperation } from "./linearizability.ts";

let nextId = 0;

function op(
  client: number,
  input: OperationInput,
  invokeMs: number,
  completeMs?: number,
  output?: OperationOutput,
): Operation {
  const operation: Operation = { id: nextId++, client, input, invokeMs };
  if (completeMs !== undefined) operation.completeMs = completeMs;
  if (output !== undefined) operation.output = output;
  return operation;
}

const put = (key: string, value: string) => ({ op: "put" as const, key, value });
const get = (key: string) => ({ op: "get" as const, key });
const cas = (key: string, expected: string | null, value: string) => ({
  op: "cas" as const,
  key,
  expected,
  value,
});
const ok = { op: "put" as const };
const read = (value: string | null) => ({ op: "get" as const, value });
const swapped = (yes: boolean) => ({ op: "cas" as const, swapped: yes });

const cases: { name: string; linearizable: boolean; history: Operation[] }[] = [
  {
    name: "sequential put then get sees the value",
    linearizable: true,
    history: [op(1, put("k", "a"), 0, 1, ok), op(2, get("k"), 2, 3, read("a"))],
  },
  {
    name: "a read after a completed write returns the old value (stale read)",
    linearizable: false,
    history: [op(1, put("k", "a"), 0, 1, ok), op(2, get("k"), 2, 3, read(null))],
  },
  {
    name: "a read concurrent with a write may see either value",
    linearizable: true,
    history: [
      op(1, put("k", "a"), 0, 10, ok),
      op(2, get("k"), 1, 2, read("a")),
      op(3, get("k"), 3, 4, read("a")),
    ],
  },
  {
    name: "reads may not go back in time (new value, then old value)",
    linearizable: false,
    history: [
      op(1, put("k", "a"), 0, 10, ok),
      op(2, get("k"), 1, 2, read("a")),
      op(3, get("k"), 3, 4, read(null)),
    ],
  },
  {
    name: "a read of a value nobody wrote",
    linearizable: false,
    history: [op(1, put("k", "a"), 0, 1, ok), op(2, get("k"), 2, 3, read("ghost"))],
  },
  {
    name: "two compare-and-sets from the same value cannot both succeed (lost update)",
    linearizable: false,
    history: [
      op(1, cas("k", null, "a"), 0, 5, swapped(true)),
      op(2, cas("k", null, "b"), 1, 6, swapped(true)),
    ],
  },
  {
    name: "concurrent compare-and-sets: one wins, the other sees the winner",
    linearizable: true,
    history: [
      op(1, cas("k", null, "a"), 0, 5, swapped(true)),
      op(2, cas("k", null, "b"), 1, 6, swapped(false)),
      op(3, get("k"), 7, 8, read("a")),
    ],
  },
  {
    name: "a compare-and-set that fails although the value matched",
    linearizable: false,
    history: [
      op(1, put("k", "a"), 0, 1, ok),
      op(2, cas("k", "a", "b"), 2, 3, swapped(false)),
    ],
  },
  {
    name: "an indeterminate write may take effect later (seen after its invocation)",
    linearizable: true,
    history: [op(1, put("k", "a"), 0), op(2, get("k"), 50, 51, read("a"))],
  },
  {
    name: "an indeterminate write may never take effect",
    linearizable: true,
    history: [op(1, put("k", "a"), 0), op(2, get("k"), 50, 51, read(null))],
  },
  {
    name: "an indeterminate write cannot take effect before it was invoked",
    linearizable: false,
    history: [op(1, get("k"), 0, 1, read("a")), op(2, put("k", "a"), 5)],
  },
  {
    name: "an indeterminate write, once seen, stays (no flicker back)",
    linearizable: false,
    history: [
      op(1, put("k", "a"), 0),
      op(2, get("k"), 10, 11, read("a")),
      op(3, get("k"), 12, 13, read(null)),
    ],
  },
  {
    name: "an indeterminate compare-and-set may explain a failed one",
    linearizable: true,
    history: [
      op(1, cas("k", null, "a"), 0),
      op(2, cas("k", null, "b"), 10, 11, swapped(false)),
      op(3, get("k"), 12, 13, read("a")),
    ],
  },
  {
    name: "an indeterminate read constrains nothing",
    linearizable: true,
    history: [op(1, put("k", "a"), 0, 1, ok), op(2, get("k"), 2)],
  },
  {
    name: "keys are independent (a violation on one key is found among others)",
    linearizable: false,
    history: [
      op(1, put("x", "1"), 0, 1, ok),
      op(2, put("y", "2"), 0, 1, ok),
      op(3, get("x"), 2, 3, read("1")),
      op(4, get("y"), 2, 3, read(null)),
    ],
  },
  {
    name: "operations that touch in time count as concurrent",
    linearizable: true,
    history: [op(1, put("k", "a"), 0, 5, ok), op(2, get("k"), 5, 6, read(null))],
  },
];

Deno.test("checkLinearizability: known linearizable and non-linearizable histories", async (t) => {
  for (const c of cases) {
    await t.step(c.name, () => {
      const result = checkLinearizability(c.history);
      const verdict = result.kind === "linearizable";
      assert(result.kind !== "inconclusive", "the search must finish");
      assert(
        verdict === c.linearizable,
        `expected ${c.linearizable}, got ${JSON.stringify(result)}`,
      );
    });
  }
});

/** A random sequential register history, then shuffled timestamps that keep real-time order. */
function randomLinearizableHistory(rng: Rng, count: number): Operation[] {
  let value: string | null = null;
  const history: Operation[] = [];
  let time = 0;
  for (let i = 0; i < count; i++) {
    const client = rng.between(1, 4);
    const start = time;
    // Each operation's effect is at `time`; its interval stretches around it.
    const invokeMs = start - rng.int(20);
    const completeMs = start + rng.int(20);
    const draw = rng.int(3);
    if (draw === 0) {
      value = `v${i}`;
      history.push(op(client, put("k", value), invokeMs, completeMs, ok));
    } else if (draw === 1) {
      history.push(op(client, get("k"), invokeMs, completeMs, read(value)));
    } else {
      const expected = rng.chance(0.5) ? value : "nope";
      const success = expected === value;
      if (success) value = `c${i}`;
      const operation = op(
        client,
        cas("k", expected, `c${i}`),
        invokeMs,
        completeMs,
        swapped(success),
      );
      if (rng.chance(0.1)) {
        delete operation.completeMs;
        delete operation.output;
      }
      history.push(operation);
    }
    time += 10;
  }
  return history;
}

Deno.test("checkLinearizability accepts random histories built from a sequential run", () => {
  const rng = new Rng(2024);
  for (let trial = 0; trial < 50; trial++) {
    const history = randomLinearizableHistory(rng, 60);
    const result = checkLinearizability(history);
    assert(result.kind === "linearizable", `trial ${trial}: ${JSON.stringify(result)}`);
  }
});

Deno.test("checkLinearizability reports inconclusive when the step budget runs out", () => {
  const history = randomLinearizableHistory(new Rng(1), 40);
  const result = checkLinearizability(history, 3);
  assert(result.kind === "inconclusive", `got ${result.kind}`);
});

Deno.test("describeOperation names the operation, its interval and its output", () => {
  const text = describeOperation(op(3, cas("k", null, "v"), 4, 9, swapped(true)));
  assert(text.includes('c3 cas(k, null, "v") [4, 9] -> swapped'), text);
});

Deno.test("checkLinearizability rejects random histories with one read corrupted", () => {
  const rng = new Rng(77);
  let rejected = 0;
  for (let trial = 0; trial < 30; trial++) {
    const history = randomLinearizableHistory(rng, 40);
    const reads = history.filter((operation) => operation.output?.op === "get");
    if (reads.length === 0) continue;
    rng.pick(reads).output = read(`never-written-${trial}`);
    const result = checkLinearizability(history);
    assert(result.kind === "violation", `trial ${trial}: ${result.kind}`);
    rejected++;
  }
  assert(rejected > 20, "most trials had a read to corrupt");
});
