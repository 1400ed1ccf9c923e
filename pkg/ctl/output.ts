/**
 * Output helpers shared by every command: error printing as DESIGN.md section 8 asks, the
 * docker way of acting on several names (report each failure, go on, exit 1 at the end), and
 * the output of containers (log entries, exec frames) on our stdout and stderr.
 */
import { isShoalError, toShoalError, type ExecFrame, type LogEntry } from '../api/index.js';
import type { CtlContext, OutStream } from './context.js';

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

/**
 * Runs `fn` for each item in turn. A failure is printed and the rest still run; the exit code
 * is 1 if any failed. Unavailable (no engine or controller to talk to) ends the whole command.
 */
export async function eachReported<T>(ctx: CtlContext, items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let failed = false;
  for (const item of items) {
    try {
      await fn(item);
    } catch (err) {
      if (isShoalError(err, 'Unavailable')) throw err;
      failed = true;
      printError(ctx.stderr, err);
    }
  }
  if (failed) ctx.setExitCode(1);
}

/** The stream that output tagged `stream` goes to: stderr to stderr, the rest to stdout. */
function outputFor(ctx: Pick<CtlContext, 'stdout' | 'stderr'>, stream: string | undefined): OutStream {
  return stream === 'stderr' ? ctx.stderr : ctx.stdout;
}

/** The text of a log entry as `logs` prints it (`time text` with timestamps). */
export function logText(e: Partial<LogEntry>, timestamps: boolean): string {
  const log = e.log ?? '';
  return timestamps && e.time ? `${e.time} ${log}` : log;
}

/** Writes each entry to our stdout or stderr, as the container wrote it. */
export async function writeLogEntries(entries: AsyncIterable<Partial<LogEntry>>, ctx: CtlContext, timestamps: boolean): Promise<void> {
  for await (const e of entries) outputFor(ctx, e.stream).write(logText(e, timestamps));
}

/** Writes the output of an exec as it comes; returns the command's exit code, when it sent one. */
export async function printExecFrames(frames: AsyncIterable<ExecFrame>, ctx: CtlContext): Promise<number | undefined> {
  let exitCode: number | undefined;
  for await (const f of frames) {
    if (f.data !== undefined) outputFor(ctx, f.stream).write(Buffer.from(f.data, 'base64'));
    if (typeof f.exitCode === 'number') exitCode = f.exitCode;
  }
  return exitCode;
}
