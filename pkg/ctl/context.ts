/**
 * What a shoalctl command may touch of the outside world. cmd/ctl builds it from the real
 * process; tests build it from buffers. Commands never read process.env or call process.exit.
 */
import type { Readable, Writable } from 'node:stream';

export interface OutStream extends Writable {
  isTTY?: boolean;
  columns?: number;
  /** A terminal's height; with `columns`, the size a terminal session sends (it emits 'resize' on SIGWINCH). */
  rows?: number;
}

export interface CtlContext {
  env: Readonly<Record<string, string | undefined>>;
  stdout: OutStream;
  stderr: OutStream;
  /** A terminal has setRawMode (terminal sessions turn it on, and always off again). */
  stdin: Readable & { isTTY?: boolean; setRawMode?(mode: boolean): unknown };
  /** Home directory, for ~/.shoal (config, credentials). */
  home: string;
  /** Current working directory, for relative paths. */
  cwd: string;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
  /** Sets the exit code the process ends with (last call wins). */
  setExitCode(code: number): void;
}
