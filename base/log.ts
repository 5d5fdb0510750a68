/**
 * Structured logging: one line per event, `level=… component=… msg="…" key=value`,
 * written to stderr where journald keeps it. Components get a child logger;
 * tests capture lines with `captureLogger`.
 *
 * @module
 */

/** Severity of a log line, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVEL_RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Key/value facts attached to a log line. */
export type LogFields = Record<string, string | number | boolean | bigint | null | undefined>;

/** Where log lines go. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines carry `component`. */
  child(component: string): Logger;
}

/** A sink receives finished lines. */
export type LogSink = (line: string, level: LogLevel) => void;

function quote(value: string): string {
  return /^[A-Za-z0-9_.:/@+-]+$/.test(value) ? value : JSON.stringify(value);
}

/** Formats one structured line (exported for tests and for the CLI). */
export function formatLogLine(
  level: LogLevel,
  component: string,
  message: string,
  fields: LogFields = {},
): string {
  let line = `level=${level} component=${quote(component)} msg=${JSON.stringify(message)}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    line += ` ${key}=${quote(String(value))}`;
  }
  return line;
}

/** A logger that formats lines and hands those at or above `minimum` to `sink`. */
export function createLogger(
  sink: LogSink,
  options: { component?: string; minimum?: LogLevel } = {},
): Logger {
  const component = options.component ?? "ukai";
  const minimum = LEVEL_RANK[options.minimum ?? "info"];
  const emit = (level: LogLevel) => (message: string, fields?: LogFields) => {
    if (LEVEL_RANK[level] < minimum) return;
    sink(formatLogLine(level, component, message, fields), level);
  };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    child: (name: string) =>
      createLogger(sink, { component: name, minimum: options.minimum ?? "info" }),
  };
}

const encoder = new TextEncoder();

/** The syslog priority of each level, as journald reads it from a `<N>` line prefix. */
const SYSLOG_PRIORITY: Record<LogLevel, number> = { debug: 7, info: 6, warn: 4, error: 3 };

/**
 * A logger that writes to the process's stderr; with `syslogPrefix` (under
 * systemd, which sets JOURNAL_STREAM) each line starts with `<N>` so journald
 * records its priority.
 */
export function stderrLogger(
  minimum: LogLevel = "info",
  options: { syslogPrefix?: boolean } = {},
): Logger {
  return createLogger((line, level) => {
    const prefix = options.syslogPrefix ? `<${SYSLOG_PRIORITY[level]}>` : "";
    Deno.stderr.writeSync(encoder.encode(prefix + line + "\n"));
  }, { minimum });
}

/** A logger that drops everything. */
export const silentLogger: Logger = createLogger(() => {}, { minimum: "error" });

/** A logger that keeps its lines in memory, for tests. */
export function captureLogger(minimum: LogLevel = "debug"): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger((line) => lines.push(line), { minimum });
  return Object.assign(logger, { lines });
}
