/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4)
 * for tests: every line must be a HELP, a TYPE or a sample of a declared
 * family with well-formed names, labels and value; histogram buckets must
 * carry `le`, grow with it and end at `+Inf` equal to `_count`. It throws
 * with the line number at the first violation.
 *
 * @module
 */

/** One sample line. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A scrape: declared types by family and every sample. */
export interface Exposition {
  readonly types: Map<string, string>;
  readonly samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);
const SUFFIXES: Record<string, string[]> = {
  histogram: ["_bucket", "_sum", "_count"],
  summary: ["", "_sum", "_count"],
};

function parseValue(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value "${text}"`);
  return Number(text);
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest !== "") {
    const match = /^([^=]+)="((?:[^"\\]|\\[\\"n])*)"(,|$)/.exec(rest);
    if (match === null) throw new Error(`bad labels "${text}"`);
    const [whole, name = "", value = ""] = match;
    if (!LABEL_NAME.test(name) || name in labels) throw new Error(`bad label name "${name}"`);
    labels[name] = value.replace(/\\(["\\n])/g, (_, c) => (c === "n" ? "\n" : c));
    rest = rest.slice(whole.length);
  }
  return labels;
}

function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    const family = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && SUFFIXES[types.get(family) ?? ""]?.includes(suffix)) {
      return family;
    }
  }
  return undefined;
}

function parseSample(line: string, types: Map<string, string>): Sample {
  const match = /^([^\s{]+)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/.exec(line);
  if (match === null) throw new Error("not a sample line");
  const [, name = "", labels = "", value = ""] = match;
  if (!NAME.test(name)) throw new Error(`bad metric name "${name}"`);
  const family = familyOf(name, types);
  if (family === undefined) throw new Error(`sample "${name}" of an undeclared family`);
  const sample = { name, labels: parseLabels(labels), value: parseValue(value) };
  if (types.get(family) === "counter" && !(sample.value >= 0)) {
    throw new Error(`counter "${name}" is ${value}`);
  }
  if (name.endsWith("_bucket") && sample.labels.le === undefined) {
    throw new Error(`bucket "${name}" without le`);
  }
  return sample;
}

function checkHistograms(exposition: Exposition): void {
  const series = new Map<string, Sample[]>();
  for (const sample of exposition.samples) {
    if (!sample.name.endsWith("_bucket")) continue;
    const { le: _, ...rest } = sample.labels;
    const key = `${sample.name}${JSON.stringify(Object.entries(rest).sort())}`;
    series.set(key, [...(series.get(key) ?? []), sample]);
  }
  for (const [key, buckets] of series) {
    let previous = { le: -Infinity, value: 0 };
    for (const bucket of buckets) {
      const le = parseValue(bucket.labels.le as string);
      if (le <= previous.le || bucket.value < previous.value) {
        throw new Error(`buckets of ${key} do not grow`);
      }
      previous = { le, value: bucket.value };
    }
    if (previous.le !== Infinity) throw new Error(`buckets of ${key} do not end at +Inf`);
    const { le: _, ...labels } = buckets[0]?.labels ?? {};
    const count = sampleValue(exposition, key.slice(0, key.indexOf("_bucket")) + "_count", labels);
    if (count !== previous.value) throw new Error(`+Inf bucket of ${key} is not its _count`);
  }
}

/**
 * Parses and checks an exposition.
 *
 * @throws {Error} naming the line and what is wrong with it
 */
export function parsePrometheus(text: string): Exposition {
  const exposition: Exposition = { types: new Map(), samples: [] };
  const helps = new Set<string>();
  for (const [index, line] of text.split("\n").entries()) {
    try {
      if (line === "") continue;
      const comment = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (comment !== null) {
        const [, kind, name = "", rest = ""] = comment;
        if (!NAME.test(name)) throw new Error(`bad metric name "${name}"`);
        const seen = kind === "HELP" ? helps : new Set(exposition.types.keys());
        if (seen.has(name)) throw new Error(`second ${kind} of ${name}`);
        if (kind === "HELP") helps.add(name);
        else if (!TYPES.has(rest)) throw new Error(`unknown type "${rest}"`);
        else exposition.types.set(name, rest);
        continue;
      }
      if (line.startsWith("#")) continue;
      exposition.samples.push(parseSample(line, exposition.types));
    } catch (error) {
      throw new Error(`line ${index + 1} "${line}": ${(error as Error).message}`);
    }
  }
  checkHistograms(exposition);
  return exposition;
}

/** The value of the sample `name` whose labels are exactly `labels`, if there is one. */
export function sampleValue(
  exposition: Exposition,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return exposition.samples.find((sample) =>
    sample.name === name && JSON.stringify(Object.entries(sample.labels).sort()) === wanted
  )?.value;
}
