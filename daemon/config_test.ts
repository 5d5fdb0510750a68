/**
 * Tests of the `ukai serve` configuration: flags over the file over
 * defaults, every setting settable in the file, unknown keys and bad values
 * refused with the key (or flag) named, settings that go together, and the
 * sample `packaging/ukai.toml` staying valid.
 */

import assert from "node:assert/strict";
import { UkaiError } from "../base/errors.ts";
import { parseConfigFile, resolveConfig, settingKey, SETTINGS } from "./config.ts";

const FILE = "/etc/ukai/ukai.toml";

function refused(work: () => unknown, message: RegExp): void {
  assert.throws(work, (error: unknown) => {
    assert.ok(error instanceof UkaiError, String(error));
    assert.equal(error.code, "CONFIG");
    assert.match(error.message, message);
    return true;
  });
}

Deno.test("resolveConfig() takes flags over the file over the defaults", () => {
  const file = parseConfigFile(
    'zone = "dc-file"\nresync-rate = "50M"\ntick-ms = 20\nio-timeout = "2s"\n',
    FILE,
  );
  const config = resolveConfig(file, { zone: "dc-flag", tickMs: "30" }, FILE);
  assert.equal(config.zone, "dc-flag", "the flag wins");
  assert.equal(config.tickMs, 30, "flags arrive as text and are parsed like the file");
  assert.equal(config.resyncRate, 50 * 1024 * 1024, "the file wins over the default");
  assert.equal(config.ioTimeout, 2000);
  assert.equal(config.data, "/var/lib/ukai", "the default");
  assert.equal(config.controlMode, 0o600);
  assert.equal(config.advertise, config.listen, "advertise defaults to listen");
});

Deno.test("every setting of ukai serve can be set in the file", () => {
  const values: Record<string, string> = {
    nodeId: '"n7"',
    data: '"/srv/ukai"',
    mount: '"/vm"',
    listen: '"10.0.0.7:7850"',
    advertise: '"192.0.2.7:7850"',
    zone: '"dc9"',
    join: '"10.0.0.1:7850"',
    bootstrap: "false",
    learner: "true",
    secretFile: '"/etc/ukai/secret"',
    control: '"/run/u.sock"',
    controlMode: '"0660"',
    controlListen: '"10.0.0.7:7851"',
    controlTokenFile: '"/etc/ukai/token"',
    tlsCert: '"/etc/ukai/c.pem"',
    tlsKey: '"/etc/ukai/k.pem"',
    tlsCa: '"/etc/ukai/ca.pem"',
    resyncRate: '"1G"',
    tickMs: "50",
    electionTicks: "20",
    heartbeatTicks: "2",
    ioTimeout: '"750ms"',
    fuseThreads: "3",
    fileMode: '"0640"',
    fileOwner: '"107:110"',
    allowOther: "false",
    logLevel: '"debug"',
  };
  assert.deepEqual(
    Object.keys(values).sort(),
    SETTINGS.map((entry) => entry.field as string).sort(),
    "the test names every setting",
  );
  const toml = Object.entries(values).map(([field, value]) => `${settingKey(field)} = ${value}`);
  const config = resolveConfig(parseConfigFile(toml.join("\n"), FILE), {}, FILE);
  assert.deepEqual(
    { ...config },
    {
      nodeId: "n7",
      data: "/srv/ukai",
      mount: "/vm",
      listen: "10.0.0.7:7850",
      advertise: "192.0.2.7:7850",
      zone: "dc9",
      join: "10.0.0.1:7850",
      bootstrap: false,
      learner: true,
      secretFile: "/etc/ukai/secret",
      control: "/run/u.sock",
      controlMode: 0o660,
      controlListen: "10.0.0.7:7851",
      controlTokenFile: "/etc/ukai/token",
      tlsCert: "/etc/ukai/c.pem",
      tlsKey: "/etc/ukai/k.pem",
      tlsCa: "/etc/ukai/ca.pem",
      resyncRate: 1024 ** 3,
      tickMs: 50,
      electionTicks: 20,
      heartbeatTicks: 2,
      ioTimeout: 750,
      fuseThreads: 3,
      fileMode: 0o640,
      fileOwner: { uid: 107, gid: 110 },
      allowOther: false,
      logLevel: "debug",
    },
  );
});

Deno.test("parseConfigFile() refuses unknown keys, tables and bad syntax, naming them", () => {
  refused(
    () => parseConfigFile('zone = "dc1"\nresync_rate = "1G"\n', FILE),
    /^Unknown key "resync_rate" in \/etc\/ukai\/ukai\.toml; known keys: node-id, data, /,
  );
  refused(() => parseConfigFile('[peer]\nlisten = "x"\n', FILE), /^Unknown key "peer"/);
  refused(() => parseConfigFile('zone = "dc1\n', FILE), /^Cannot parse \/etc\/ukai\/ukai\.toml: /);
});

Deno.test("resolveConfig() refuses bad values naming the file key or the flag", () => {
  const cases: [Record<string, unknown>, Record<string, unknown>, RegExp][] = [
    [
      { tickMs: 0 },
      {},
      /^Key "tick-ms" in \/etc\/ukai\/ukai\.toml: expected an integer from 1 to 10000, got 0$/,
    ],
    [{}, { tickMs: "soon" }, /^Flag --tick-ms: expected an integer from 1 to 10000, got "soon"$/],
    [{ data: "relative/path" }, {}, /^Key "data" in .*: expected an absolute path/],
    [{ listen: "localhost" }, {}, /^Key "listen" in .*: expected HOST:PORT, got "localhost"$/],
    [{}, { resyncRate: "fast" }, /^Flag --resync-rate: expected a rate such as "100M"/],
    [{ ioTimeout: "5 parsecs" }, {}, /^Key "io-timeout" in .*: expected a duration/],
    [
      {},
      { fuseThreads: "-1" },
      /^Flag --fuse-threads: expected an integer from 0 to 16, got "-1"$/,
    ],
    [
      { fuseThreads: 17 },
      {},
      /^Key "fuse-threads" in .*: expected an integer from 0 to 16, got 17$/,
    ],
    [{ controlMode: 600 }, {}, /^Key "control-mode" in .*: expected an octal mode such as "0660"/],
    [{ fileOwner: "root:root" }, {}, /^Key "file-owner" in .*: expected numeric "UID:GID"/],
    [{ nodeId: "../etc" }, {}, /^Key "node-id" in .*: expected a node id/],
    [
      { logLevel: "loud" },
      {},
      /^Key "log-level" in .*: expected debug, info, warn or error, got "loud"$/,
    ],
    [{ allowOther: "yes" }, {}, /^Key "allow-other" in .*: expected true or false, got "yes"$/],
  ];
  for (const [file, flags, message] of cases) {
    refused(() => resolveConfig(file, flags, FILE), message);
  }
});

Deno.test("resolveConfig() refuses settings that need or exclude each other", () => {
  refused(
    () => resolveConfig({ controlListen: "127.0.0.1:7851" }, {}, FILE),
    /"control-listen" needs "control-token-file"/,
  );
  refused(
    () => resolveConfig({ tlsCert: "/c" }, {}, FILE),
    /"tls-cert", "tls-key" and "tls-ca" go together/,
  );
  refused(
    () => resolveConfig({ electionTicks: 5, heartbeatTicks: 5 }, {}, FILE),
    /"heartbeat-ticks" must be smaller than "election-ticks"/,
  );
  refused(
    () => resolveConfig({ join: "10.0.0.1:7850" }, { bootstrap: true }, FILE),
    /"join" and "bootstrap" exclude each other/,
  );
});

Deno.test("the sample packaging/ukai.toml is valid", async () => {
  const path = new URL("../packaging/ukai.toml", import.meta.url).pathname;
  const config = resolveConfig(parseConfigFile(await Deno.readTextFile(path), path), {}, path);
  assert.equal(config.mount, "/ukai");
  assert.equal(config.control, "/run/ukai/control.sock");
  assert.equal(config.resyncRate, 200 * 1024 * 1024);
});
