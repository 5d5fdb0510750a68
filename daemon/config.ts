/**
 * The configuration of `ukai serve`: every setting can come from the config
 * file (TOML, `/etc/ukai/ukai.toml` by default) or a flag, and flags win.
 * One table describes each key — its type, default and check — so the file
 * parser, the flags and the documentation cannot drift apart. Unknown keys
 * and bad values are refused with the key named.
 *
 * @module
 */

import { parse as parseToml } from "smol-toml";
import { UkaiError } from "../base/errors.ts";
import { parseDuration, parseRate } from "../base/units.ts";
import { checkAddress, checkNodeId } from "../meta/mod.ts";

/** The resolved settings of a node. */
export interface ServeConfig {
  nodeId: string;
  data: string;
  mount: string;
  listen: string;
  advertise: string;
  zone: string;
  join: string | undefined;
  bootstrap: boolean;
  learner: boolean;
  secretFile: string | undefined;
  control: string;
  controlMode: number;
  controlListen: string | undefined;
  controlTokenFile: string | undefined;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  tlsCa: string | undefined;
  resyncRate: number;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  ioTimeout: number;
  fuseThreads: number;
  fileMode: number;
  fileOwner: { uid: number; gid: number };
  allowOther: boolean;
  logLevel: "debug" | "info" | "warn" | "error";
}

type Parser<T> = (value: unknown) => T;

/** A value a parser refused; the caller says where it came from. */
class BadValue extends Error {}

function fail(expected: string, value: unknown): never {
  throw new BadValue(`expected ${expected}, got ${JSON.stringify(value)}`);
}

const text: Parser<string> = (value) =>
  typeof value === "string" && value.length > 0 && value.length <= 4096
    ? value
    : fail("a non-empty string", value);

const path: Parser<string> = (value) => {
  const chosen = text(value);
  return chosen.startsWith("/") ? chosen : fail("an absolute path", value);
};

const flag: Parser<boolean> = (value) =>
  typeof value === "boolean" ? value : fail("true or false", value);

const address: Parser<string> = (value) => {
  try {
    return checkAddress(value);
  } catch {
    return fail("HOST:PORT", value);
  }
};

const positiveInteger = (max: number): Parser<number> => (value) => {
  const number = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  return typeof number === "number" && Number.isSafeInteger(number) && number > 0 && number <= max
    ? number
    : fail(`an integer from 1 to ${max}`, value);
};

const count = (max: number): Parser<number> => (value) => {
  const number = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  return typeof number === "number" && Number.isSafeInteger(number) && number >= 0 && number <= max
    ? number
    : fail(`an integer from 0 to ${max}`, value);
};

const duration: Parser<number> = (value) => {
  if (typeof value === "number") return positiveInteger(3_600_000)(value);
  try {
    return parseDuration(text(value));
  } catch {
    return fail('a duration such as "5s" or "150ms"', value);
  }
};

const rate: Parser<number> = (value) => {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  try {
    return parseRate(text(value));
  } catch {
    return fail('a rate such as "100M" (bytes per second; 0 for no cap)', value);
  }
};

const octalMode: Parser<number> = (value) => {
  const match = typeof value === "string" ? /^0?([0-7]{3,4})$/.exec(value) : null;
  return match ? parseInt(match[1] as string, 8) : fail('an octal mode such as "0660"', value);
};

const owner: Parser<{ uid: number; gid: number }> = (value) => {
  const match = typeof value === "string" ? /^(\d+):(\d+)$/.exec(value) : null;
  return match
    ? { uid: Number(match[1]), gid: Number(match[2]) }
    : fail('numeric "UID:GID"', value);
};

const nodeId: Parser<string> = (value) => {
  try {
    return checkNodeId(value);
  } catch {
    return fail("a node id (letters, digits, '.', '_', '-')", value);
  }
};

const level: Parser<ServeConfig["logLevel"]> = (value) =>
  value === "debug" || value === "info" || value === "warn" || value === "error"
    ? value
    : fail("debug, info, warn or error", value);

const optional = <T>(parser: Parser<T>): Parser<T | undefined> => (value) =>
  value === undefined ? undefined : parser(value);

/** One setting: its file key (kebab-case, as the flag), parser, default and help. */
interface Setting<K extends keyof ServeConfig> {
  readonly field: K;
  readonly parse: Parser<ServeConfig[K]>;
  readonly fallback: (config: Partial<ServeConfig>) => ServeConfig[K];
  readonly help: string;
}

function setting<K extends keyof ServeConfig>(
  field: K,
  parse: Parser<ServeConfig[K]>,
  fallback: (config: Partial<ServeConfig>) => ServeConfig[K],
  help: string,
): Setting<K> {
  return { field, parse, fallback, help };
}

/** Every setting, in the order the documentation lists them. */
export const SETTINGS = [
  setting(
    "nodeId",
    nodeId,
    () => Deno.hostname().split(".")[0] ?? "node",
    "this node's id (default: the host name)",
  ),
  setting("data", path, () => "/var/lib/ukai", "data folder: block files, Raft log, secret"),
  setting("mount", path, () => "/ukai", "FUSE mount point where images appear as files"),
  setting("listen", address, () => "127.0.0.1:7850", "HOST:PORT of the peer transport"),
  setting(
    "advertise",
    address,
    (c) => c.listen ?? "127.0.0.1:7850",
    "HOST:PORT peers use to reach this node (default: listen)",
  ),
  setting("zone", text, () => "default", "data-centre label for placement and status"),
  setting(
    "join",
    optional(address),
    () => undefined,
    "HOST:PORT of a member to join (first start only)",
  ),
  setting(
    "bootstrap",
    flag,
    () => false,
    "start a new cluster (refused if the data folder has one)",
  ),
  setting("learner", flag, () => false, "stay a non-voting member (far sites)"),
  setting(
    "secretFile",
    optional(path),
    () => undefined,
    "file with the cluster secret (default: DATA/cluster.secret)",
  ),
  setting("control", path, () => "/run/ukai/control.sock", "control API socket"),
  setting("controlMode", octalMode, () => 0o600, "permission bits of the control socket"),
  setting(
    "controlListen",
    optional(address),
    () => undefined,
    "also serve the control API on TCP HOST:PORT (needs control-token-file)",
  ),
  setting(
    "controlTokenFile",
    optional(path),
    () => undefined,
    "file with the bearer token for the TCP control API",
  ),
  setting("tlsCert", optional(path), () => undefined, "TLS certificate for the peer transport"),
  setting("tlsKey", optional(path), () => undefined, "TLS private key for the peer transport"),
  setting("tlsCa", optional(path), () => undefined, "CA that signs the peers' certificates"),
  setting("resyncRate", rate, () => 0, "cap on resync traffic this node drives, bytes/s (0: none)"),
  setting("tickMs", positiveInteger(10_000), () => 100, "Raft tick in milliseconds"),
  setting("electionTicks", positiveInteger(1000), () => 10, "Raft election timeout in ticks"),
  setting("heartbeatTicks", positiveInteger(1000), () => 1, "Raft heartbeat interval in ticks"),
  setting("ioTimeout", duration, () => 5000, "deadline of one block request to a peer"),
  setting(
    "fuseThreads",
    count(16),
    () => 2,
    "worker threads that also serve the mount's reads and writes (0: the JS thread alone)",
  ),
  setting("fileMode", octalMode, () => 0o660, "permission bits of image files"),
  setting("fileOwner", owner, () => ({ uid: 0, gid: 0 }), "owner of image files, UID:GID"),
  setting("allowOther", flag, () => true, "let users other than root open the mount"),
  setting("logLevel", level, () => "info", "debug, info, warn or error"),
] as const;

/** The file/flag key of a field: `secretFile` → `secret-file`. */
export function settingKey(field: string): string {
  return field.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

const FIELD_BY_KEY = new Map<string, keyof ServeConfig>(
  SETTINGS.map((entry) => [settingKey(entry.field), entry.field]),
);

/**
 * Parses a TOML config file's text into raw settings by field, refusing
 * unknown keys and nested tables.
 *
 * @throws {UkaiError} CONFIG naming the key or the syntax error
 */
export function parseConfigFile(source: string, path: string): Record<string, unknown> {
  let table: Record<string, unknown>;
  try {
    table = parseToml(source) as Record<string, unknown>;
  } catch (error) {
    throw new UkaiError(
      "CONFIG",
      `Cannot parse ${path}: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(table)) {
    const field = FIELD_BY_KEY.get(key);
    if (field === undefined) {
      throw new UkaiError(
        "CONFIG",
        `Unknown key "${key}" in ${path}; known keys: ${[...FIELD_BY_KEY.keys()].join(", ")}`,
      );
    }
    raw[field] = value;
  }
  return raw;
}

/**
 * Resolves the configuration: `flags` over `file` (read from `filePath`) over
 * defaults, every value checked.
 *
 * @throws {UkaiError} CONFIG naming the offending flag or file key
 */
export function resolveConfig(
  file: Record<string, unknown>,
  flags: Record<string, unknown>,
  filePath = "the config file",
): ServeConfig {
  const config: Partial<ServeConfig> = {};
  for (const entry of SETTINGS) {
    const key = settingKey(entry.field);
    const fromFlag = flags[entry.field] !== undefined;
    const value = fromFlag ? flags[entry.field] : file[entry.field];
    try {
      (config as Record<string, unknown>)[entry.field] = value === undefined
        ? entry.fallback(config)
        : (entry.parse as Parser<unknown>)(value);
    } catch (error) {
      if (!(error instanceof BadValue)) throw error;
      const where = fromFlag ? `Flag --${key}` : `Key "${key}" in ${filePath}`;
      throw new UkaiError("CONFIG", `${where}: ${error.message}`);
    }
  }
  return checkCombinations(config as ServeConfig);
}

function checkCombinations(resolved: ServeConfig): ServeConfig {
  if (resolved.controlListen !== undefined && resolved.controlTokenFile === undefined) {
    throw new UkaiError("CONFIG", 'Setting "control-listen" needs "control-token-file"');
  }
  const tls = [resolved.tlsCert, resolved.tlsKey, resolved.tlsCa].filter((v) => v !== undefined);
  if (tls.length !== 0 && tls.length !== 3) {
    throw new UkaiError("CONFIG", 'Settings "tls-cert", "tls-key" and "tls-ca" go together');
  }
  if (resolved.heartbeatTicks >= resolved.electionTicks) {
    throw new UkaiError(
      "CONFIG",
      'Setting "heartbeat-ticks" must be smaller than "election-ticks" (about a tenth)',
    );
  }
  if (resolved.join !== undefined && resolved.bootstrap) {
    throw new UkaiError("CONFIG", 'Settings "join" and "bootstrap" exclude each other');
  }
  return resolved;
}
