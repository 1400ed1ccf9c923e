/** Output helpers shared by every command: error printing as DESIGN.md section 8 asks. */
import { toShoalError } from '../api/index.js';
import type { OutStream } from './context.js';

/** `error: <reason>: <message>` plus one line per field cause. */
export function formatError(err: unknown): string {
  const e = toShoalError(err);
  const lines = [`error: ${e.code}: ${e.message}`];
  for (const c of e.causes) lines.push(`  ${c.field}: ${c.message}`);
  return lines.join('\n') + '\n';
}

export function printError(stream: OutStream, err: unknown): void {
  stream.write(formatError(err));
}
