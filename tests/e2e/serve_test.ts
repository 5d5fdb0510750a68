/**
 * `ukai serve` as systemd runs it: readiness (READY=1 through
 * `$NOTIFY_SOCKET`) only once the node has joined and its mount is up,
 * journald priorities on every log line, STOPPING=1 and an unmounted mount
 * on SIGTERM; a bad config that stops it at once with exit 2 and one line
 * naming the key or flag; and the systemd unit in packaging/.
 */

import assert from "node:assert/strict";
import { DEFAULT_CONFIG_FILE } from "../../cli/serve_command.ts";
import { resolveConfig } from "../../daemon/config.ts";
import { ProcessCluster } from "../harness/processes.ts";

const root = new URL("../../", import.meta.url).pathname;

/** Receives sd_notify datagrams on `path`, one line per datagram (needs --unstable-net). */
const LISTENER = `
const socket = Deno.listenDatagram({ transport: "unixpacket", path: Deno.args[0] });
for await (const [data] of socket) {
  console.log(new TextDecoder().decode(data).trim().replaceAll("\\n", " "));
}`;

async function serve(args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${root}main.ts`, "serve", ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

Deno.test("ukai serve tells systemd it is ready only once joined and mounted, and stops cleanly", async () => {
  const cluster = await ProcessCluster.create();
  const socket = `${cluster.root}/notify.sock`;
  const listener = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--unstable-net", LISTENER, socket],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  cluster.defer(async () => {
    listener.kill();
    await listener.status;
  });
  const lines = listener.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let received = "";
  const nextMessage = async (pattern: RegExp) => {
    while (!pattern.test(received)) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`the listener ended before ${pattern}: ${received}`);
      received += value;
    }
  };
  try {
    cluster.define("n1", "dc1");
    cluster.define("n2", "dc2");
    await cluster.start("n1");
    while ((await Deno.stat(socket).catch(() => null)) === null) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const n2 = await cluster.start("n2", {
      join: cluster.address("n1"),
      env: { NOTIFY_SOCKET: socket, JOURNAL_STREAM: "8:12345" },
      noWait: true,
    });
    await nextMessage(/READY=1/);
    // systemd-notify may follow its message with a BARRIER=1 datagram (sd_notify_barrier).
    const [first, ...later] = received.trimEnd().split("\n");
    assert.match(first ?? "", /^MAINPID=\d+ READY=1$/);
    assert.ok(later.every((line) => line === "BARRIER=1"), received);
    assert.ok(
      (await Deno.readTextFile("/proc/mounts")).includes(` ${n2.mount} `),
      "the mount is up when READY=1 is sent",
    );
    const members = await cluster.call<{ nodes: { id: string; role: string }[] }>(
      "n1",
      "GET",
      "/v1/nodes",
    );
    assert.notEqual(members.nodes.find((node) => node.id === "n2")?.role ?? "none", "none");

    assert.equal(await cluster.stop("n2"), 0, "SIGTERM ends it with exit 0");
    await nextMessage(/STOPPING=1/);
    assert.ok(!(await Deno.readTextFile("/proc/mounts")).includes(n2.mount), "unmounted on stop");
    const log = (await cluster.logOf("n2")).trim().split("\n");
    assert.ok(log.length > 3);
    for (const line of log) assert.match(line, /^<[3-7]>level=(debug|info|warn|error) component=/);
    assert.ok(log.some((line) => line.startsWith('<6>level=info component=ukai msg="stopped"')));
  } finally {
    lines.releaseLock();
    await cluster.close();
  }
});

Deno.test("ukai serve refuses a bad config at once with exit 2 and one line naming the key", async () => {
  const folder = await Deno.makeTempDir({ prefix: "ukai-serve-" });
  try {
    const config = `${folder}/ukai.toml`;
    const base = ["--data", `${folder}/data`, "--mount", `${folder}/mnt`];
    const cases: [string, string[], RegExp][] = [
      [
        'zone = "dc1"\nresync_rate = "1G"\n',
        [],
        /^error: Unknown key "resync_rate" in .*ukai\.toml; known keys: /,
      ],
      [
        'tick-ms = "soon"\n',
        [],
        /^error: Key "tick-ms" in .*ukai\.toml: expected an integer from 1 to 10000, got "soon"\n$/,
      ],
      [
        'zone = "dc1"\n',
        ["--io-timeout", "forever"],
        /^error: Flag --io-timeout: expected a duration/,
      ],
      ["zone = \n", [], /^error: Cannot parse .*ukai\.toml: /],
    ];
    for (const [text, flags, message] of cases) {
      await Deno.writeTextFile(config, text);
      const run = await serve(["--config", config, ...base, ...flags]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
    }
    const missing = await serve(["--config", `${folder}/none.toml`, ...base]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^error: Config file .*none\.toml does not exist\n$/);
    assert.equal(await Deno.stat(`${folder}/data`).catch(() => null), null, "nothing was started");
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("packaging/ukai.service is a valid notify unit that matches the defaults of ukai serve", async () => {
  const unit = await Deno.readTextFile(`${root}packaging/ukai.service`);
  const settings = new Map(
    unit.split("\n").filter((line) => /^[A-Za-z]+=/.test(line)).map((line) => {
      const at = line.indexOf("=");
      return [line.slice(0, at), line.slice(at + 1)] as const;
    }),
  );
  assert.equal(settings.get("Type"), "notify");
  assert.equal(
    settings.get("ExecStart"),
    `/usr/local/bin/ukai serve --config ${DEFAULT_CONFIG_FILE}`,
  );
  const defaults = resolveConfig({}, {});
  assert.equal(settings.get("ExecStopPost"), `-/bin/fusermount3 -u -z ${defaults.mount}`);
  assert.equal(`/var/lib/${settings.get("StateDirectory")}`, defaults.data);
  assert.ok(defaults.control.startsWith(`/run/${settings.get("RuntimeDirectory")}/`));
  assert.equal(settings.get("RestartPreventExitStatus"), "2", "config errors (exit 2) are final");
  const folder = await Deno.makeTempDir({ prefix: "ukai-unit-" });
  try {
    await Deno.writeTextFile(`${folder}/ukai`, "#!/bin/sh\n", { mode: 0o755 });
    await Deno.writeTextFile(
      `${folder}/ukai.service`,
      unit.replace("/usr/local/bin/ukai", `${folder}/ukai`),
    );
    const verify = await new Deno.Command("systemd-analyze", {
      args: ["verify", `${folder}/ukai.service`],
      stdout: "piped",
      stderr: "piped",
    }).output().catch(() => null);
    if (verify !== null) {
      const complaints = new TextDecoder().decode(verify.stderr);
      assert.equal(verify.code, 0, complaints);
      assert.equal(complaints, "");
    }
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});
