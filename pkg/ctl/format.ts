/**
 * Output helpers shared by every shoalctl command: aligned tables for people, JSON and YAML
 * for scripts (`-o json|yaml` prints API objects exactly as the server sent them).
 */
import { stringify } from 'yaml';
import { errors } from '../api/index.js';
import type { OutStream } from './context.js';

export interface Column<T> {
  /** Header text, printed as given (upper case by convention: `IMAGE ID`). */
  header: string;
  /** Cell text for one row; newlines and tabs are flattened to spaces. */
  value: (row: T) => string;
  /** Right-align the column (sizes, counts). */
  align?: 'left' | 'right';
}

/** Renders rows as a table with columns separated by three spaces, as docker and kubectl do. */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => c.value(r).replace(/[\t\r\n]+/g, ' ')));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => (row[i] ?? '').length)));
  const line = (values: string[]): string =>
    values
      .map((v, i) => {
        const w = widths[i] ?? 0;
        if (i === values.length - 1 && columns[i]?.align !== 'right') return v;
        return columns[i]?.align === 'right' ? v.padStart(w) : v.padEnd(w);
      })
      .join('   ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

export function printTable<T>(out: OutStream, rows: readonly T[], columns: readonly Column<T>[]): void {
  out.write(formatTable(rows, columns));
}

export function printJson(out: OutStream, value: unknown): void {
  out.write(JSON.stringify(value, null, 2) + '\n');
}

export function printYaml(out: OutStream, value: unknown): void {
  out.write(stringify(value));
}

/** `-o json` or `-o yaml`: the value as it is, for scripts. */
export function printStructured(out: OutStream, format: 'json' | 'yaml', value: unknown): void {
  if (format === 'json') printJson(out, value);
  else printYaml(out, value);
}

/** The 12-character id docker prints (an image id loses its `sha256:`). */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml';

/** Parses an `-o` value; `allowed` lists what the command supports (default table/json/yaml). */
export function parseOutputFormat(value: string | undefined, allowed: readonly OutputFormat[] = ['table', 'json', 'yaml']): OutputFormat {
  const v = (value ?? 'table') as OutputFormat;
  if (!allowed.includes(v)) {
    throw errors.invalidArgument(`unknown output format "${value}": use one of ${allowed.join(', ')}`);
  }
  return v;
}

/** Human size in SI units as docker prints it: `4.26MB`, `512B`. */
export function humanSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '-';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  if (i === 0) return `${v}B`;
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)}${units[i]}`;
}

/** "3 minutes ago" style age of an ISO timestamp relative to `now`. */
export function humanAge(iso: string | undefined, now: Date = new Date()): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '-';
  const s = Math.max(0, Math.floor((now.getTime() - t) / 1000));
  const plural = (n: number, unit: string): string => `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  if (s < 60) return s <= 1 ? 'Less than a second ago' : plural(s, 'second');
  if (s < 3600) return plural(Math.floor(s / 60), 'minute');
  if (s < 86400) return plural(Math.floor(s / 3600), 'hour');
  if (s < 86400 * 14) return plural(Math.floor(s / 86400), 'day');
  if (s < 86400 * 60) return plural(Math.floor(s / (86400 * 7)), 'week');
  if (s < 86400 * 365 * 2) return plural(Math.floor(s / (86400 * 30)), 'month');
  return plural(Math.floor(s / (86400 * 365)), 'year');
}
