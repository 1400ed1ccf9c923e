/**
 * The input stream of a terminal session (docs/containers.md, "Terminals"): what a client sends
 * as the body of a tty attach or exec, and what the agent sends the container's monitor on its
 * attach socket. One format for both, so the controller's tunnel relays it as bytes:
 *
 *   frame = type (1 byte) · payload length (u32, big-endian) · payload
 *   0 input   bytes for the terminal (keys; ^C, ^D and the rest are the pty's business)
 *   1 resize  u16 rows · u16 cols (big-endian): the window size, TIOCSWINSZ
 *   2 attach  (empty; monitor socket only) subscribes the connection to the output
 *
 * Pure: encoding, an incremental decoder, and the checks of a console size.
 */
import { errors } from './errors.js';

export interface TerminalSize {
  rows: number;
  cols: number;
}

export type TerminalFrame = { type: 'input'; data: Buffer } | ({ type: 'resize' } & TerminalSize) | { type: 'attach' };

const TYPE_CODES = { input: 0, resize: 1, attach: 2 } as const;
const HEADER = 5;
/** The largest input frame either end accepts (the C side has the same limit). */
export const TERMINAL_INPUT_MAX = 1 << 20;

function isSizeValue(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffff;
}

export function encodeTerminalFrame(f: TerminalFrame): Buffer {
  const payload =
    f.type === 'input' ? f.data : f.type === 'resize' ? Buffer.from([f.rows >> 8, f.rows & 0xff, f.cols >> 8, f.cols & 0xff]) : Buffer.alloc(0);
  if (f.type === 'resize' && (!isSizeValue(f.rows) || !isSizeValue(f.cols))) throw errors.invalidArgument(`invalid terminal size ${f.rows}x${f.cols}`);
  if (payload.length > TERMINAL_INPUT_MAX) {
    // Long input (a paste) travels as several frames.
    const parts: Buffer[] = [];
    for (let i = 0; i < payload.length; i += TERMINAL_INPUT_MAX) parts.push(encodeTerminalFrame({ type: 'input', data: payload.subarray(i, i + TERMINAL_INPUT_MAX) }));
    return Buffer.concat(parts);
  }
  const head = Buffer.alloc(HEADER);
  head[0] = TYPE_CODES[f.type];
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/**
 * Turns chunks of a frame stream into frames. Throws InvalidArgument on an unknown type or a
 * wrong length (the caller ends the stream); `attach` frames are refused unless allowed.
 */
export class TerminalFrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly opts: { allowAttach?: boolean } = {}) {}

  push(chunk: Buffer): TerminalFrame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: TerminalFrame[] = [];
    while (this.buf.length >= HEADER) {
      const type = this.buf[0];
      const len = this.buf.readUInt32BE(1);
      if (type === TYPE_CODES.input) {
        if (len > TERMINAL_INPUT_MAX) throw errors.invalidArgument(`terminal input frame of ${len} bytes (at most ${TERMINAL_INPUT_MAX})`);
      } else if (type === TYPE_CODES.resize) {
        if (len !== 4) throw errors.invalidArgument(`terminal resize frame of ${len} bytes (want 4)`);
      } else if (type === TYPE_CODES.attach && this.opts.allowAttach) {
        if (len !== 0) throw errors.invalidArgument(`terminal attach frame of ${len} bytes (want 0)`);
      } else {
        throw errors.invalidArgument(`unknown terminal frame type ${type ?? '?'}`);
      }
      if (this.buf.length < HEADER + len) break;
      const payload = this.buf.subarray(HEADER, HEADER + len);
      this.buf = this.buf.subarray(HEADER + len);
      if (type === TYPE_CODES.input) out.push({ type: 'input', data: Buffer.from(payload) });
      else if (type === TYPE_CODES.resize) out.push({ type: 'resize', rows: payload.readUInt16BE(0), cols: payload.readUInt16BE(2) });
      else out.push({ type: 'attach' });
    }
    return out;
  }
}

/** Docker's ConsoleSize, `[rows, cols]` (each 0..65535), or a field problem. */
export function checkConsoleSize(v: unknown): v is [number, number] {
  return Array.isArray(v) && v.length === 2 && isSizeValue(v[0]) && isSizeValue(v[1]);
}

/** `[rows, cols]` → a size; undefined for [0, 0] or when absent (the kernel's 0x0 stays). */
export function consoleSizeOf(v: readonly [number, number] | undefined): TerminalSize | undefined {
  if (!v || (v[0] === 0 && v[1] === 0)) return undefined;
  return { rows: v[0], cols: v[1] };
}
