/** Tests of HOST:PORT parsing. */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { formatAddress, parseAddress } from "./address.ts";

Deno.test("parseAddress() accepts names, IPv4 and bracketed IPv6, and refuses the rest", () => {
  assertEquals(parseAddress("node-1.example:7000"), { hostname: "node-1.example", port: 7000 });
  assertEquals(parseAddress("10.0.0.1:1"), { hostname: "10.0.0.1", port: 1 });
  assertEquals(parseAddress("[::1]:65535"), { hostname: "::1", port: 65535 });
  for (
    const bad of ["", "host", "host:", ":80", "host:0", "host:65536", "::1:80", "a b:1", "h:1/x"]
  ) {
    assertEquals(typeof parseAddress(bad), "string", bad);
  }
  assertEquals(formatAddress("::1", 80), "[::1]:80");
  assertEquals(formatAddress("127.0.0.1", 80), "127.0.0.1:80");
});
