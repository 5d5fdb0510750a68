/**
 * How the CLI prints: aligned tables, sizes in binary units, colours only on
 * a terminal and never with NO_COLOR, JSON for `--json`, and one-line errors
 * on stderr.
 *
 * @module
 */

import { formatSize } from "../base/units.ts";

const encoder = new TextEncoder();

/** Where the CLI writes; tests capture it. */
export interface Terminal {
  out(text: string): void;
  err(text: string): void;
  /** Whether stdout is a terminal (progress bars, colours). */
  readonly interactive: boolean;
  /** Whether colours may be used. */
  readonly colors: boolean;
  /** Terminal width in columns. */
  readonly columns: number;
}

function writeAll(file: { writeSync(bytes: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
}

/** The process's terminal. */
export function processTerminal(): Terminal {
  const interactive = Deno.stdout.isTerminal();
  let columns = 100;
  try {
    if (interactive) columns = Deno.consoleSize().columns;
  } catch {
    // not a console
  }
  return {
    out: (text) => writeAll(Deno.stdout, text),
    err: (text) => writeAll(Deno.stderr, text),
    interactive,
    colors: interactive && (Deno.env.get("NO_COLOR") ?? "") === "",
    columns,
  };
}

/** Colour functions: each wraps text in its ANSI style, or returns it unchanged. */
export interface Paint {
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

/** ANSI styles, applied only when the terminal allows colours. */
export function style(terminal: Pick<Terminal, "colors">): Paint {
  const wrap = (code: number) => (text: string) =>
    terminal.colors ? `\x1b[${code}m${text}\x1b[0m` : text;
  return {
    bold: wrap(1),
    dim: wrap(2),
    red: wrap(31),
    green: wrap(32),
    yellow: wrap(33),
    cyan: wrap(36),
  };
}

/** `text` without its ANSI escape sequences (styles, line clearing). */
export function stripStyles(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
}

/** Visible width of `text` (ANSI codes excluded). */
export function visibleWidth(text: string): number {
  return stripStyles(text).length;
}

/** Formats rows as an aligned table with a header. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(visibleWidth(title), ...rows.map((row) => visibleWidth(row[column] ?? "")))
  );
  const line = (cells: readonly string[]) =>
    cells.map((cell, column) =>
      column === cells.length - 1
        ? cell
        : cell + " ".repeat((widths[column] ?? 0) - visibleWidth(cell))
    ).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

/** A size for tables. */
export function size(bytes: number): string {
  return formatSize(bytes);
}

/** A duration in seconds as "1h02m", "3m05s" or "12s". */
export function duration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  if (hours > 0) return `${hours}h${String(minutes).padStart(2, "0")}m`;
  if (minutes > 0) return `${minutes}m${String(rest).padStart(2, "0")}s`;
  return `${rest}s`;
}

/** How long ago a wall-clock time was, for "last contact". */
export function ago(atMs: number | null, nowMs: number): string {
  if (atMs === null) return "never";
  const seconds = (nowMs - atMs) / 1000;
  return seconds < 1 ? "now" : `${duration(seconds)} ago`;
}

/** Prints `value` as indented JSON. */
export function printJson(terminal: Terminal, value: unknown): void {
  terminal.out(JSON.stringify(value, null, 2) + "\n");
}
