/**
 * Helpers for the shoalctl tests (not exported from index.ts): `runCtl` runs the program as
 * cmd/ctl does, with the outside world in buffers, and returns what it printed and its exit
 * code; `captureStream` is one such buffer.
 */
import { PassThrough, Readable } from 'node:stream';
import { CommanderError } from 'commander';
import type { CtlContext, OutStream } from './context.js';
import { formatError } from './output.js';
import { buildProgram } from './program.js';

export interface CapturedStream extends OutStream {
  /** Everything written so far. */
  text(): string;
}

export function captureStream(isTTY = false): CapturedStream {
  const s = new PassThrough() as PassThrough & CapturedStream;
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.isTTY = isTTY;
  s.text = () => Buffer.concat(chunks).toString();
  return s;
}

export interface RunCtlOptions {
  env: CtlContext['env'];
  home: string;
  /** Default: `home`. */
  cwd?: string;
  stdin?: string | Buffer;
  signal?: AbortSignal;
  /** Streams to write to, when the test reads them while the command runs. */
  stdout?: CapturedStream;
  stderr?: CapturedStream;
}

export interface CtlRun {
  code: number;
  out: string;
  err: string;
}

/** `shoalctl ARGS`: commander's own errors (usage, --help) keep their exit code; others print as cmd/ctl prints them. */
export async function runCtl(args: string[], o: RunCtlOptions): Promise<CtlRun> {
  const stdout = o.stdout ?? captureStream();
  const stderr = o.stderr ?? captureStream();
  let code = 0;
  const ctx: CtlContext = {
    env: o.env,
    stdout,
    stderr,
    stdin: Readable.from([o.stdin ?? '']),
    home: o.home,
    cwd: o.cwd ?? o.home,
    signal: o.signal ?? new AbortController().signal,
    setExitCode: (c) => {
      code = c;
    },
  };
  try {
    await buildProgram(ctx).parseAsync(args, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) code = err.exitCode;
    else {
      stderr.write(formatError(err));
      code ||= 1;
    }
  }
  // Let the streams deliver what was written last.
  await new Promise((r) => setImmediate(r));
  return { code, out: stdout.text(), err: stderr.text() };
}
