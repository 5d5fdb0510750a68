/**
 * Tests of the Prometheus text reader the metrics test relies on: it reads a
 * valid exposition and refuses each kind of malformed one.
 */

import assert from "node:assert/strict";
import { parsePrometheus, sampleValue } from "./prometheus.ts";

const VALID = `# HELP ukai_image_read_bytes_total Bytes read
# TYPE ukai_image_read_bytes_total counter
ukai_image_read_bytes_total{image="vm1"} 4096
ukai_image_read_bytes_total{image="a \\"quoted\\" name"} 0
# TYPE ukai_raft_term gauge
ukai_raft_term 3
# TYPE lat histogram
lat_bucket{op="write",le="0.001"} 1
lat_bucket{op="write",le="0.01"} 3
lat_bucket{op="write",le="+Inf"} 4
lat_sum{op="write"} 0.05
lat_count{op="write"} 4
`;

Deno.test("parsePrometheus() reads types, samples and escaped labels", () => {
  const exposition = parsePrometheus(VALID);
  assert.equal(exposition.types.get("lat"), "histogram");
  assert.equal(sampleValue(exposition, "ukai_image_read_bytes_total", { image: "vm1" }), 4096);
  assert.equal(
    sampleValue(exposition, "ukai_image_read_bytes_total", { image: 'a "quoted" name' }),
    0,
  );
  assert.equal(sampleValue(exposition, "lat_count", { op: "write" }), 4);
  assert.equal(sampleValue(exposition, "ukai_raft_term", { extra: "x" }), undefined);
});

Deno.test("parsePrometheus() refuses malformed expositions, naming the line", () => {
  const cases: [string, RegExp][] = [
    ["ukai_x 1\n", /line 1 .*undeclared family/],
    ["# TYPE x counter\nx -1\n", /counter "x" is -1/],
    ["# TYPE x gauge\nx one\n", /bad value "one"/],
    ['# TYPE x gauge\nx{9a="1"} 1\n', /bad label name "9a"/],
    ["# TYPE x gauge\nx{a=1} 1\n", /bad labels/],
    ["# TYPE x wobbly\n", /unknown type "wobbly"/],
    ["# TYPE x gauge\n# TYPE x gauge\n", /second TYPE of x/],
    ["# TYPE h histogram\nh_bucket 1\n", /bucket "h_bucket" without le/],
    [
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n',
      /buckets of .* do not grow/,
    ],
    ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_count 2\n', /do not end at \+Inf/],
    ['# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 3\n', /is not its _count/],
  ];
  for (const [text, message] of cases) assert.throws(() => parsePrometheus(text), message);
});
