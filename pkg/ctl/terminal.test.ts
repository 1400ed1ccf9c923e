import { PassThrough, type Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TerminalFrameDecoder, type ExecFrame, type TerminalFrame } from '../api/index.js';
import type { CtlContext } from './context.js';
import { captureStream } from './test-helpers.js';
import { DetachScanner, dropCrBeforeLf, parseDetachKeys, requireTerminalInput, runTerminal } from './terminal.js';

describe('detach keys', () => {
  it("parses docker's --detach-keys", () => {
    expect(parseDetachKeys(undefined)).toEqual(Buffer.from([0x10, 0x11]));
    expect(parseDetachKeys('')).toEqual(Buffer.from([0x10, 0x11]));
    expect(parseDetachKeys('ctrl-a,x')).toEqual(Buffer.from([1, 0x78]));
    expect(parseDetachKeys('ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_')).toEqual(Buffer.from([0, 27, 28, 29, 30, 31]));
    expect(parseDetachKeys('Ctrl-Z')).toEqual(Buffer.from([26]));
    for (const bad of ['ctrl-1', 'ab', 'ctrl-', 'é']) expect(() => parseDetachKeys(bad)).toThrow(/invalid detach key/);
  });

  it('holds back a prefix of the sequence, drops the whole sequence, and lets the rest through', () => {
    const s = new DetachScanner(parseDetachKeys(undefined));
    expect(s.feed(Buffer.from('ls\r'))).toEqual({ forward: Buffer.from('ls\r'), detach: false });
    expect(s.feed(Buffer.from([0x10]))).toEqual({ forward: Buffer.alloc(0), detach: false });
    // ^P then something else: both go after all.
    expect(s.feed(Buffer.from('a'))).toEqual({ forward: Buffer.from([0x10, 0x61]), detach: false });
    // ^P ^P ^Q: the first ^P goes, the second starts the sequence again.
    expect(s.feed(Buffer.from([0x10, 0x10]))).toEqual({ forward: Buffer.from([0x10]), detach: false });
    expect(s.feed(Buffer.from([0x11, 0x78]))).toEqual({ forward: Buffer.alloc(0), detach: true });
    expect(new DetachScanner(parseDetachKeys(undefined)).feed(Buffer.from([0x61, 0x10, 0x11]))).toEqual({ forward: Buffer.from('a'), detach: true });
  });
});

it('CR LF becomes LF for a terminal that adds the CR itself', () => {
  expect(dropCrBeforeLf(Buffer.from('a\r\nb\rc\r\r\n'))).toEqual(Buffer.from('a\nb\rc\r\n'));
  const plain = Buffer.from('no cr\n');
  expect(dropCrBeforeLf(plain)).toBe(plain);
});

describe('a terminal session', () => {
  interface FakeTty extends PassThrough {
    isTTY: boolean;
    modes: boolean[];
    setRawMode(mode: boolean): void;
  }
  function fakeCtx(): { ctx: CtlContext; stdin: FakeTty; stdout: ReturnType<typeof captureStream> } {
    const stdin = new PassThrough() as FakeTty;
    stdin.isTTY = true;
    stdin.modes = [];
    stdin.setRawMode = (m) => void stdin.modes.push(m);
    const stdout = captureStream(true);
    stdout.rows = 24;
    stdout.columns = 80;
    const ctx: CtlContext = { env: {}, stdout, stderr: captureStream(), stdin, home: '/', cwd: '/', signal: new AbortController().signal, setExitCode: () => undefined };
    return { ctx, stdin, stdout };
  }
  function sentFrames(input: Readable): TerminalFrame[] {
    const d = new TerminalFrameDecoder();
    const frames: TerminalFrame[] = [];
    input.on('data', (c: Buffer) => frames.push(...d.push(c)));
    return frames;
  }

  it('goes raw, sends keys and sizes, prints the output, and restores the terminal with the exit code', async () => {
    const { ctx, stdin, stdout } = fakeCtx();
    let frames: TerminalFrame[] = [];
    const out = new PassThrough({ objectMode: true });
    let started = false;
    const res = runTerminal(
      ctx,
      { interactive: true, detachKeys: parseDetachKeys(undefined) },
      (input) => {
        frames = sentFrames(input);
        return Promise.resolve(out as AsyncIterable<ExecFrame>);
      },
      () => {
        started = true;
        return Promise.resolve();
      },
    );
    await new Promise((r) => setImmediate(r));
    expect(stdin.modes).toEqual([true]);
    expect(started).toBe(true);
    stdin.write('ls\r');
    stdout.rows = 40;
    stdout.emit('resize');
    out.write({ stream: 'stdout', data: Buffer.from('bin\r\n').toString('base64') });
    out.end({ exitCode: 3 });
    expect(await res).toEqual({ exitCode: 3, detached: false });
    expect(stdin.modes).toEqual([true, false]);
    expect(stdout.text()).toBe('bin\n');
    expect(frames).toEqual([
      { type: 'resize', rows: 24, cols: 80 },
      { type: 'input', data: Buffer.from('ls\r') },
      { type: 'resize', rows: 40, cols: 80 },
    ]);
  });

  it('detaches on Ctrl-P Ctrl-Q: the request ends, no exit code, the terminal is restored', async () => {
    const { ctx, stdin } = fakeCtx();
    let signal: AbortSignal | undefined;
    const res = runTerminal(ctx, { interactive: true, detachKeys: parseDetachKeys(undefined) }, (_input, s) => {
      signal = s;
      async function* frames(): AsyncGenerator<ExecFrame> {
        yield { stream: 'stdout', data: '' };
        await new Promise((_, reject) => s.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
      }
      return Promise.resolve(frames());
    });
    await new Promise((r) => setImmediate(r));
    stdin.write(Buffer.from([0x10, 0x11]));
    expect(await res).toEqual({ detached: true });
    expect(signal?.aborted).toBe(true);
    expect(stdin.modes).toEqual([true, false]);
  });

  it('restores the terminal when opening fails', async () => {
    const { ctx, stdin } = fakeCtx();
    await expect(runTerminal(ctx, { interactive: true, detachKeys: parseDetachKeys(undefined) }, () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    expect(stdin.modes).toEqual([true, false]);
  });

  it('refuses -it without a terminal, as docker does', () => {
    const { ctx, stdin } = fakeCtx();
    stdin.isTTY = false;
    expect(() => requireTerminalInput(ctx, true, true)).toThrow(/not a TTY/);
    expect(() => requireTerminalInput(ctx, false, true)).not.toThrow();
    expect(() => requireTerminalInput(ctx, true, false)).not.toThrow();
  });
});
