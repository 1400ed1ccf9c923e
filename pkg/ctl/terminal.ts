/**
 * The client end of a terminal session (`run -t`, `attach`, `exec -t`, also to task/NAME):
 * our terminal goes raw, each key travels as an input frame (pkg/api/terminal.ts), SIGWINCH
 * sends our size, the engine's frames are written to our stdout, and the detach keys (Docker's
 * Ctrl-P Ctrl-Q, or --detach-keys) end the session without ending the container. The terminal
 * is restored on every way out (the session's finally; cmd/ctl also restores it at exit).
 */
import { PassThrough, type Readable } from 'node:stream';
import { encodeTerminalFrame, errors, type ExecFrame, type TerminalSize } from '../api/index.js';
import type { CtlContext } from './context.js';

/** Docker's default: Ctrl-P Ctrl-Q. */
export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/**
 * Docker's `--detach-keys`: comma-separated keys, each one character or `ctrl-<c>` with
 * <c> one of a-z @ [ \ ] ^ _ . Empty means the default.
 */
export function parseDetachKeys(spec: string | undefined): Buffer {
  const s = spec === undefined || spec === '' ? DEFAULT_DETACH_KEYS : spec;
  const bytes: number[] = [];
  for (const key of s.split(',')) {
    const k = key.trim();
    const ctrl = /^ctrl-(.)$/i.exec(k);
    if (ctrl) {
      const c = ctrl[1]!.toLowerCase();
      const code = c.charCodeAt(0);
      if (c >= 'a' && c <= 'z') bytes.push(code - 96);
      else if ('@[\\]^_'.includes(c)) bytes.push(code - 64);
      else throw errors.invalidArgument(`invalid detach key ${JSON.stringify(k)}: ctrl- takes a-z, @, [, \\, ], ^ or _`);
    } else if (k.length === 1 && k.charCodeAt(0) < 128) {
      bytes.push(k.charCodeAt(0));
    } else {
      throw errors.invalidArgument(`invalid detach key ${JSON.stringify(k)}: want one character or ctrl-<c> (e.g. ${DEFAULT_DETACH_KEYS})`);
    }
  }
  return Buffer.from(bytes);
}

/**
 * Finds the detach sequence in what is typed. A key that starts the sequence is held back until
 * the next one shows whether it is the sequence (then nothing of it is sent) or not (then it is
 * sent after all), as Docker does.
 */
export class DetachScanner {
  private matched = 0;

  constructor(private readonly keys: Buffer) {}

  feed(chunk: Buffer): { forward: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (this.keys.length > 0 && b === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) {
          this.matched = 0;
          return { forward: Buffer.from(out), detach: true };
        }
        continue;
      }
      if (this.matched > 0) {
        out.push(...this.keys.subarray(0, this.matched));
        this.matched = 0;
        if (b === this.keys[0]) {
          this.matched = 1;
          continue;
        }
      }
      out.push(b);
    }
    return { forward: Buffer.from(out), detach: false };
  }
}

export interface TerminalOptions {
  /** Send our keys (`-i`); without it only window sizes go. */
  interactive: boolean;
  detachKeys: Buffer;
}

export interface TerminalResult {
  exitCode?: number;
  /** Ended by the detach keys. */
  detached: boolean;
}

/** CR LF → LF (bytes; a CR LF split across two chunks stays, which a terminal shows the same). */
export function dropCrBeforeLf(b: Buffer): Buffer {
  if (!b.includes(0x0d)) return b;
  const out = Buffer.allocUnsafe(b.length);
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x0d && b[i + 1] === 0x0a) continue;
    out[n++] = b[i]!;
  }
  return out.subarray(0, n);
}

/** Our window size, when stdout is a terminal. */
export function terminalSize(ctx: Pick<CtlContext, 'stdout'>): TerminalSize | undefined {
  const { rows, columns } = ctx.stdout;
  return ctx.stdout.isTTY && rows && columns ? { rows, cols: columns } : undefined;
}

/** `run -it`/`exec -it` with a stdin that is not a terminal: refused, as docker does. */
export function requireTerminalInput(ctx: Pick<CtlContext, 'stdin'>, interactive: boolean, tty: boolean): void {
  if (tty && interactive && !ctx.stdin.isTTY) throw errors.invalidArgument('the input device is not a TTY (drop -t, or run from a terminal)');
}

/**
 * Runs one session: `open` sends the request with the frame stream as its body and resolves
 * once the engine answered; `opened` (run's start) follows; then the output is copied until the
 * engine ends it, we are interrupted, or the detach keys are typed.
 */
export async function runTerminal(
  ctx: CtlContext,
  o: TerminalOptions,
  open: (input: Readable, signal: AbortSignal) => Promise<AsyncIterable<ExecFrame>>,
  opened?: () => Promise<void>,
): Promise<TerminalResult> {
  const ac = new AbortController();
  const onInterrupt = (): void => ac.abort();
  ctx.signal.addEventListener('abort', onInterrupt, { once: true });
  const input = new PassThrough();
  const send = (frame: Buffer): void => {
    if (!input.writableEnded) input.write(frame);
  };
  const size = terminalSize(ctx);
  if (size) send(encodeTerminalFrame({ type: 'resize', ...size }));
  const onResize = (): void => {
    const s = terminalSize(ctx);
    if (s) send(encodeTerminalFrame({ type: 'resize', ...s }));
  };
  let detached = false;
  const scanner = new DetachScanner(o.detachKeys);
  const onKeys = (chunk: Buffer | string): void => {
    const { forward, detach } = scanner.feed(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    if (forward.length > 0) send(encodeTerminalFrame({ type: 'input', data: forward }));
    if (detach) {
      detached = true;
      ac.abort();
    }
  };
  const raw = o.interactive && ctx.stdin.isTTY === true && typeof ctx.stdin.setRawMode === 'function';
  let result: TerminalResult = { detached: false };
  try {
    if (raw) ctx.stdin.setRawMode?.(true);
    ctx.stdout.on('resize', onResize);
    if (o.interactive) ctx.stdin.on('data', onKeys);
    const frames = await open(input, ac.signal);
    await opened?.();
    let exitCode: number | undefined;
    // Node's raw mode keeps our terminal's output processing (LF → CRLF): the container's
    // terminal already sent CRLF, so on a terminal its CRs would come out twice.
    const show = ctx.stdout.isTTY ? dropCrBeforeLf : (b: Buffer): Buffer => b;
    try {
      for await (const f of frames) {
        if (f.data !== undefined) ctx.stdout.write(show(Buffer.from(f.data, 'base64')));
        if (typeof f.exitCode === 'number') exitCode = f.exitCode;
      }
    } catch (err) {
      if (!ac.signal.aborted) throw err;
    }
    result = { ...(exitCode !== undefined ? { exitCode } : {}), detached };
  } finally {
    ac.abort();
    ctx.signal.removeEventListener('abort', onInterrupt);
    ctx.stdout.off('resize', onResize);
    ctx.stdin.off('data', onKeys);
    if (raw) ctx.stdin.setRawMode?.(false);
    input.end();
    // Our stdin would keep the process alive (a terminal never ends).
    if (o.interactive) ctx.stdin.destroy();
  }
  return result;
}
