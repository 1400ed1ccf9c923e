import { describe, expect, it } from 'vitest';
import { checkConsoleSize, consoleSizeOf, encodeTerminalFrame, TERMINAL_INPUT_MAX, TerminalFrameDecoder } from './terminal.js';
import { isShoalError } from './errors.js';
import { parseExecSpec } from './engine.js';

describe('terminal frames', () => {
  it('encodes type, big-endian length and payload, and decodes them back byte by byte', () => {
    const bytes = Buffer.concat([
      encodeTerminalFrame({ type: 'input', data: Buffer.from('ls\r') }),
      encodeTerminalFrame({ type: 'resize', rows: 300, cols: 80 }),
      encodeTerminalFrame({ type: 'input', data: Buffer.alloc(0) }),
    ]);
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0, 0, 0, 0, 3, 0x6c, 0x73, 0x0d]));
    expect(bytes.subarray(8, 17)).toEqual(Buffer.from([1, 0, 0, 0, 4, 1, 44, 0, 80]));
    const d = new TerminalFrameDecoder();
    const got = [...bytes].flatMap((b) => d.push(Buffer.from([b])));
    expect(got).toEqual([
      { type: 'input', data: Buffer.from('ls\r') },
      { type: 'resize', rows: 300, cols: 80 },
      { type: 'input', data: Buffer.alloc(0) },
    ]);
  });

  it('splits input longer than a frame may be', () => {
    const big = Buffer.alloc(TERMINAL_INPUT_MAX + 10, 0x61);
    const frames = new TerminalFrameDecoder().push(encodeTerminalFrame({ type: 'input', data: big }));
    expect(frames.map((f) => (f.type === 'input' ? f.data.length : -1))).toEqual([TERMINAL_INPUT_MAX, 10]);
  });

  it('refuses unknown types, bad lengths and (from clients) attach frames', () => {
    const bad = (b: Buffer, allowAttach = false) => () => new TerminalFrameDecoder({ allowAttach }).push(b);
    expect(bad(Buffer.from([7, 0, 0, 0, 0]))).toThrow(/unknown terminal frame type 7/);
    expect(bad(Buffer.from([1, 0, 0, 0, 3, 1, 2, 3]))).toThrow(/resize frame of 3 bytes/);
    expect(bad(Buffer.from([0, 0xff, 0, 0, 0]))).toThrow(/input frame of/);
    expect(bad(encodeTerminalFrame({ type: 'attach' }))).toThrow(/unknown terminal frame type 2/);
    expect(bad(encodeTerminalFrame({ type: 'attach' }), true)()).toEqual([{ type: 'attach' }]);
    try {
      bad(Buffer.from([9, 0, 0, 0, 0]))();
    } catch (err) {
      expect(isShoalError(err, 'InvalidArgument')).toBe(true);
    }
    expect(() => encodeTerminalFrame({ type: 'resize', rows: 70000, cols: 1 })).toThrow(/invalid terminal size/);
  });

  it('checks console sizes as [rows, cols]', () => {
    expect(checkConsoleSize([24, 80])).toBe(true);
    for (const v of [[24], [24, 80, 1], [-1, 80], [24, 65536], ['24', 80], [1.5, 2], null, {}]) expect(checkConsoleSize(v)).toBe(false);
    expect(consoleSizeOf([24, 80])).toEqual({ rows: 24, cols: 80 });
    expect(consoleSizeOf([0, 0])).toBeUndefined();
    expect(consoleSizeOf(undefined)).toBeUndefined();
  });

  it('exec specs take tty and consoleSize', () => {
    expect(parseExecSpec({ cmd: ['sh'], tty: true, consoleSize: [24, 80] })).toEqual({ cmd: ['sh'], tty: true, consoleSize: [24, 80] });
    expect(() => parseExecSpec({ cmd: ['sh'], tty: 1, consoleSize: [24, -1] })).toThrow(/tty: must be true or false; consoleSize: must be \[rows, cols\]/);
  });
});
