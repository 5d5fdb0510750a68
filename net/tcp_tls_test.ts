/**
 * Tests of the transport over TLS, with a CA and a node certificate made by
 * `openssl` in a temporary directory for each run.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { UkaiError } from "../base/errors.ts";
import { Rng } from "../base/rng.ts";
import { TestCluster } from "./_test_cluster.ts";
import type { TlsFiles } from "./tcp_transport.ts";

const ECHO = 200;

async function openssl(directory: string, args: string[]): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("openssl", {
      args,
      cwd: directory,
      stdout: "null",
      stderr: "piped",
    })
      .output();
  } catch (error) {
    throw new Error(
      `openssl is needed for the TLS tests: run "apt-get install -y openssl" (${String(error)})`,
    );
  }
  if (!output.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
}

/** A CA and one certificate for 127.0.0.1 and localhost, signed by it. */
async function makeCertificates(directory: string): Promise<TlsFiles> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(directory, [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=ukai test CA",
  ]);
  await openssl(directory, [
    "req",
    ...ec,
    "-keyout",
    "node.key",
    "-out",
    "node.csr",
    "-subj",
    "/CN=ukai node",
  ]);
  await Deno.writeTextFile(`${directory}/ext.cnf`, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  await openssl(directory, [
    "x509",
    "-req",
    "-in",
    "node.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "node.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  ]);
  return {
    certFile: `${directory}/node.pem`,
    keyFile: `${directory}/node.key`,
    caFile: `${directory}/ca.pem`,
  };
}

Deno.test("TcpTransport over TLS authenticates and carries requests", async (t) => {
  const directory = await Deno.makeTempDir({ prefix: "ukai-net-tls-" });
  try {
    const tls = await makeCertificates(directory);
    await using cluster = new TestCluster();
    const a = await cluster.start("n1", { tls });
    const b = await cluster.start("n2", { tls });
    let calls = 0;
    b.handle(ECHO, (from, body) => {
      calls++;
      return [new TextEncoder().encode(from), body];
    });

    await t.step("request and response, small and 1 MiB", async () => {
      assertEquals(await a.request("n2", ECHO, Uint8Array.of(1)), Uint8Array.of(0x6e, 0x31, 1));
      const big = new Rng(3).fill(new Uint8Array(1 << 20));
      const reply = await a.request("n2", ECHO, big);
      assertEquals(reply.subarray(2), big);
      assert((await a.ping("n2")) >= 0);
    });

    await t.step("a plaintext client is disconnected without reaching a handler", async () => {
      const before = calls;
      const socket = await Deno.connect({ hostname: "127.0.0.1", port: b.port });
      await socket.write(new Uint8Array(64));
      const count = await socket.read(new Uint8Array(1024)).catch(() => null);
      socket.close();
      assert(count === null || count > 0); // closed, or a TLS alert and then closed
      assertEquals(calls, before);
    });

    await t.step("a plaintext transport cannot talk to a TLS one", async () => {
      const plain = await cluster.start("n3");
      const error = await plain.request("n2", ECHO, Uint8Array.of(1)).then(
        () => null,
        (e: unknown) => e,
      );
      assert(error instanceof UkaiError, String(error));
    });

    await t.step(
      "a TLS client refuses a server whose certificate its CA did not sign",
      async () => {
        const other = await Deno.makeTempDir({ prefix: "ukai-net-tls-other-" });
        try {
          const foreign = await makeCertificates(other);
          const stranger = await cluster.start("n4", { tls: { ...foreign, caFile: tls.caFile } });
          stranger.handle(ECHO, (_from, body) => body);
          const error = await a.request("n4", ECHO, Uint8Array.of(1)).then(
            () => null,
            (e: unknown) => e,
          );
          assert(error instanceof UkaiError && error.code === "UNREACHABLE", String(error));
          assert(/certificate|UnknownIssuer|invalid peer/i.test(error.message), error.message);
        } finally {
          await Deno.remove(other, { recursive: true });
        }
      },
    );
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
